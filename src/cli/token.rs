//! `useradmin token create|list|revoke`.

use std::process::ExitCode;

use super::TokenCommand;
use crate::views::TokenView;
use crate::{
    config::Settings,
    db,
    domain::{TokenLabel, token_grant},
    write::{Actor, TokenGrant, WriteError},
};

pub async fn run(settings: Settings, command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create {
            name,
            owner,
            scopes,
            expires_in_days,
        } => {
            let label = TokenLabel::parse(&name).map_err(|e| anyhow::anyhow!("--name {e}"))?;
            let (pool, writer) = super::writer(&settings).await?;
            let owner = match owner {
                Some(email) => db::users::find_by_email(&pool, &email)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no user with email {email}"))?,
                None => db::users::first_admin(&pool).await?.ok_or_else(|| {
                    anyhow::anyhow!("no admin exists yet: run `useradmin create-admin` first")
                })?,
            };
            // Scopes default to, and may not exceed, what the owner holds now
            // (checked again inside the write).
            let holds = owner.permission_set();
            if holds.is_empty() {
                anyhow::bail!("{} holds no permission: grant a role first", owner.email);
            }
            let grant = TokenGrant {
                scopes: token_grant::scopes(scopes.as_deref(), holds)
                    .map_err(|e| anyhow::anyhow!("--scopes {e}"))?,
                lifetime_days: token_grant::lifetime_days(expires_in_days, settings.token_max_days)
                    .map_err(|e| anyhow::anyhow!("--expires-in-days {e}"))?,
            };
            if let Some(missing) = token_grant::exceeds(grant.scopes, holds) {
                anyhow::bail!("--scopes: {} does not hold {missing}", owner.email);
            }
            let created = writer
                .create_scoped_token(&Actor::cli_user(), &label, owner.id, &grant)
                .await?;
            println!("{}", created.token);
        }
        TokenCommand::List => {
            let pool = super::database(&settings).await?;
            let views: Vec<TokenView> = db::tokens::list(&pool)
                .await?
                .into_iter()
                .map(TokenView::from)
                .collect();
            println!("{}", serde_json::to_string_pretty(&views)?);
        }
        TokenCommand::Revoke { id } => {
            let (_, writer) = super::writer(&settings).await?;
            match writer.revoke_token(&Actor::cli_user(), id).await {
                Ok(_) => println!("token {id} revoked"),
                Err(WriteError::NotFound) => {
                    eprintln!("useradmin: no token with id {id}");
                    return Ok(ExitCode::FAILURE);
                }
                Err(other) => return Err(other.into()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
