//! The statements that queue a delivery on someone's behalf (a test event, a
//! redelivery). Only the write path can call them; the dispatcher's own
//! bookkeeping of the outbox is `db::deliveries::bookkeeping`.

use sqlx::PgConnection;

use crate::db::deliveries::{DeliveryRow, columns, wake_dispatchers};

/// Sends a delivery again, whatever became of it: pending now, with a fresh
/// 24-hour window and attempt count, and the same `webhook-id` (a receiver that
/// got it before can tell). A delivery being sent at this moment is left to
/// that attempt. `None` when there is no such delivery.
pub(in crate::write) async fn redeliver(
    tx: &mut PgConnection,
    id: i64,
) -> Result<Option<DeliveryRow>, sqlx::Error> {
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
pub(in crate::write) async fn enqueue_test(
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
