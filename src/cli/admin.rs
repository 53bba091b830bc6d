//! `useradmin create-admin`: the way back in when the admin password is lost.

use std::{
    io::{BufRead, IsTerminal},
    process::ExitCode,
};

use secrecy::ExposeSecret;

use crate::{
    config::Settings,
    domain::{Password, UserEmail, UserName},
    write::Actor,
};

pub async fn create(settings: Settings, email: &str, name: &str) -> anyhow::Result<ExitCode> {
    let email = UserEmail::parse(email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
    let name = UserName::parse(name).map_err(|e| anyhow::anyhow!("--name {e}"))?;
    let raw = match &settings.admin.password {
        Some(password) => password.expose_secret().to_owned(),
        None => read_password()?,
    };
    let password = Password::parse(&raw).map_err(|e| anyhow::anyhow!("the password {e}"))?;
    let (_, writer) = super::writer(&settings).await?;
    let created = writer
        .make_admin(&Actor::cli_user(), &name, &email, &password)
        .await?;
    if created {
        println!("created admin {email}");
    } else {
        println!("{email} is now an admin with the new password");
    }
    Ok(ExitCode::SUCCESS)
}

/// The password from standard input: typed twice without echo on a terminal, one
/// line otherwise (scripts pipe it).
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password for the admin (8 to 128 characters): ")?;
        let second = rpassword::prompt_password("The same password again: ")?;
        confirmed(first, &second)?
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        anyhow::bail!("no password: set ADMIN_PASSWORD or write it on standard input");
    }
    Ok(password)
}

/// The password typed first, when the second typing matches it.
fn confirmed(first: String, second: &str) -> anyhow::Result<String> {
    if first != second {
        anyhow::bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_typings_must_match() {
        assert_eq!(
            confirmed("a password".into(), "a password").unwrap(),
            "a password"
        );
        let error = confirmed("a password".into(), "a passwort").unwrap_err();
        assert!(error.to_string().contains("differ"), "{error}");
    }
}
