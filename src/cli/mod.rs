//! The command line: serve, migrate, create-admin, reset-2fa, token, role,
//! grant, revoke, healthcheck, seed-demo, export and import.

mod admin;
mod export;
mod healthcheck;
mod import;
mod role;
mod seed;
mod token;
mod two_factor;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fred::prelude::ClientLike;

use crate::{
    auth::PasswordHasher,
    cache::Generation,
    config::Settings,
    startup::{Application, shutdown_signal},
    telemetry,
    write::Writer,
};

/// Manage users: HTML admin pages and a JSON API, on PostgreSQL and Redis.
///
/// Every command reads its settings from environment variables only (`--help`
/// lists them). Every command but healthcheck uses the database: run it with
/// the same DATABASE_URL / POSTGRES_* and REDIS_URL / REDIS_* as the server, or
/// it works on another database. Without a command, `serve`.
#[derive(Debug, Parser)]
#[command(
    name = "useradmin",
    version,
    about,
    after_help = "Settings are environment variables: `useradmin --help` lists them.",
    after_long_help = environment_help(),
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Shown under the commands that read the database, so nobody runs them against
/// another one by accident.
const SAME_SETTINGS: &str = "Uses the same settings as the server (DATABASE_URL or POSTGRES_*, \
     REDIS_URL or REDIS_*): run it with the server's environment. `useradmin --help` lists every \
     variable.";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, create the first admin if none exists, then serve
    /// HTTP on BIND:PORT (the default command).
    #[command(after_help = SAME_SETTINGS)]
    Serve,
    /// Apply pending migrations and exit.
    #[command(after_help = SAME_SETTINGS)]
    Migrate,
    /// Create an admin, or promote an existing user; the password comes from
    /// ADMIN_PASSWORD or standard input.
    #[command(after_help = SAME_SETTINGS)]
    CreateAdmin {
        /// The admin's email; an existing user with it (any case) is promoted and
        /// gets the new password.
        #[arg(long)]
        email: String,
        /// The admin's display name (a new user only).
        #[arg(long)]
        name: String,
    },
    /// Turn off an admin's two-factor login (for an operator locked out of it);
    /// exits 1 when no user has the email.
    #[command(name = "reset-2fa", after_help = SAME_SETTINGS)]
    Reset2fa {
        /// The admin's email (any case).
        email: String,
    },
    /// Manage API tokens for scripts.
    #[command(after_help = SAME_SETTINGS)]
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// List the roles.
    #[command(after_help = SAME_SETTINGS)]
    Role {
        #[command(subcommand)]
        command: role::RoleCommand,
    },
    /// Grant a role to a user (directly); exits 1 when the email or the role
    /// is unknown.
    #[command(after_help = SAME_SETTINGS)]
    Grant {
        /// The user's email (any case).
        email: String,
        /// The role's name (any case), as `role list` shows it.
        role: String,
    },
    /// Take a directly granted role from a user; exits 1 when the email or
    /// the role is unknown, or when no admin would be left.
    #[command(after_help = SAME_SETTINGS)]
    Revoke {
        /// The user's email (any case).
        email: String,
        /// The role's name (any case), as `role list` shows it.
        role: String,
    },
    /// GET /health of a running instance; exit 0 only on 200.
    Healthcheck {
        /// The URL to check [default: http://127.0.0.1:$PORT/health].
        #[arg(long)]
        url: Option<String>,
    },
    /// Fill the database with COUNT demo users (set-based SQL, for demos and
    /// benchmarks); refuses when users other than admins exist, unless --force.
    #[command(after_help = SAME_SETTINGS)]
    SeedDemo {
        /// How many demo users to add.
        #[arg(long)]
        count: u64,
        /// Add them even when the database holds users other than admins.
        #[arg(long)]
        force: bool,
    },
    /// Write every user that matches the filters to standard output, as CSV
    /// (with a header row, formula-safe) or NDJSON, from one snapshot.
    #[command(after_help = SAME_SETTINGS)]
    Export {
        /// csv or ndjson.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Only users whose name or email contains this (any case).
        #[arg(long)]
        q: Option<String>,
        /// active or disabled.
        #[arg(long)]
        status: Option<String>,
        /// true (admins only) or false.
        #[arg(long)]
        is_admin: Option<String>,
        /// id, name, email or created_at; - first for descending (--sort -name).
        #[arg(long, allow_hyphen_values = true)]
        sort: Option<String>,
    },
    /// Import users from a CSV, NDJSON or JSON-array file (any size), matched
    /// by email: all rows or none. Prints the report as JSON; exits 1 when rows
    /// are invalid.
    #[command(after_help = SAME_SETTINGS)]
    Import {
        /// The file; its format comes from its extension (.csv, .ndjson,
        /// .jsonl, .json), else from its first character.
        file: std::path::PathBuf,
        /// Show the plan and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print only the token on standard output.
    #[command(after_help = SAME_SETTINGS)]
    Create {
        /// What the token is for, e.g. "nightly sync".
        #[arg(long)]
        name: String,
        /// Email of the admin who owns it (default: the first admin).
        #[arg(long = "user", alias = "owner", value_name = "EMAIL")]
        owner: Option<String>,
        /// The permissions it may use, comma-separated, e.g.
        /// `scim.provision` or `users.read,audit.read` (default: all of its
        /// owner's).
        #[arg(long, value_name = "A,B", value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        /// Days until it expires (default and ceiling: TOKEN_MAX_DAYS; 0 means
        /// never, only when TOKEN_MAX_DAYS=0).
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        expires_in_days: Option<i64>,
    },
    /// List tokens as JSON (id, label, created, last used, revoked).
    #[command(after_help = SAME_SETTINGS)]
    List,
    /// Revoke a token by id.
    #[command(after_help = SAME_SETTINGS)]
    Revoke {
        /// The token's id, as `token list` shows it.
        id: i64,
    },
}

