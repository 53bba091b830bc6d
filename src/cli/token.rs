//! `useradmin token create|list|revoke`.

use std::process::ExitCode;

use super::TokenCommand;
use crate::{auth::tokens, config::Settings, db, http::views::TokenView};

pub async fn run(settings: Settings, command: TokenCommand) -> anyhow::Result<ExitCode> {
    let pool = super::database(&settings).await?;
    match command {
        TokenCommand::Create { name, owner } => {
            let label = name.trim();
            if label.is_empty() || label.chars().count() > 100 {
                anyhow::bail!("--name must be 1 to 100 characters");
            }
            let owner = match owner {
                Some(email) => db::users::find_by_email(&pool, &email)
                    .await?
                    .filter(|user| user.is_admin)
                    .ok_or_else(|| anyhow::anyhow!("no admin with email {email}"))?,
                None => db::users::first_admin(&pool).await?.ok_or_else(|| {
                    anyhow::anyhow!("no admin exists yet: run `useradmin create-admin` first")
                })?,
            };
            let token = tokens::generate();
            db::tokens::insert(&pool, label, &tokens::hash(&token), owner.id).await?;
            println!("{token}");
        }
        TokenCommand::List => {
            let views: Vec<TokenView> = db::tokens::list(&pool)
                .await?
                .into_iter()
                .map(TokenView::from)
                .collect();
            println!("{}", serde_json::to_string_pretty(&views)?);
        }
        TokenCommand::Revoke { id } => {
            if !db::tokens::revoke(&pool, id).await? {
                eprintln!("useradmin: no token with id {id}");
                return Ok(ExitCode::FAILURE);
            }
            super::invalidate_user_cache(&settings).await;
            println!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}
