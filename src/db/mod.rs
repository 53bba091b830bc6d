//! The reads, and the rows every statement answers. Functions take a pool or a
//! transaction and return plain rows or outcomes; the HTTP layer decides what a
//! client sees.
//!
//! The statements that change something live in the write path's own
//! `write::sql`, visible there only, so the compiler keeps every change on it.
//! The few writes made outside it on purpose are named here as such:
//! [`deliveries::bookkeeping`] (the webhook dispatcher's), [`jobs`] (the
//! periodic jobs'), [`secrets`] (start-up's) and [`seed`] (demo data).

pub mod audit;
pub mod deliveries;
pub mod groups;
pub mod import;
pub mod jobs;
pub mod listen;
pub mod roles;
pub mod scim;
pub mod secrets;
pub mod seed;
pub mod tokens;
pub mod two_factor;
pub mod users;
pub mod webhooks;

use std::{str::FromStr, time::Duration};

use secrecy::ExposeSecret;
use sqlx::{
    ConnectOptions, Connection, PgConnection, PgPool,
    migrate::MigrateDatabase,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::config::Settings;

/// How long a request waits for a free connection before answering 503. Short, so
/// a database outage is reported within seconds rather than hanging clients.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A pooled connection idle longer than this is pinged before it is used.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(5);

/// Upper bound for one statement, below the request timeout so a slow query ends
/// as a clean error instead of a cut connection.
const STATEMENT_TIMEOUT: &str = "5s";

fn connect_options(settings: &Settings) -> Result<PgConnectOptions, sqlx::Error> {
    Ok(
        PgConnectOptions::from_str(settings.database_url.expose_secret())?
            .application_name("useradmin")
            .log_statements(tracing::log::LevelFilter::Debug)
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500)),
    )
}

/// The request pool. It connects lazily, so the process starts (and reports
/// itself unhealthy) while PostgreSQL is still coming up.
pub fn pool(settings: &Settings) -> Result<PgPool, sqlx::Error> {
    let options = connect_options(settings)?.options([("statement_timeout", STATEMENT_TIMEOUT)]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.db_max_connections)
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Duration::from_secs(600))
        // Pinging every connection before every query doubles the round trips of
        // a simple read; ping only those that sat idle long enough to have been
        // cut. A connection that died meanwhile fails its query with an I/O
        // error (a 503) and is dropped from the pool.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for < IDLE_BEFORE_PING {
                    return Ok(true);
                }
                Ok(conn.ping().await.is_ok())
            })
        })
        .connect_lazy_with(options))
}

/// Creates the database when it does not exist yet (a fresh local PostgreSQL), then
/// applies pending migrations on a connection of its own: migrations may build
/// indexes on large tables, which the request pool's statement timeout would cut.
pub async fn prepare(settings: &Settings) -> anyhow::Result<()> {
    use anyhow::Context;
    let url = settings.database_url.expose_secret();
    let options = connect_options(settings)?;
    let place = place(&options);
    if !sqlx::Postgres::database_exists(url).await.unwrap_or(true) {
        tracing::info!("creating the database");
        sqlx::Postgres::create_database(url)
            .await
            .with_context(|| format!("cannot create the database {place}"))?;
    }
    let mut conn = PgConnection::connect_with(&options)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL {place}"))?;
    crate::MIGRATOR
        .run(&mut conn)
        .await
        .with_context(|| format!("cannot apply the migrations to {place}"))?;
    conn.close().await?;
    Ok(())
}

/// `at 127.0.0.1:5432, database useradmin`: where the settings point, for the
/// messages of a failed start (no user, no password).
fn place(options: &PgConnectOptions) -> String {
    let host = options.get_host();
    let host = if host.starts_with('/') {
        format!("on the socket in {host}")
    } else if host.contains(':') {
        format!("at [{host}]:{}", options.get_port())
    } else {
        format!("at {host}:{}", options.get_port())
    };
    match options.get_database() {
        Some(database) => format!("{host}, database {database}"),
        None => host,
    }
}

/// True when the error means the database could not be reached or could not
/// answer in time (as opposed to a query it refused): the client gets 503 and
/// may try again, rather than 500. A statement that waited out its timeout on a
/// busy row, a deadlock and a serialization failure change nothing and succeed
/// when tried again.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections,
            // query_canceled (the statement timeout), lock_not_available,
            // serialization_failure, deadlock_detected
            matches!(
                db.code().as_deref(),
                Some("57P01" | "57P02" | "57P03" | "53300" | "57014" | "55P03" | "40001" | "40P01")
            )
        }
        _ => false,
    }
}

/// The name of the constraint a unique violation broke, if that is what happened.
pub fn violated_unique_constraint(error: &sqlx::Error) -> Option<&str> {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => db.constraint(),
        _ => None,
    }
}

/// The SQLSTATE of a database error (`UA409` is the last-admin rule's).
pub fn error_code(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
        _ => None,
    }
}

/// Round trip used by `/health`.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("select 1").execute(pool).await.map(|_| ())
}

/// Makes `%`, `_` and `\` match themselves in a LIKE or ILIKE pattern.
pub(crate) fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