/// One environment variable the service reads.
#[derive(Debug)]
pub struct Variable {
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

/// Every environment variable the service reads, as `useradmin --help` lists them
/// (a test checks this list against what [`Settings::from_lookup`] reads).
pub const VARIABLES: &[Variable] = &[
    var(
        "DATABASE_URL",
        "built from POSTGRES_*",
        "PostgreSQL URL; wins over POSTGRES_*",
    ),
    var("POSTGRES_USER", "postgres", "PostgreSQL user"),
    var("POSTGRES_PASSWORD", "none", "PostgreSQL password"),
    var("POSTGRES_HOST", "127.0.0.1", "PostgreSQL host"),
    var("POSTGRES_PORT", "5432", "PostgreSQL port"),
    var("POSTGRES_DB", "useradmin", "database, created when missing"),
    var(
        "DATABASE_MAX_CONNECTIONS",
        "16",
        "size of the connection pool",
    ),
    var(
        "MAX_CONNECTIONS",
        "file limit - 64 - DATABASE_MAX_CONNECTIONS, at least 16",
        "client connections open at once",
    ),
    var(
        "REDIS_URL",
        "built from REDIS_HOST/REDIS_PORT",
        "redis://, rediss://, redis-sentinel:// or redis-cluster:// URL",
    ),
    var("REDIS_HOST", "127.0.0.1", "Redis host"),
    var("REDIS_PORT", "6379", "Redis port"),
    var(
        "REDIS_KEY_PREFIX",
        "useradmin:",
        "prefix of every Redis key, sessions included",
    ),
    var(
        "SECRET_KEY",
        "generated once, kept in the database",
        "signs the login form's CSRF cookie; 32 characters or more",
    ),
    var(
        "CACHE_TTL_SECONDS",
        "300",
        "lifetime of a cached user-list page",
    ),
    var(
        "LOCAL_CACHE_MAX_BYTES",
        "8388608 (8 MiB)",
        "user-list pages kept in each instance's memory; 0 keeps none",
    ),
    var(
        "BIND",
        "0.0.0.0",
        "address to listen on (0.0.0.0: every interface)",
    ),
    var("PORT", "5000", "port to listen on"),
    var(
        "METRICS_BIND",
        "unset: no metrics listener",
        "address:port of the /metrics listener (e.g. 0.0.0.0:9100)",
    ),
    var(
        "ADMIN_EMAIL",
        "admin@example.com",
        "the first admin, made when no admin exists",
    ),
    var("ADMIN_NAME", "Administrator", "the first admin's name"),
    var(
        "ADMIN_PASSWORD",
        "random, printed once in the log",
        "the first admin's password; create-admin's too",
    ),
    var(
        "COOKIE_SECURE",
        "true",
        "Secure cookies (https, or http://localhost)",
    ),
    var(
        "SESSION_IDLE_MINUTES",
        "30",
        "a session ends after this long unused",
    ),
    var(
        "SESSION_MAX_HOURS",
        "12",
        "a session ends this long after login",
    ),
    var(
        "TRUSTED_PROXY",
        "none",
        "the forwarding header (x-forwarded-for or x-real-ip) a proxy you trust sets",
    ),
    var(
        "USER_RESTORE_DAYS",
        "30",
        "a deleted user can be restored this long, then it is purged",
    ),
    var(
        "TOKEN_MAX_DAYS",
        "365",
        "the longest lifetime of a new API token, and its default; 0: no ceiling, no expiry unless asked",
    ),
    var(
        "AUDIT_RETENTION_DAYS",
        "365",
        "audit events older than this are purged; 0 keeps everything",
    ),
    var(
        "IMPORT_MAX_BYTES",
        "16777216 (16 MiB)",
        "the largest file POST /users/import takes (the command line has no limit)",
    ),
    var(
        "WEBHOOK_ALLOW_PRIVATE",
        "false",
        "let webhooks reach loopback, private, link-local and metadata addresses",
    ),
    var(
        "REQUIRE_2FA",
        "false",
        "admins must log in with a second factor (TOTP); one without enrols right after the password",
    ),
    var(
        "PUBLIC_URL",
        "none: links are relative",
        "the address clients reach the service at (https://admin.example.com), for SCIM's meta.location",
    ),
    var("LOG_FORMAT", "pretty", "pretty or json"),
    var("RUST_LOG", telemetry::DEFAULT_FILTER, "log filter"),
];

const fn var(name: &'static str, default: &'static str, meaning: &'static str) -> Variable {
    Variable {
        name,
        default,
        meaning,
    }
}

/// The list under `useradmin --help`.
fn environment_help() -> String {
    let width = VARIABLES.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut text = String::from(
        "Environment variables (empty counts as unset; a malformed value stops the command \
         with one line naming it):\n",
    );
    for v in VARIABLES {
        text.push_str(&format!(
            "  {:width$}  {} [default: {}]\n",
            v.name, v.meaning, v.default
        ));
    }
    text.push_str(
        "\nThe log goes to standard error, coloured only on a terminal and unless NO_COLOR \
         is set. README.md has the details.",
    );
    text
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
    let filter = match telemetry::filter_from_env() {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("useradmin: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_with(settings.log_format, filter);
    let result = match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => migrate(settings).await,
        Command::CreateAdmin { email, name } => admin::create(settings, &email, &name).await,
        Command::Token { command } => token::run(settings, command).await,
        Command::Role { command } => role::run(settings, command).await,
        Command::Grant { email, role } => role::change(settings, &email, &role, true).await,
        Command::Revoke { email, role } => role::change(settings, &email, &role, false).await,
        Command::Reset2fa { email } => two_factor::reset(settings, &email).await,
        Command::SeedDemo { count, force } => seed::run(settings, count, force).await,
        Command::Export {
            format,
            q,
            status,
            is_admin,
            sort,
        } => {
            let raw = crate::domain::RawListQuery {
                q,
                status,
                is_admin,
                sort,
                ..Default::default()
            };
            export::run(settings, &format, raw).await
        }
        Command::Import { file, dry_run } => import::run(settings, &file, dry_run).await,
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
/// the text before it already says (sqlx's messages include their source), and
/// each in plain words: "connection refused", not "error communicating with
/// database: Connection refused (os error 111)"; PostgreSQL's message without
/// the line of PostgreSQL's own source that raised it.
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        // PostgreSQL's message is the whole story; its source only repeats it.
        let last = matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::Database(_))
        );
        let cause = plain_cause(cause);
        if !text.to_lowercase().contains(&cause.to_lowercase()) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
        if last {
            break;
        }
    }
    text
}

