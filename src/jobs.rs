//! Periodic upkeep that every instance runs and only one does at a time (each
//! job takes a PostgreSQL advisory lock for its run): today the audit trail's
//! retention purge (`AUDIT_RETENTION_DAYS`).

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::db;

/// How often the jobs run; the first run comes soon after start.
const EVERY: Duration = Duration::from_secs(60 * 60);
const FIRST_AFTER: Duration = Duration::from_secs(30);

/// Starts the jobs in the background until `stop`.
pub fn start(db: PgPool, audit_retention: Option<Duration>, stop: CancellationToken) {
    let Some(retention) = audit_retention else {
        return;
    };
    tokio::spawn(async move {
        let mut wait = FIRST_AFTER;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = EVERY;
            purge_audit(&db, retention).await;
        }
    });
}

/// One run of the retention purge; on one instance at a time.
pub async fn purge_audit(db: &PgPool, retention: Duration) -> Option<i64> {
    let before = time::OffsetDateTime::now_utc() - retention;
    match db::audit::purge_older_than(db, before).await {
        Ok(Some(purged)) => {
            if purged > 0 {
                tracing::info!(purged, "purged audit events past their retention");
            }
            Some(purged)
        }
        // Another instance is purging.
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "could not purge old audit events");
            None
        }
    }
}
