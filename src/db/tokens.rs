//! SQL for the `api_tokens` table. Tokens are looked up by their SHA-256 hash; the
//! token itself is never stored.

use sqlx::PgPool;
use time::OffsetDateTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub label: String,
    pub created_by: i64,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// The admin a valid token speaks for.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TokenOwner {
    pub token_id: i64,
    pub user_id: i64,
    pub name: String,
    pub last_used_at: Option<OffsetDateTime>,
}

pub async fn insert(
    db: &PgPool,
    label: &str,
    token_hash: &[u8],
    owner: i64,
) -> Result<TokenRow, sqlx::Error> {
    let mut tx = super::actor::begin(db).await?;
    let row = sqlx::query_as(
        "insert into api_tokens (label, token_hash, created_by) values ($1, $2, $3) \
         returning id, label, created_by, created_at, last_used_at, revoked_at",
    )
    .bind(label)
    .bind(token_hash)
    .bind(owner)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn list(db: &PgPool) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as(
        "select id, label, created_by, created_at, last_used_at, revoked_at \
         from api_tokens order by id",
    )
    .fetch_all(db)
    .await
}

/// Revokes a token; false when there is no such token. Revoking twice keeps the
/// first time.
pub async fn revoke(db: &PgPool, id: i64) -> Result<bool, sqlx::Error> {
    let mut tx = super::actor::begin(db).await?;
    let done =
        sqlx::query("update api_tokens set revoked_at = coalesce(revoked_at, now()) where id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// The owner of a live token: not revoked, and its owner still an admin.
pub async fn authenticate(
    db: &PgPool,
    token_hash: &[u8],
) -> Result<Option<TokenOwner>, sqlx::Error> {
    sqlx::query_as(
        "select t.id as token_id, u.id as user_id, u.name, t.last_used_at \
         from api_tokens t join users u on u.id = t.created_by \
         where t.token_hash = $1 and t.revoked_at is null and u.is_admin",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

/// Records a use, at most once a minute per token, so authentication does not
/// write on every request.
pub async fn touch(db: &PgPool, token_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update api_tokens set last_used_at = now() where id = $1 \
         and (last_used_at is null or last_used_at < now() - interval '1 minute')",
    )
    .bind(token_id)
    .execute(db)
    .await
    .map(|_| ())
}
