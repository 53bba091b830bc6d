//! Periodic upkeep that every instance runs and only one does at a time (a
//! PostgreSQL advisory lock, held for the run): deleted users whose time to be
//! restored is over are purged (`USER_RESTORE_DAYS`), and audit events past
//! their retention are removed (`AUDIT_RETENTION_DAYS`).

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::{
    db,
    write::{Actor, Writer},
};

/// How often the jobs run; the first run comes soon after start.
const EVERY: Duration = Duration::from_secs(60 * 60);
const FIRST_AFTER: Duration = Duration::from_secs(30);

/// At most this many users are purged in one run (the next run goes on).
const PURGES_PER_RUN: i64 = 1000;

/// What the jobs need to know.
#[derive(Clone)]
pub struct Upkeep {
    pub db: PgPool,
    pub writer: Writer,
    pub user_restore: Duration,
    pub audit_retention: Option<Duration>,
}

/// Starts the jobs in the background until `stop`.
pub fn start(upkeep: Upkeep, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut wait = FIRST_AFTER;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            wait = EVERY;
            if let Err(e) = upkeep.run_once().await {
                tracing::warn!(error = %e, "periodic upkeep failed; trying again later");
            }
        }
    });
}

impl Upkeep {
    /// One run of every job, if no other instance is running them. What each
    /// removed, or `None` when another instance holds the lock.
    pub async fn run_once(&self) -> Result<Option<(usize, i64)>, sqlx::Error> {
        let mut conn = self.db.acquire().await?;
        if !db::jobs::try_lock_jobs(&mut conn).await? {
            return Ok(None);
        }
        let outcome = self.jobs().await;
        db::jobs::unlock_jobs(&mut conn).await?;
        outcome.map(Some)
    }

    async fn jobs(&self) -> Result<(usize, i64), sqlx::Error> {
        let now = time::OffsetDateTime::now_utc();
        let expired =
            db::users::expired_deletions(&self.db, now - self.user_restore, PURGES_PER_RUN).await?;
        let mut purged = 0;
        for id in expired {
            match self.writer.purge_user(&Actor::system(), id).await {
                Ok(()) => purged += 1,
                Err(e) => {
                    tracing::warn!(user_id = id, error = %e, "could not purge a deleted user")
                }
            }
        }
        if purged > 0 {
            tracing::info!(
                purged,
                "purged deleted users past their time to be restored"
            );
        }
        let removed = match self.audit_retention {
            Some(retention) => purge_audit(&self.db, retention).await.unwrap_or(0),
            None => 0,
        };
        Ok((purged, removed))
    }
}

/// One run of the audit retention purge; on one instance at a time.
pub async fn purge_audit(db: &PgPool, retention: Duration) -> Option<i64> {
    let before = time::OffsetDateTime::now_utc() - retention;
    match db::jobs::purge_audit_older_than(db, before).await {
        Ok(Some(purged)) => {
            if purged > 0 {
                tracing::info!(purged, "purged audit events past their retention");
                crate::metrics::audit_purged(purged.unsigned_abs());
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