fn plain_cause(cause: &(dyn std::error::Error + 'static)) -> String {
    if let Some(error) = cause.downcast_ref::<sqlx::Error>() {
        return match error {
            sqlx::Error::Database(db) => db.message().to_owned(),
            sqlx::Error::Io(io) => crate::reasons::plain(&io.to_string()),
            sqlx::Error::Tls(tls) => crate::reasons::plain(&tls.to_string()),
            other => other.to_string(),
        };
    }
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        return crate::reasons::plain(&io.to_string());
    }
    cause.to_string()
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

/// For commands that change users or tokens: the database and the write path,
/// which tells running instances about every change (through Redis when it
/// answers within 2 s, else through the database).
async fn writer(settings: &Settings) -> anyhow::Result<(sqlx::PgPool, Writer)> {
    let pool = database(settings).await?;
    let redis = crate::redis::connect(settings)?;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), redis.wait_for_connect()).await;
    let generation = Generation::new(redis, &settings.redis_key_prefix, "users");
    let writer = Writer::new(pool.clone(), PasswordHasher::default(), generation);
    Ok((pool, writer))
}

/// Rows and rows per second on standard error, drawn only on a terminal:
/// `12,345 rows planned (4,100 rows/s, 3s)`.
fn rows_progress(verb: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner();
    let template = format!("{{spinner}} {{count}} {verb} ({{rate}}, {{elapsed}})");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        let style = style
            .with_key(
                "count",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}", rows(state.pos()));
                },
            )
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let per_sec = state.per_sec();
                    let whole = if per_sec.is_finite() {
                        per_sec.round() as u64
                    } else {
                        0
                    };
                    let _ = write!(w, "{}/s", rows(whole));
                },
            );
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// `1 row`, `12,345 rows`.
fn rows(n: u64) -> String {
    crate::domain::count(n, "row", "rows")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_lists_exactly_the_variables_the_settings_read() {
        let read = std::cell::RefCell::new(std::collections::BTreeSet::new());
        Settings::from_lookup(|name| {
            read.borrow_mut().insert(name.to_owned());
            None
        })
        .expect("the defaults are valid");
        crate::config::port_from_env().expect("PORT");
        let mut read = read.into_inner();
        // Read by the log filter, not by Settings.
        read.insert("RUST_LOG".to_owned());
        let listed: std::collections::BTreeSet<String> =
            VARIABLES.iter().map(|v| v.name.to_owned()).collect();
        assert_eq!(listed, read);
        assert_eq!(listed.len(), VARIABLES.len(), "each variable listed once");
    }

    #[test]
    fn every_command_and_argument_has_a_help_line() {
        use clap::CommandFactory;
        fn walk(command: &clap::Command, path: &str) {
            for arg in command.get_arguments() {
                assert!(
                    arg.get_help().is_some(),
                    "{path} {}: no help line",
                    arg.get_id()
                );
            }
            for sub in command.get_subcommands() {
                assert!(
                    sub.get_about().is_some(),
                    "{path} {}: no help line",
                    sub.get_name()
                );
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        let command = Cli::command();
        command.clone().debug_assert();
        walk(&command, "useradmin");
    }

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
        assert_eq!(error_chain(&error), "cannot migrate: connection refused");
        let error = anyhow::Error::new(Wrapped(refused()));
        assert_eq!(
            error_chain(&error),
            "error communicating with database: Connection refused (os error 111)"
        );
        let error = anyhow::Error::new(sqlx::Error::Io(refused()))
            .context("cannot connect to PostgreSQL at 127.0.0.1:5432");
        assert_eq!(
            error_chain(&error),
            "cannot connect to PostgreSQL at 127.0.0.1:5432: connection refused"
        );
    }
}
