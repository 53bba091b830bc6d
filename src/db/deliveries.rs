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
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

pub mod bookkeeping;

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
pub(crate) use columns;

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

/// The outbox as an operator sees it: deliveries still to be sent or retried,
/// and the age in seconds of the oldest of them (0 when none waits).
pub async fn outbox(db: &PgPool) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as(
        "select count(*), \
                coalesce(extract(epoch from now() - min(created_at)), 0)::float8 \
         from webhook_deliveries where status = 'pending'",
    )
    .fetch_one(db)
    .await
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
