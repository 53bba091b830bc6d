//! Two-factor login's changes, each audited with who acted (`2fa.enabled`,
//! `2fa.disabled`, `2fa.reset`, `2fa.recovery_code_used`,
//! `login.second_step_failed`), never with a secret or a code. The secret lives
//! in its own table, which no trigger audits.

use super::{Actor, ActorKind, Attempt, Via, WriteError, WriteResult, Writer};
use crate::db::{self, audit::ServiceEvent};
use crate::domain::AuditAction;

/// The account a 2FA event is about, as the trail names it.
pub struct Subject<'a> {
    pub user_id: i64,
    pub email: &'a str,
}

impl Writer {
    /// Turns a second factor on with the key the enrolling session drew: the
    /// code's step counts as used, the recovery codes' digests are stored, and
    /// every other session of the admin ends (its session epoch moves on, as a
    /// password change moves it). Answers the new epoch, for the enrolling
    /// session to keep; `None` when one was on already (another session
    /// confirmed first).
    pub async fn enable_two_factor(
        &self,
        actor: &Actor,
        subject: Subject<'_>,
        secret: &[u8],
        step: i64,
        recovery_digests: &[Vec<u8>],
    ) -> WriteResult<Option<i32>> {
        let mut tx = self.begin(actor).await?;
        if !db::two_factor::enable(&mut tx, subject.user_id, secret, step).await? {
            return Ok(None);
        }
        db::two_factor::insert_recovery_codes(&mut tx, subject.user_id, recovery_digests).await?;
        // Before the event, so what the event (and a webhook) shows of the
        // user is its state after: the epoch's update moves its version on.
        let epoch = db::users::end_sessions(&mut tx, subject.user_id).await?;
        record(&mut tx, AuditAction::TwoFactorEnabled, &subject).await?;
        // The caches must hear of the new version.
        self.commit(tx).await?;
        Ok(Some(epoch))
    }

    /// Turns one's own second factor off (the caller has checked a code).
    pub async fn disable_two_factor(&self, actor: &Actor, subject: Subject<'_>) -> WriteResult<()> {
        let mut tx = self.begin(actor).await?;
        if !db::two_factor::delete(&mut tx, subject.user_id).await? {
            return Err(WriteError::NotFound);
        }
        record(&mut tx, AuditAction::TwoFactorDisabled, &subject).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes an admin's second factor for them (another admin, or the command
    /// line); they log in with the password alone, or enrol again when
    /// `REQUIRE_2FA` asks. True when a second factor was enabled; a waiting
    /// enrolment is dropped silently.
    pub async fn reset_two_factor(&self, actor: &Actor, user_id: i64) -> WriteResult<bool> {
        let mut tx = self.begin(actor).await?;
        let account = db::users::credentials_by_id(&mut *tx, user_id)
            .await?
            .ok_or(WriteError::NotFound)?;
        let was_enabled = db::two_factor::delete(&mut tx, user_id).await?;
        if was_enabled {
            let subject = Subject {
                user_id,
                email: &account.email,
            };
            record(&mut tx, AuditAction::TwoFactorReset, &subject).await?;
        }
        tx.commit().await?;
        Ok(was_enabled)
    }

    /// Uses a recovery code up, and records that it was; false when the code is
    /// not one of the admin's unused codes.
    pub async fn use_recovery_code(
        &self,
        actor: &Actor,
        subject: Subject<'_>,
        digest: &[u8],
    ) -> WriteResult<bool> {
        let mut tx = self.begin(actor).await?;
        if !db::two_factor::use_recovery_code(&mut tx, subject.user_id, digest).await? {
            return Ok(false);
        }
        record(&mut tx, AuditAction::TwoFactorRecoveryCodeUsed, &subject).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A wrong code on the second step (or wrong format): recorded like a
    /// failed login, with the address, never the code.
    pub async fn second_step_failed(
        &self,
        subject: Subject<'_>,
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
        };
        let mut tx = self.begin(&actor).await?;
        record(&mut tx, AuditAction::LoginSecondStepFailed, &subject).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn record(
    tx: &mut sqlx::PgConnection,
    action: AuditAction,
    subject: &Subject<'_>,
) -> WriteResult<()> {
    db::audit::record(
        tx,
        ServiceEvent {
            action,
            subject_type: "user",
            subject_id: Some(subject.user_id),
            subject_label: subject.email,
            changes: serde_json::json!({}),
        },
    )
    .await?;
    Ok(())
}
