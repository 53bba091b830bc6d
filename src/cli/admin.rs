//! `useradmin create-admin`: the way back in when the admin password is lost.

use std::{
    io::{BufRead, IsTerminal, Write},
    process::ExitCode,
};

use secrecy::ExposeSecret;

use crate::{
    auth::PasswordHasher,
    config::Settings,
    db,
    domain::{Password, UserEmail, UserName},
};

pub async fn create(settings: Settings, email: &str, name: &str) -> anyhow::Result<ExitCode> {
    let email = UserEmail::parse(email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
    let name = UserName::parse(name).map_err(|e| anyhow::anyhow!("--name {e}"))?;
    let raw = match &settings.admin.password {
        Some(password) => password.expose_secret().to_owned(),
        None => read_password()?,
    };
    let password = Password::parse(&raw).map_err(|e| anyhow::anyhow!("the password {e}"))?;
    let pool = super::database(&settings).await?;
    let hash = PasswordHasher::default().hash(&password).await?;
    let created = db::users::upsert_admin(&pool, name.as_str(), email.as_str(), &hash).await?;
    super::invalidate_user_cache(&settings).await;
    if created {
        println!("created admin {email}");
    } else {
        println!("{email} is now an admin with the new password");
    }
    Ok(ExitCode::SUCCESS)
}

fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password for the admin (8 to 128 characters): ");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!("no password: set ADMIN_PASSWORD or write it on standard input");
    }
    Ok(password)
}
