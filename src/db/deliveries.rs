//! The webhook outbox (`webhook_deliveries`, migration 0009): what the
//! dispatchers claim, send and record, and what the delivery log shows.
//!
//! A delivery is claimed by one instance at a time: the claim (`FOR UPDATE SKIP
//! LOCKED`) sets `claimed_until` a minute ahead and counts the attempt, so a
//! delivery whose instance died is claimed again once that minute is over. The
//! attempt count also identifies the claim: an instance records an outcome only
//! while the count is still the one it claimed, so a late answer can never
//! overwrite a newer attempt's. Times come from the database's clock, shared by
//! every instance.

use std::time::Duration;

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// The channel the outbox trigger (and [`redeliver`], [`enqueue_test`]) notify
/// when a delivery becomes due.
pub const CHANNEL: &str = "useradmin_webhooks";

/// How long a claim holds: longer than an attempt can take (10 s), short
/// enough that a crashed instance's deliveries go out again soon.
pub const CLAIM: Duration = Duration::from_secs(60);

/// A delivery as the log shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: i64,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub response_code: Option<i32>,
    pub duration_ms: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
    pub next_attempt_at: OffsetDateTime,
}

macro_rules! columns {
    () => {
        "id, webhook_id, event_type, status, attempts, response_code, duration_ms, last_error, \
         created_at, delivered_at, next_attempt_at"
    };
}

/// A delivery claimed for one attempt, with what sending it needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub webhook_id: i64,
    pub message_id: Uuid,
    pub event_type: String,
    pub occurred_at: OffsetDateTime,
    pub payload: Value,
    /// The attempt this claim is for (1 for the first); it identifies the claim.
    pub attempts: i32,
    pub url: String,
    pub secret: String,
}

/// Claims up to `limit` due deliveries of active endpoints, oldest due first.
/// Deliveries of a paused endpoint stay pending, untouched, until it is resumed.
pub async fn claim(db: &PgPool, limit: i64) -> Result<Vec<ClaimedDelivery>, sqlx::Error> {
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

/// Records a 2xx answer to attempt `attempt`.
pub async fn record_success(
    db: &PgPool,
    id: i64,
    attempt: i32,
    response_code: i32,
    duration_ms: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update webhook_deliveries \
         set status = 'delivered', delivered_at = now(), response_code = $3, duration_ms = $4, \
             last_error = null, claimed_until = null \
         where id = $1 and attempts = $2 and status = 'pending'",
    )
    .bind(id)
    .bind(attempt)
    .bind(response_code)
    .bind(duration_ms)
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
pub async fn release(db: &PgPool, ids: &[i64]) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "update webhook_deliveries set claimed_until = null \
         where id = any($1) and status = 'pending'",
    )
    .bind(ids)
    .execute(db)
    .await
    .map(|done| done.rows_affected())
}

/// How long until the next unclaimed delivery of an active endpoint is due, by
/// the database's clock (zero when one is due now); `None` when none is pending.
pub async fn next_due(db: &PgPool) -> Result<Option<Duration>, sqlx::Error> {
    let seconds: Option<f64> = sqlx::query_scalar(
        "select greatest(extract(epoch from d.next_attempt_at - now()), 0)::float8 \
         from webhook_deliveries d join webhooks w on w.id = d.webhook_id \
         where d.status = 'pending' and w.active \
           and (d.claimed_until is null or d.claimed_until < now()) \
         order by d.next_attempt_at \
         limit 1",
    )
    .fetch_optional(db)
    .await?;
    Ok(seconds.map(|s| Duration::from_secs_f64(s.max(0.0))))
}

/// An endpoint's deliveries, newest first; `before_id` pages to older ones.
pub async fn list(
    db: &PgPool,
    webhook_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from webhook_deliveries \
          where webhook_id = $1 and ($2::bigint is null or id < $2) \
          order by id desc limit $3"
    ))
    .bind(webhook_id)
    .bind(before_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Sends a delivery again, whatever became of it: pending now, with a fresh
/// 24-hour window and attempt count, and the same `webhook-id` (a receiver that
/// got it before can tell). A delivery being sent at this moment is left to
/// that attempt. `None` when there is no such delivery.
pub async fn redeliver(tx: &mut PgConnection, id: i64) -> Result<Option<DeliveryRow>, sqlx::Error> {
    let updated: Option<DeliveryRow> = sqlx::query_as(concat!(
        "update webhook_deliveries \
         set status = 'pending', next_attempt_at = now(), claimed_until = null, attempts = 0, \
             created_at = now(), delivered_at = null \
         where id = $1 and not (status = 'pending' and claimed_until > now()) \
         returning ",
        columns!()
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if updated.is_some() {
        wake_dispatchers(tx).await?;
        return Ok(updated);
    }
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from webhook_deliveries where id = $1"
    ))
    .bind(id)
    .fetch_optional(tx)
    .await
}

/// Queues a test event (`webhook.test`) for an endpoint, due now.
pub async fn enqueue_test(
    tx: &mut PgConnection,
    webhook_id: i64,
) -> Result<DeliveryRow, sqlx::Error> {
    let row = sqlx::query_as(concat!(
        "insert into webhook_deliveries (webhook_id, event_type, occurred_at, payload) \
         values ($1, 'webhook.test', now(), \
                 jsonb_build_object('webhook', jsonb_build_object('id', $1), 'test', true)) \
         returning ",
        columns!()
    ))
    .bind(webhook_id)
    .fetch_one(&mut *tx)
    .await?;
    wake_dispatchers(tx).await?;
    Ok(row)
}

/// Wakes the dispatchers of every instance, at the commit (like the outbox
/// trigger does). Worth calling when an endpoint is resumed: its pending
/// deliveries then go out at once rather than at the next idle look (5 s).
pub async fn wake_dispatchers<'e>(db: impl sqlx::PgExecutor<'e>) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(db)
        .await
        .map(|_| ())
}
