//! `useradmin reset-2fa EMAIL`: the way back in for an operator who lost their
//! authenticator and recovery codes (and has no other admin to ask).

use std::process::ExitCode;

use crate::{config::Settings, db, write::Actor};

pub async fn reset(settings: Settings, email: &str) -> anyhow::Result<ExitCode> {
    let (pool, writer) = super::writer(&settings).await?;
    let email = email.trim();
    let Some(user) = db::users::find_by_email(&pool, email).await? else {
        eprintln!("useradmin: no user has the email {email}; nothing was changed");
        return Ok(ExitCode::FAILURE);
    };
    if writer.reset_two_factor(&Actor::cli_user(), user.id).await? {
        println!(
            "two-factor login of {} is reset: the password alone logs in (or starts a new enrolment when REQUIRE_2FA=true)",
            user.email
        );
    } else {
        println!(
            "{} had no two-factor login; nothing was changed",
            user.email
        );
    }
    Ok(ExitCode::SUCCESS)
}
