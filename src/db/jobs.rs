//! The periodic jobs' own statements (the crate's `jobs` module): the lock
//! that keeps them to one instance at a time, and the audit trail's retention
//! purge.
//!
//! Outside the write path on purpose: no one acts in them (they run in the
//! background, on a timer), the purge removes events through the one database
//! function allowed to, which no trigger audits and no cache depends on, and
//! the advisory locks change no row. The jobs' other change, purging deleted
//! users past their time to be restored, does go through `Writer::purge_user`.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

/// Takes the lock that keeps periodic jobs to one instance at a time, on this
/// connection (held until [`unlock_jobs`] or the connection ends). False when
/// another instance holds it.
pub(crate) async fn try_lock_jobs(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("select pg_try_advisory_lock(hashtext('useradmin:jobs'))")
        .fetch_one(conn)
        .await
}

pub(crate) async fn unlock_jobs(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_advisory_unlock(hashtext('useradmin:jobs'))")
        .execute(conn)
        .await
        .map(|_| ())
}

/// Deletes events older than `before` through the one function allowed to;
/// only if no other instance is purging right now (an advisory lock held for
/// this transaction). `None` when another instance holds it.
pub(crate) async fn purge_audit_older_than(
    db: &PgPool,
    before: OffsetDateTime,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let ours: bool =
        sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext('useradmin:audit-purge'))")
            .fetch_one(&mut *tx)
            .await?;
    if !ours {
        return Ok(None);
    }
    let purged: i64 = sqlx::query_scalar("select audit_purge($1)")
        .bind(before)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(purged))
}
