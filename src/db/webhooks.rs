//! Webhook endpoints. Their deliveries are in [`super::deliveries`]; the outbox
//! is filled by the database (migration 0009).

use sqlx::PgPool;
use time::OffsetDateTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub created_by: Option<i64>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The columns of a [`WebhookRow`] (never the secret).
macro_rules! columns {
    () => {
        "id, url, events, active, created_by, created_at, updated_at"
    };
}
pub(crate) use columns;

/// Every endpoint, newest first (there are few).
pub async fn list(db: &PgPool) -> Result<Vec<WebhookRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from webhooks order by id desc"
    ))
    .fetch_all(db)
    .await
}

pub async fn find(db: &PgPool, id: i64) -> Result<Option<WebhookRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from webhooks where id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}
