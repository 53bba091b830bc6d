//! Who makes a write, told to the database's triggers in the write's own
//! transaction (`set_config(…, true)` lasts until its commit).
//!
//! Today the triggers need one fact: that the service made the change. The
//! service moves the list-cache generation on itself after every commit, so the
//! triggers notify the instances only of changes made without this context (raw
//! SQL in Adminer, psql, another program). The audit trail (SPEC §8) will pass
//! the acting admin or token here.

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

/// The setting the triggers read.
pub const SETTING: &str = "useradmin.actor";

/// The service itself, from a request, the command line or start-up.
pub const SERVICE: &str = "service";

/// Begins a transaction whose changes are known to be the service's.
pub async fn begin(db: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = db.begin().await?;
    tell(&mut tx).await?;
    Ok(tx)
}

/// Marks the changes of an open transaction as the service's.
pub async fn tell(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("select set_config('useradmin.actor', $1, true)")
        .bind(SERVICE)
        .execute(tx)
        .await
        .map(|_| ())
}
