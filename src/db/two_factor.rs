//! Reading two-factor login: the secret per admin (`two_factor`) and how many
//! recovery codes are left. Its changes are the write path's
//! (`write::sql::two_factor`).

use sqlx::PgExecutor;
use time::OffsetDateTime;

/// An admin's second factor. Every row is an enabled one (migration 0014):
/// a key waiting for its confirming code lives in the enrolling session only.
#[derive(sqlx::FromRow)]
pub struct TwoFactorRow {
    pub secret: Vec<u8>,
    pub enabled_at: Option<OffsetDateTime>,
}

impl TwoFactorRow {
    pub fn is_enabled(&self) -> bool {
        self.enabled_at.is_some()
    }
}

pub async fn find(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> Result<Option<TwoFactorRow>, sqlx::Error> {
    sqlx::query_as("select secret, enabled_at from two_factor where user_id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await
}

pub async fn is_enabled(db: impl PgExecutor<'_>, user_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "select exists (select 1 from two_factor where user_id = $1 and enabled_at is not null)",
    )
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// Recovery codes not used yet.
pub async fn recovery_codes_left(
    db: impl PgExecutor<'_>,
    user_id: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select count(*) from two_factor_recovery_codes where user_id = $1 and used_at is null",
    )
    .bind(user_id)
    .fetch_one(db)
    .await
}
