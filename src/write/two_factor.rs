//! Two-factor login's changes, each audited with who acted (`2fa.enabled`,
//! `2fa.disabled`, `2fa.reset`, `2fa.recovery_code_used`,
//! `login.second_step_failed`), never with a secret or a code. The secret lives
//! in its own table, which no trigger audits.

use super::{Actor, ActorKind, Attempt, Via, WriteError, WriteResult, Writer, sql};
use crate::auth::{recovery_codes, totp};
use crate::db::{self, audit::ServiceEvent};
use crate::domain::AuditAction;

/// What an enrolment came to.
pub enum Enrolment {
    /// The code is not the key's code now: nothing changed.
    WrongCode,
    /// A second factor was on already (another session confirmed first).
    AlreadyOn,
    /// On: the admin's new session epoch (for the enrolling session to keep)
    /// and the recovery codes, to show once.
    On {
        epoch: i32,
        recovery_codes: Vec<String>,
    },
}

/// The account a 2FA event is about, as the trail names it.
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    pub user_id: i64,
    pub email: &'a str,
}

impl Writer {
    /// Confirms the key the enrolling session drew with the code the admin
    /// typed from it, and turns the second factor on: the code's step counts as
    /// used, fresh recovery codes are drawn (their digests stored) and every
    /// other session of the admin ends (its session epoch moves on, as a
    /// password change moves it). When the enrolment was what a login waited
    /// for (`completes`), that login is completed too.
    pub async fn enrol_two_factor(
        &self,
        actor: &Actor,
        subject: Subject<'_>,
        secret: &[u8],
        typed: &str,
        completes: Option<Attempt<'_>>,
    ) -> WriteResult<Enrolment> {
        let code: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        let Some(step) = totp::is_totp_code(&code)
            .then(|| totp::matching_step(secret, &code, totp::now()))
            .flatten()
        else {
            return Ok(Enrolment::WrongCode);
        };
        let recovery_codes = recovery_codes::generate();
        let digests: Vec<Vec<u8>> = recovery_codes
            .iter()
            .map(|code| recovery_codes::digest(&recovery_codes::normalise(code)))
            .collect();
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let Some(epoch) = self
            .enable_two_factor(actor, subject, secret, step, &digests)
            .await?
        else {
            return Ok(Enrolment::AlreadyOn);
        };
        if let Some(attempt) = completes {
            self.complete_login(subject.user_id, subject.email, attempt)
                .await?;
        }
        Ok(Enrolment::On {
            epoch,
            recovery_codes,
        })
    }

    /// Turns a second factor on with the key the enrolling session drew and
    /// the step of its confirming code. Answers the new session epoch, for the
    /// enrolling session to keep; `None` when one was on already (another
    /// session confirmed first).
    async fn enable_two_factor(
        &self,
        actor: &Actor,
        subject: Subject<'_>,
        secret: &[u8],
        step: i64,
        recovery_digests: &[Vec<u8>],
    ) -> WriteResult<Option<i32>> {
        let mut tx = self.begin(actor).await?;
        if !sql::two_factor::enable(&mut tx, subject.user_id, secret, step).await? {
            return Ok(None);
        }
        sql::two_factor::insert_recovery_codes(&mut tx, subject.user_id, recovery_digests).await?;
        // Before the event, so what the event (and a webhook) shows of the
        // user is its state after: the epoch's update moves its version on.
        let epoch = sql::users::end_sessions(&mut tx, subject.user_id).await?;
        record(&mut tx, AuditAction::TwoFactorEnabled, &subject).await?;
        // The caches must hear of the new version.
        self.commit(tx).await?;
        Ok(Some(epoch))
    }

    /// The second step of a login: a right code (used up now) completes the
    /// login; a wrong one is recorded like a failed login. True when the login
    /// is complete.
    pub async fn second_step(
        &self,
        actor: &Actor,
        subject: Subject<'_>,
        secret: &[u8],
        typed: &str,
        attempt: Attempt<'_>,
    ) -> WriteResult<bool> {
        if !self.use_code(actor, subject, secret, typed).await? {
            self.second_step_failed(subject, attempt).await?;
            return Ok(false);
        }
        self.complete_login(subject.user_id, subject.email, attempt)
            .await?;
        Ok(true)
    }

    /// Turns one's own second factor off with a right code (used up now);
    /// false, with nothing changed, when the code is not right.
    pub async fn disable_two_factor(
        &self,
        actor: &Actor,
        subject: Subject<'_>,
        secret: &[u8],
        typed: &str,
    ) -> WriteResult<bool> {
        if !self.use_code(actor, subject, secret, typed).await? {
            return Ok(false);
        }
        let mut tx = self.begin(actor).await?;
        if !sql::two_factor::delete(&mut tx, subject.user_id).await? {
            return Err(WriteError::NotFound);
        }
        record(&mut tx, AuditAction::TwoFactorDisabled, &subject).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Whether `typed` is a right code, used up now: a TOTP code of a step
    /// later than any accepted before (one atomic update), or an unused
    /// recovery code.
    async fn use_code(
        &self,
        actor: &Actor,
        subject: Subject<'_>,
        secret: &[u8],
        typed: &str,
    ) -> WriteResult<bool> {
        let code: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if totp::is_totp_code(&code) {
            let Some(step) = totp::matching_step(secret, &code, totp::now()) else {
                return Ok(false);
            };
            let step = i64::try_from(step).unwrap_or(i64::MAX);
            return self.accept_step(subject.user_id, step).await;
        }
        let code = recovery_codes::normalise(typed);
        if !recovery_codes::looks_like_one(&code) {
            return Ok(false);
        }
        let digest = recovery_codes::digest(&code);
        self.use_recovery_code(actor, subject, &digest).await
    }

    /// Accepts the TOTP code of `step` if no code of this or a later step was
    /// accepted before (so a code seen once cannot be replayed). Bookkeeping
    /// of the second factor, on its own: not audited, announced to nobody.
    async fn accept_step(&self, user_id: i64, step: i64) -> WriteResult<bool> {
        Ok(sql::two_factor::accept_step(&self.db, user_id, step).await?)
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
        let was_enabled = sql::two_factor::delete(&mut tx, user_id).await?;
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
    async fn use_recovery_code(
        &self,
        actor: &Actor,
        subject: Subject<'_>,
        digest: &[u8],
    ) -> WriteResult<bool> {
        let mut tx = self.begin(actor).await?;
        if !sql::two_factor::use_recovery_code(&mut tx, subject.user_id, digest).await? {
            return Ok(false);
        }
        record(&mut tx, AuditAction::TwoFactorRecoveryCodeUsed, &subject).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A wrong code on the second step (or wrong format): recorded like a
    /// failed login, with the address, never the code.
    async fn second_step_failed(
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
            scope: crate::domain::PermissionSet::ALL,
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
    sql::audit::record(
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
