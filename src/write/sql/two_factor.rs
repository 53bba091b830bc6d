//! The statements that change two-factor login: turning it on and off, the
//! recovery codes, and the last accepted step (a code cannot be replayed).
//! Only the write path can call them. Nothing here reaches the audit trail:
//! the write path records the 2fa.* events itself.

use sqlx::{PgConnection, PgExecutor};

/// Turns a second factor on with `secret` (drawn and kept in the enrolling
/// session until now) and the step of its confirming code (that code counts as
/// used); false when one is on already (another session confirmed first). An
/// unconfirmed key is never stored here (SPEC §13).
pub(in crate::write) async fn enable(
    tx: &mut PgConnection,
    user_id: i64,
    secret: &[u8],
    step: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "insert into two_factor (user_id, secret, enabled_at, last_step) \
         values ($1, $2, now(), $3) \
         on conflict (user_id) do nothing",
    )
    .bind(user_id)
    .bind(secret)
    .bind(step)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(in crate::write) async fn insert_recovery_codes(
    tx: &mut PgConnection,
    user_id: i64,
    digests: &[Vec<u8>],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into two_factor_recovery_codes (user_id, code_hash) \
         select $1, unnest($2::bytea[])",
    )
    .bind(user_id)
    .bind(digests)
    .execute(tx)
    .await
    .map(|_| ())
}

/// Accepts the code of `step` if no code of this or a later step was accepted
/// before: one atomic update, so two instances cannot both accept it.
pub(in crate::write) async fn accept_step(
    db: impl PgExecutor<'_>,
    user_id: i64,
    step: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update two_factor set last_step = $2 \
         where user_id = $1 and enabled_at is not null \
           and (last_step is null or last_step < $2)",
    )
    .bind(user_id)
    .bind(step)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses a recovery code up; true only the first time, for an enabled factor.
pub(in crate::write) async fn use_recovery_code(
    tx: &mut PgConnection,
    user_id: i64,
    digest: &[u8],
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update two_factor_recovery_codes c set used_at = now() \
         from two_factor f \
         where c.user_id = $1 and c.code_hash = $2 and c.used_at is null \
           and f.user_id = c.user_id and f.enabled_at is not null",
    )
    .bind(user_id)
    .bind(digest)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes the second factor (and its recovery codes); true when one was
/// enabled.
pub(in crate::write) async fn delete(
    tx: &mut PgConnection,
    user_id: i64,
) -> Result<bool, sqlx::Error> {
    let enabled: Option<bool> = sqlx::query_scalar(
        "delete from two_factor where user_id = $1 returning enabled_at is not null",
    )
    .bind(user_id)
    .fetch_optional(tx)
    .await?;
    Ok(enabled.unwrap_or(false))
}
