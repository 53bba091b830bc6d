//! The statements that change webhook endpoints, and the audit events the
//! write path records for them. Only the write path can call them.

use sqlx::PgConnection;

use crate::{
    db::webhooks::{WebhookRow, columns},
    domain::AuditAction,
};

pub(in crate::write) async fn insert(
    tx: &mut PgConnection,
    url: &str,
    events: &[String],
    secret: &str,
    created_by: Option<i64>,
) -> Result<WebhookRow, sqlx::Error> {
    sqlx::query_as(concat!(
        "insert into webhooks (url, events, secret, created_by) values ($1, $2, $3, $4) returning ",
        columns!()
    ))
    .bind(url)
    .bind(events)
    .bind(secret)
    .bind(created_by)
    .fetch_one(tx)
    .await
}

/// Changes what is given (`None` leaves it).
pub(in crate::write) async fn update(
    tx: &mut PgConnection,
    id: i64,
    url: Option<&str>,
    events: Option<&[String]>,
    active: Option<bool>,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "update webhooks set url = coalesce($2, url), events = coalesce($3, events), \
         active = coalesce($4, active) where id = $1 returning ",
        columns!()
    ))
    .bind(id)
    .bind(url)
    .bind(events)
    .bind(active)
    .fetch_optional(tx)
    .await
}

pub(in crate::write) async fn set_secret(
    tx: &mut PgConnection,
    id: i64,
    secret: &str,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "update webhooks set secret = $2 where id = $1 returning ",
        columns!()
    ))
    .bind(id)
    .bind(secret)
    .fetch_optional(tx)
    .await
}

/// Deletes the endpoint and its delivery log.
pub(in crate::write) async fn delete(tx: &mut PgConnection, id: i64) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("delete from webhooks where id = $1")
        .bind(id)
        .execute(tx)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// An audit event for an action on an endpoint that changes no row of it (a
/// test event sent, a delivery sent again).
pub(in crate::write) async fn record(
    tx: &mut PgConnection,
    action: AuditAction,
    webhook: &WebhookRow,
    changes: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("select audit_record($1, 'webhook', $2, $3, $4)")
        .bind(action)
        .bind(webhook.id)
        .bind(&webhook.url)
        .bind(changes)
        .execute(tx)
        .await
        .map(|_| ())
}

/// The endpoint, locked until the transaction ends.
pub(in crate::write) async fn find_for_update(
    tx: &mut PgConnection,
    id: i64,
) -> Result<Option<WebhookRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from webhooks where id = $1 for update"
    ))
    .bind(id)
    .fetch_optional(tx)
    .await
}
