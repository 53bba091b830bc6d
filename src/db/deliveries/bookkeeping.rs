//! The dispatcher's bookkeeping of the outbox: claiming due deliveries,
//! recording each attempt's outcome (and when the next one is due) and giving
//! claims back at shutdown.
//!
//! Outside the write path on purpose: these statements change no user, token or
//! endpoint, nobody acts in them (no actor, no audit event, no cache
//! announcement), and they run in the webhook dispatcher's background tasks,
//! which have no request. Everything that queues or re-queues a delivery on
//! someone's behalf (a test event, a redelivery) goes through `write`.

use std::time::Duration;

use sqlx::PgPool;

use super::{CLAIM, ClaimedDelivery};

/// Claims up to `limit` due deliveries of active endpoints, oldest due first.
/// Deliveries of a paused endpoint stay pending, untouched, until it is resumed.
pub(crate) async fn claim(db: &PgPool, limit: i64) -> Result<Vec<ClaimedDelivery>, sqlx::Error> {
    sqlx::query_as(
        "with due as ( \
             select d.id from webhook_deliveries d join webhooks w on w.id = d.webhook_id \
             where d.status = 'pending' and d.next_attempt_at <= now() and w.active \
               and (d.claimed_until is null or d.claimed_until < now()) \
             order by d.next_attempt_at \
             limit $1 \
             for update of d skip locked \
         ) \
         update webhook_deliveries d \
         set claimed_until = now() + make_interval(secs => $2), attempts = d.attempts + 1 \
         from due, webhooks w \
         where d.id = due.id and w.id = d.webhook_id \
         returning d.id, d.webhook_id, d.message_id, d.event_type, d.occurred_at, d.payload, \
                   d.attempts, w.url, w.secret",
    )
    .bind(limit)
    .bind(CLAIM.as_secs_f64())
    .fetch_all(db)
    .await
}

/// A 2xx answer to one attempt, waiting to be recorded.
#[derive(Debug, Clone, Copy)]
pub struct Success {
    pub id: i64,
    /// The attempt the answer is for; a newer claim's record is never overwritten.
    pub attempt: i32,
    pub response_code: i32,
    pub duration_ms: i32,
}

/// Records a batch of 2xx answers in one statement: at a steady stream of
/// changes, one transaction per delivery doubled the commits of every write that
/// had a subscriber (bench/FINDINGS.md §11).
pub(crate) async fn record_successes(db: &PgPool, batch: &[Success]) -> Result<(), sqlx::Error> {
    let ids: Vec<i64> = batch.iter().map(|s| s.id).collect();
    let attempts: Vec<i32> = batch.iter().map(|s| s.attempt).collect();
    let codes: Vec<i32> = batch.iter().map(|s| s.response_code).collect();
    let durations: Vec<i32> = batch.iter().map(|s| s.duration_ms).collect();
    sqlx::query(
        "update webhook_deliveries d \
         set status = 'delivered', delivered_at = now(), response_code = s.code, \
             duration_ms = s.ms, last_error = null, claimed_until = null \
         from unnest($1::bigint[], $2::int[], $3::int[], $4::int[]) as s(id, attempt, code, ms) \
         where d.id = s.id and d.attempts = s.attempt and d.status = 'pending'",
    )
    .bind(ids)
    .bind(attempts)
    .bind(codes)
    .bind(durations)
    .execute(db)
    .await
    .map(|_| ())
}

/// What a failed attempt left: the answer's code, if there was an answer.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    pub response_code: Option<i32>,
    pub error: &'a str,
    pub duration_ms: i32,
    /// The wait before the next attempt (the webhooks feature's backoff).
    pub retry_after: Duration,
}

/// Records a failed attempt: the next one comes after `retry_after`, but no
/// later than 24 hours after the delivery was created; an attempt that fails
/// after those 24 hours marks the delivery failed. True when it failed for good.
///
/// Public, unlike the rest of this module, only so that the delivery tests can
/// drive the 24-hour horizon with a claim no running instance holds.
pub async fn record_failure(
    db: &PgPool,
    id: i64,
    attempt: i32,
    failure: &Failure<'_>,
) -> Result<bool, sqlx::Error> {
    let failed: Option<bool> = sqlx::query_scalar(
        "update webhook_deliveries \
         set response_code = $3, last_error = $4, duration_ms = $5, claimed_until = null, \
             status = case when now() >= created_at + interval '24 hours' then 'failed' \
                           else 'pending' end, \
             next_attempt_at = least(now() + make_interval(secs => $6), \
                                     created_at + interval '24 hours') \
         where id = $1 and attempts = $2 and status = 'pending' \
         returning status = 'failed'",
    )
    .bind(id)
    .bind(attempt)
    .bind(failure.response_code)
    .bind(failure.error)
    .bind(failure.duration_ms)
    .bind(failure.retry_after.as_secs_f64())
    .fetch_optional(db)
    .await?;
    Ok(failed.unwrap_or(false))
}

/// Gives up the claims on deliveries an instance will not finish (it is
/// stopping), so another instance takes them now rather than in a minute. The
/// attempt stays counted: it may have reached the receiver.
pub(crate) async fn release(db: &PgPool, ids: &[i64]) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "update webhook_deliveries set claimed_until = null \
         where id = any($1) and status = 'pending'",
    )
    .bind(ids)
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}
