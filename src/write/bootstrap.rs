//! The first admin: without one nobody could log in or create a token, so start-up
//! creates it when no admin exists, from `ADMIN_EMAIL` / `ADMIN_NAME` /
//! `ADMIN_PASSWORD` (a random password, logged once, when none is given).

use anyhow::Context;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::ExposeSecret;

use crate::{
    config::AdminBootstrap,
    domain::{Password, UserEmail, UserName},
    write::Writer,
};

/// Creates the first admin unless an admin exists; true when it did.
pub async fn ensure_first_admin(writer: &Writer, admin: &AdminBootstrap) -> anyhow::Result<bool> {
    let email = UserEmail::parse(&admin.email)
        .map_err(|e| anyhow::anyhow!("invalid setting ADMIN_EMAIL: {e}"))?;
    let name = UserName::parse(&admin.name)
        .map_err(|e| anyhow::anyhow!("invalid setting ADMIN_NAME: {e}"))?;
    let (password, generated) = match &admin.password {
        Some(given) => (
            Password::parse(given.expose_secret())
                .map_err(|e| anyhow::anyhow!("invalid setting ADMIN_PASSWORD: {e}"))?,
            false,
        ),
        None => (generate_password(), true),
    };
    let created = writer
        .create_first_admin(&name, &email, &password)
        .await
        .context("creating the first admin")?;
    if !created {
        return Ok(false);
    }
    if generated {
        tracing::warn!(
            "\n\n==================== FIRST ADMIN CREATED ====================\n  \
             email:    {email}\n  password: {}\n\n  \
             This password is shown only once. Log in at /login and change it at\n  \
             /account/password, or set ADMIN_PASSWORD before the first start.\n\
             =============================================================\n",
            password.expose()
        );
    } else {
        tracing::info!(%email, "first admin created from ADMIN_EMAIL and ADMIN_PASSWORD");
    }
    Ok(true)
}

/// A random password of 24 URL-safe characters (144 bits).
pub fn generate_password() -> Password {
    let bytes: [u8; 18] = rand::random();
    Password::parse(&URL_SAFE_NO_PAD.encode(bytes)).expect("24 characters is a valid length")
}
