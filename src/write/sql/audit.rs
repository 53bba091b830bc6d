//! The events the service records itself (logins, logouts, 2FA, imports).
//! Only the write path can call this.

use sqlx::PgConnection;

use crate::db::audit::ServiceEvent;

pub(in crate::write) async fn record(
    tx: &mut PgConnection,
    event: ServiceEvent<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query("select audit_record($1, $2, $3, $4, $5)")
        .bind(event.action)
        .bind(event.subject_type)
        .bind(event.subject_id)
        .bind(event.subject_label)
        .bind(event.changes)
        .execute(tx)
        .await
        .map(|_| ())
}
