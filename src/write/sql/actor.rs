//! Who makes a write, told to the database's triggers in the write's own
//! transaction (`set_config(…, true)` lasts until its commit).
//!
//! The triggers notify the instances only of changes made without this context
//! (raw SQL in Adminer, psql, another program): the write path moves the cache
//! generation on itself after its own commits. The audit trail will record the
//! actor from here.

use sqlx::{PgPool, Postgres, Transaction};

/// Begins a transaction whose changes are made by `actor` (its JSON description).
pub(in crate::write) async fn begin(
    db: &PgPool,
    actor: &str,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("select set_config('useradmin.actor', $1, true)")
        .bind(actor)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Tells every instance listening that users or tokens changed (what the
/// triggers do for changes made without the service's context).
pub(in crate::write) async fn announce_change(db: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify('useradmin_changes', 'announced')")
        .execute(db)
        .await
        .map(|_| ())
}
