//! The statements that change API tokens: creation, revocation and the use
//! stamp. Only the write path can call them.

use sqlx::{PgConnection, PgPool};

use crate::db::tokens::{TokenRow, columns};

/// Inserts a token, inside the write path's transaction.
pub(in crate::write) async fn insert(
    tx: &mut PgConnection,
    label: &str,
    token_hash: &[u8],
    owner: i64,
    scopes: &[String],
    expires_at: Option<time::OffsetDateTime>,
) -> Result<TokenRow, sqlx::Error> {
    sqlx::query_as(concat!(
        "insert into api_tokens (label, token_hash, created_by, scopes, expires_at) \
         values ($1, $2, $3, $4, $5) returning ",
        columns!()
    ))
    .bind(label)
    .bind(token_hash)
    .bind(owner)
    .bind(scopes)
    .bind(expires_at)
    .fetch_one(tx)
    .await
}

/// Revokes a token; `None` when there is no such token. Revoking twice keeps the
/// first time.
pub(in crate::write) async fn revoke(
    tx: &mut PgConnection,
    id: i64,
) -> Result<Option<TokenRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "update api_tokens set revoked_at = coalesce(revoked_at, now()) where id = $1 returning ",
        columns!()
    ))
    .bind(id)
    .fetch_optional(tx)
    .await
}

/// Records a use, at most once a minute per token, so authentication does not
/// write on every request. Bookkeeping, not a change anyone acts on: it is not
/// audited and notifies nobody.
pub(in crate::write) async fn touch(db: &PgPool, token_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update api_tokens set last_used_at = now() where id = $1 \
         and (last_used_at is null or last_used_at < now() - interval '1 minute')",
    )
    .bind(token_id)
    .execute(db)
    .await
    .map(|_| ())
}
