//! What a test makes on the shared PostgreSQL and Redis, and its removal when the
//! test ends, passed or panicked.
//!
//! Every name carries an owner: the process that made it, or the whole run when
//! `scripts/test` sets `UA_TEST_RUN` (its own process id). A sweep can then tell a
//! crashed run's leftovers (owner gone) from a live run of someone else's on the
//! same servers, and drop only the former.

use std::time::Duration;

use fred::prelude::*;
use futures::TryStreamExt;
use sqlx::migrate::MigrateDatabase;

/// Who owns what this process makes: `UA_TEST_RUN` when set (a process id), else
/// this process's id.
pub fn owner_tag() -> String {
    std::env::var("UA_TEST_RUN")
        .ok()
        .filter(|run| !run.is_empty() && run.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| std::process::id().to_string())
}

/// A unique database name `<kind>_<owner>_<random>` (under PostgreSQL's 63 bytes).
pub fn scratch_name(kind: &str) -> String {
    format!("{kind}_{}_{}", owner_tag(), uuid::Uuid::new_v4().simple())
}

/// A database of the test's own (created by the service when it starts) and the
/// Redis key prefix that goes with it; both are removed when this is dropped.
/// Set `KEEP_TEST_DATA=1` to keep them for a look after a failure.
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    pub fn new() -> Self {
        Self {
            name: scratch_name("ua_test"),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn url(&self) -> String {
        crate::database_url_for(&self.name)
    }

    /// The `REDIS_KEY_PREFIX` for instances and commands on this database.
    pub fn key_prefix(&self) -> String {
        key_prefix_for(&self.name)
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

/// The Redis key prefix of the test database `name`.
pub fn key_prefix_for(name: &str) -> String {
    format!("useradmin:test:{name}:")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        remove_test_data(&crate::redis_url(), &self.url(), &self.key_prefix());
    }
}

/// How long a test waits for its database to be dropped. PostgreSQL 15 makes
/// a DROP DATABASE wait for a checkpoint, which on a busy shared server can
/// take minutes; past this the drop goes on in the background, and if the test
/// process ends first, `scripts/test` removes the database at the end of the run.
const DROP_WAIT: Duration = Duration::from_secs(3);

/// Unlinks every Redis key under `key_prefix` (SCAN, never KEYS), then drops
/// database `database_url` (with its connections: it is the test's own). Runs
/// on a thread and runtime of its own, so it works from `Drop`, inside or
/// outside a runtime and while unwinding. Best effort: a failure is printed,
/// not raised.
pub fn remove_test_data(redis_url: &str, database_url: &str, key_prefix: &str) {
    if std::env::var_os("KEEP_TEST_DATA").is_some() {
        return;
    }
    let (redis_url, database_url, key_prefix) = (
        redis_url.to_owned(),
        database_url.to_owned(),
        key_prefix.to_owned(),
    );
    let (done, steps) = std::sync::mpsc::channel::<Result<(), String>>();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = done.send(Err(e.to_string()));
                return;
            }
        };
        runtime.block_on(async {
            let unlinked = unlink_prefix(&redis_url, &key_prefix)
                .await
                .map_err(|e| format!("removing the test's Redis keys: {e}"));
            let _ = done.send(unlinked);
            let dropped = sqlx::Postgres::force_drop_database(&database_url)
                .await
                .map_err(|e| format!("dropping the test database: {e}"));
            let _ = done.send(dropped);
        });
    });
    for wait in [Duration::from_secs(10), DROP_WAIT] {
        match steps.recv_timeout(wait) {
            Ok(Ok(())) => {}
            Ok(Err(problem)) => eprintln!("test clean-up: {problem}"),
            Err(_) => return,
        }
    }
}

/// Unlinks every key that starts with `prefix` (none when it is empty: that
/// would be everyone's keys).
async fn unlink_prefix(redis_url: &str, prefix: &str) -> Result<(), fred::error::Error> {
    if prefix.is_empty() {
        return Ok(());
    }
    let client = Builder::from_config(Config::from_url(redis_url)?)
        .with_connection_config(|c| c.connection_timeout = Duration::from_secs(2))
        .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(5))
        .build()?;
    client.init().await?;
    let pattern = format!("{}*", glob_escape(prefix));
    let keys: Vec<Key> = client
        .scan_buffered(pattern, Some(1000), None)
        .try_collect()
        .await?;
    for chunk in keys.chunks(500) {
        let _: i64 = client.unlink(chunk.to_vec()).await?;
    }
    client.quit().await?;
    Ok(())
}

/// `text` as a SCAN pattern that matches only itself.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
