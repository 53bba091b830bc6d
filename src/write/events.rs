//! The events the service records itself: logins and logouts change no row, so
//! no trigger sees them. A failed login records the email tried and
//! the address, never the password.

use super::{Actor, ActorKind, Via, WriteResult, Writer, sql};
use crate::{db::audit::ServiceEvent, domain::AuditAction};

/// Where a login attempt came from.
pub struct Attempt<'a> {
    pub email: &'a str,
    pub request_id: Option<String>,
    pub client_ip: String,
}

impl Writer {
    /// The database's part of a login that completes, whichever way it does
    /// (the password alone, the second step, or the enrolment a login
    /// required): the time of the login stamped on the account, and the
    /// `login.succeeded` event. The session's part is
    /// `AdminSession::complete_login`.
    pub async fn complete_login(
        &self,
        user_id: i64,
        email: &str,
        attempt: Attempt<'_>,
    ) -> WriteResult<()> {
        let actor = Actor {
            kind: ActorKind::Admin,
            id: Some(user_id),
            label: email.to_owned(),
            via: Via::Session,
            request_id: attempt.request_id,
            client_ip: Some(attempt.client_ip),
            admin_id: Some(user_id),
            scope: crate::domain::PermissionSet::ALL,
        };
        let mut tx = self.begin(&actor).await?;
        sql::users::logged_in(&mut tx, user_id).await?;
        record_in(&mut tx, AuditAction::LoginSucceeded, Some(user_id), email).await?;
        // The time of the login shows in lists.
        self.commit(tx).await
    }

    /// `user_id`: the account the email names, if any.
    pub async fn login_failed(
        &self,
        user_id: Option<i64>,
        attempt: Attempt<'_>,
    ) -> WriteResult<()> {
        let actor = Actor {
            kind: ActorKind::System,
            id: None,
            label: "login form".into(),
            via: Via::Session,
            request_id: attempt.request_id,
            client_ip: Some(attempt.client_ip),
            admin_id: None,
            scope: crate::domain::PermissionSet::ALL,
        };
        self.record(&actor, AuditAction::LoginFailed, user_id, attempt.email)
            .await
    }

    pub async fn logged_out(&self, actor: &Actor) -> WriteResult<()> {
        self.record(actor, AuditAction::Logout, actor.admin_id, &actor.label)
            .await
    }

    async fn record(
        &self,
        actor: &Actor,
        action: AuditAction,
        user_id: Option<i64>,
        label: &str,
    ) -> WriteResult<()> {
        let mut tx = self.begin(actor).await?;
        record_in(&mut tx, action, user_id, label).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn record_in(
    tx: &mut sqlx::PgConnection,
    action: AuditAction,
    user_id: Option<i64>,
    label: &str,
) -> WriteResult<()> {
    sql::audit::record(
        tx,
        ServiceEvent {
            action,
            subject_type: "user",
            subject_id: user_id,
            subject_label: label,
            changes: serde_json::json!({}),
        },
    )
    .await?;
    Ok(())
}
