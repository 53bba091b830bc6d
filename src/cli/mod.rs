//! The command line (SPEC §2): serve, migrate, create-admin, token, healthcheck.

mod admin;
mod healthcheck;
mod seed;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fred::prelude::ClientLike;

use crate::{
    config::Settings,
    startup::{Application, shutdown_signal},
    telemetry,
};

/// Manage users: HTML admin pages and a JSON API, on PostgreSQL and Redis.
///
/// Configuration comes from environment variables only; see README.md.
#[derive(Debug, Parser)]
#[command(name = "useradmin", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Create an admin, or promote an existing user; the password comes from
    /// ADMIN_PASSWORD or standard input.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
    },
    /// Manage API tokens for scripts.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// GET /health of a running instance; exit 0 only on 200.
    Healthcheck {
        /// Default: http://127.0.0.1:$PORT/health
        #[arg(long)]
        url: Option<String>,
    },
    /// Fill the database with COUNT demo users (set-based SQL, for demos and
    /// benchmarks); refuses when users other than admins exist, unless --force.
    SeedDemo {
        #[arg(long)]
        count: u64,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print only the token on standard output.
    Create {
        /// What the token is for, e.g. "nightly sync".
        #[arg(long)]
        name: String,
        /// Email of the admin who owns it (default: the first admin).
        #[arg(long)]
        owner: Option<String>,
    },
    /// List tokens as JSON (id, label, created, last used, revoked).
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

/// Runs one command to completion.
pub async fn run(cli: Cli) -> ExitCode {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Healthcheck { url } = command {
        return healthcheck::run(url).await;
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("useradmin: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format);
    let result = match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::CreateAdmin { email, name } => admin::create(settings, &email, &name).await,
        Command::Token { command } => token::run(settings, command).await,
        Command::SeedDemo { count, force } => seed::run(settings, count, force).await,
        Command::Healthcheck { .. } => unreachable!("handled above"),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Printed here only, once: not logged as well.
            eprintln!("useradmin: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, like `{e:#}`, but without a cause that
/// the text before it already says (sqlx's messages include their source).
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

async fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    let app = Application::build(settings).await?;
    app.run_until(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn migrate(settings: Settings) -> anyhow::Result<ExitCode> {
    crate::db::prepare(&settings).await?;
    tracing::info!("migrations applied");
    Ok(ExitCode::SUCCESS)
}

/// For commands that talk to the database only: migrate, then a small pool.
async fn database(settings: &Settings) -> anyhow::Result<sqlx::PgPool> {
    crate::db::prepare(settings).await?;
    Ok(crate::db::pool(settings)?)
}

/// Tells running instances that users changed outside them, so no cached list
/// shows the old data. Best effort: without Redis, cached pages expire within
/// `CACHE_TTL_SECONDS`.
async fn invalidate_user_cache(settings: &Settings) {
    let Ok(redis) = crate::redis::connect(settings) else {
        return;
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), redis.wait_for_connect()).await;
    let cache =
        crate::cache::UserListCache::new(redis, &settings.redis_key_prefix, settings.cache_ttl);
    cache.invalidate().await;
    if cache.is_bypassed() {
        tracing::warn!(
            "could not reach Redis to refresh cached user lists; they expire within {} s",
            settings.cache_ttl.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Like sqlx's errors: the message includes the source's.
    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error communicating with database: {}", self.0)
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let refused = || std::io::Error::other("Connection refused (os error 111)");
        let error = anyhow::Error::new(refused()).context("cannot migrate");
        assert_eq!(
            error_chain(&error),
            "cannot migrate: Connection refused (os error 111)"
        );
        let error = anyhow::Error::new(Wrapped(refused()));
        assert_eq!(
            error_chain(&error),
            "error communicating with database: Connection refused (os error 111)"
        );
    }
}
