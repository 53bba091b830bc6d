//! The one Redis client pool, shared by login sessions, throttling and the user-list
//! cache. Redis is never required to start: the pool connects in the background
//! and keeps reconnecting with backoff, and every command has a short timeout so an
//! outage costs a request at most that long.
//!
//! Every Redis client of the service is built here ([`builder`]): the pool, and
//! the list cache's own subscribed connection (`cache::local`).

use std::time::Duration;

use fred::prelude::*;
use secrecy::ExposeSecret;

use crate::config::{Settings, redacted_url};

/// How long one Redis command may take before the caller gives up on it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(200);

/// The deployment's Redis, as `REDIS_URL` names it.
pub fn config(settings: &Settings) -> Result<Config, fred::error::Error> {
    Config::from_url(settings.redis_url.expose_secret())
}

/// A client of `config` as every client of the service connects: a second to
/// connect, one attempt per command, no Nagle delay, and commands given up on
/// after `command_timeout`.
pub fn builder(config: Config, command_timeout: Duration) -> Builder {
    let mut builder = Builder::from_config(config);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(1);
            c.internal_command_timeout = Duration::from_secs(1);
            c.max_command_attempts = 1;
            c.tcp = TcpConfig {
                nodelay: Some(true),
                ..Default::default()
            };
        })
        .with_performance_config(|p| {
            p.default_command_timeout = command_timeout;
        });
    builder
}

/// Builds the pool and starts connecting; does not wait for Redis.
pub fn connect(settings: &Settings) -> Result<Pool, fred::error::Error> {
    let mut config = config(settings)?;
    // Start even when Redis is down; the reconnect policy takes over.
    config.fail_fast = false;
    let pool = builder(config, COMMAND_TIMEOUT)
        // A short first delay: it also delays the very first connection at start.
        .set_policy({
            let mut policy = ReconnectPolicy::new_exponential(0, 10, 2_000, 2);
            policy.set_jitter(10);
            policy
        })
        .build_pool(pool_size())?;
    pool.connect_pool();
    warn_unless_connected(&pool, settings);
    Ok(pool)
}

/// How long after start-up an unreachable Redis is reported.
pub const CONNECT_WARNING_AFTER: Duration = Duration::from_secs(2);

/// Logs one warning naming the address if the pool has not connected within
/// [`CONNECT_WARNING_AFTER`]: starting without Redis is allowed, but not silent.
fn warn_unless_connected(pool: &Pool, settings: &Settings) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let pool = pool.clone();
    let address = redacted_url(&settings.redis_url);
    runtime.spawn(async move {
        let connected = tokio::time::timeout(CONNECT_WARNING_AFTER, pool.wait_for_connect()).await;
        if !matches!(connected, Ok(Ok(()))) {
            tracing::warn!(
                redis = %address,
                "Redis is not reachable; logins answer 503 and the user list comes from \
                 PostgreSQL until it is (still trying)"
            );
        }
    });
}

fn pool_size() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8)
}

/// Round trip used by `/health`.
pub async fn ping(pool: &Pool) -> Result<(), fred::error::Error> {
    pool.ping::<()>(None).await
}
