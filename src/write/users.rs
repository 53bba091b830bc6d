//! Changes to users.

use sqlx::PgConnection;

use super::{Actor, WriteError, WriteResult, Writer, sql};
use crate::db::{
    self,
    users::{NewUserRecord, UserChangesRecord, UserRow, WriteOutcome},
};
use crate::domain::{
    DisabledReason, ExpectedVersion, ExternalId, FieldErrors, NewUser, Password, ScimProfile,
    UserChanges, UserEmail, UserName, UserStatus,
};

impl Writer {
    /// Creates a user; granting it roles (or `is_admin`) happens in the same
    /// transaction, and needs the actor to hold what they confer.
    pub async fn create_user(&self, actor: &Actor, user: NewUser) -> WriteResult<UserRow> {
        let password_hash = self.hash_if_set(user.password.as_ref()).await?;
        let roles = user.initial_roles();
        let record = NewUserRecord {
            name: user.name.as_str(),
            email: user.email.as_str(),
            // The admin role, if asked for, is granted with the others.
            is_admin: false,
            password_hash,
            external_id: user.external_id.as_ref().map(ExternalId::as_str),
            status: user.status,
            disabled_reason: user.disabled_reason.as_ref().map(DisabledReason::as_str),
            scim_profile: user.scim_profile.as_ref().and_then(ScimProfile::to_stored),
        };
        let Some(roles) = roles else {
            let row = sql::users::insert_as(&self.db, &actor.to_json(), record).await?;
            self.committed().await;
            return Ok(row);
        };
        let mut tx = self.begin(actor).await?;
        let created = sql::users::insert_as(&mut *tx, &actor.to_json(), record).await?;
        self.set_user_roles_in(&mut tx, actor, created.id, &roles)
            .await?;
        let row = reread(&mut tx, created.id).await?;
        self.commit(tx).await?;
        Ok(row)
    }

    /// Applies `changes` when the stored version is one `expected` allows. Setting
    /// one's own password needs `current_password` to be the current one.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: i64,
        changes: UserChanges,
        expected: &ExpectedVersion,
        current_password: Option<String>,
    ) -> WriteResult<UserRow> {
        if changes.password.is_some() && actor.is_admin(id) {
            self.confirm_current_password(id, current_password).await?;
        }
        let password_hash = self.hash_if_set(changes.password.as_ref()).await?;
        let mut tx = self.begin(actor).await?;
        let outcome = sql::users::update(
            &mut tx,
            id,
            UserChangesRecord {
                name: changes.name.as_ref().map(UserName::as_str),
                email: changes.email.as_ref().map(UserEmail::as_str),
                // `is_admin` is the direct admin role: granted or taken below,
                // with the other roles, under the escalation check.
                is_admin: None,
                password_hash,
                status: changes.status,
                disabled_reason: changes.disabled_reason.as_ref().map(DisabledReason::as_str),
                external_id: changes
                    .external_id
                    .as_ref()
                    .map(|id| id.as_ref().map(ExternalId::as_str)),
                scim_profile: changes
                    .scim_profile
                    .as_ref()
                    .map(|profile| profile.as_ref().and_then(ScimProfile::to_stored)),
            },
            expected.versions(),
        )
        .await?;
        // In the same transaction: a refused grant leaves the rest unchanged too.
        let outcome = match outcome {
            WriteOutcome::Done(row) => match changes.direct_roles(&row.roles) {
                Some(roles) => {
                    self.set_user_roles_in(&mut tx, actor, id, &roles).await?;
                    WriteOutcome::Done(reread(&mut tx, id).await?)
                }
                None => WriteOutcome::Done(row),
            },
            other => other,
        };
        self.conclude(tx, outcome).await
    }

    /// Deletes softly: the user leaves every list, its email is free again, and
    /// it can be restored until it is purged.
    pub async fn delete_user(
        &self,
        actor: &Actor,
        id: i64,
        expected: &ExpectedVersion,
    ) -> WriteResult<UserRow> {
        let mut tx = self.begin(actor).await?;
        let outcome = sql::users::delete(&mut tx, id, expected.versions()).await?;
        self.conclude(tx, outcome).await
    }

    /// Locks the account out: it cannot log in, its sessions end and its tokens
    /// are revoked at once, on every instance.
    pub async fn disable_user(
        &self,
        actor: &Actor,
        id: i64,
        reason: &DisabledReason,
        expected: &ExpectedVersion,
    ) -> WriteResult<UserRow> {
        let changes = UserChanges {
            status: Some(UserStatus::Disabled),
            disabled_reason: Some(reason.clone()),
            ..UserChanges::default()
        };
        self.update_user(actor, id, changes, expected, None).await
    }

    /// Lets the account log in again; nothing that disabling ended comes back.
    pub async fn enable_user(
        &self,
        actor: &Actor,
        id: i64,
        expected: &ExpectedVersion,
    ) -> WriteResult<UserRow> {
        let changes = UserChanges {
            status: Some(UserStatus::Active),
            ..UserChanges::default()
        };
        self.update_user(actor, id, changes, expected, None).await
    }

    /// Brings a deleted user back; `EmailTaken` when its email was reused.
    pub async fn restore_user(&self, actor: &Actor, id: i64) -> WriteResult<UserRow> {
        let mut tx = self.begin(actor).await?;
        let outcome = sql::users::restore(&mut tx, id).await?;
        self.conclude(tx, outcome).await
    }

    /// Removes a user for good, deleted or not, and erases its name and email
    /// from its audit events.
    pub async fn purge_user(&self, actor: &Actor, id: i64) -> WriteResult<()> {
        let mut tx = self.begin(actor).await?;
        match sql::users::purge(&mut tx, id).await? {
            WriteOutcome::Done(()) => self.commit(tx).await,
            WriteOutcome::LastAdmin => Err(WriteError::LastAdmin),
            _ => Err(WriteError::NotFound),
        }
    }

    /// An admin changes their own password; the current one is needed. Returns
    /// the account's new session epoch (its other sessions have ended).
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        id: i64,
        current_password: String,
        new_password: &Password,
    ) -> WriteResult<i32> {
        self.confirm_current_password(id, Some(current_password))
            .await?;
        let hash = self.hash(new_password).await?;
        let mut tx = self.begin(actor).await?;
        let epoch = sql::users::set_password(&mut tx, id, &hash).await?;
        self.commit(tx).await?;
        Ok(epoch)
    }

    /// Makes `email` an admin with this password: creates the user or promotes
    /// an existing one. True when it was created.
    pub async fn make_admin(
        &self,
        actor: &Actor,
        name: &UserName,
        email: &UserEmail,
        password: &Password,
    ) -> WriteResult<bool> {
        let hash = self.hash(password).await?;
        let mut tx = self.begin(actor).await?;
        let created =
            sql::users::upsert_admin(&mut tx, name.as_str(), email.as_str(), &hash).await?;
        self.commit(tx).await?;
        Ok(created)
    }

    /// Creates the first admin unless an admin exists; true when it did. Several
    /// instances starting at once create one (the check and the insert run under
    /// a lock).
    pub async fn create_first_admin(
        &self,
        name: &UserName,
        email: &UserEmail,
        password: &Password,
    ) -> WriteResult<bool> {
        let mut tx = self.begin(&Actor::system()).await?;
        if sql::users::lock_for_first_admin(&mut tx).await? {
            return Ok(false);
        }
        // Hashed under the lock: only on a first start, and never for nothing.
        let hash = self.hash(password).await?;
        sql::users::upsert_admin(&mut tx, name.as_str(), email.as_str(), &hash).await?;
        self.commit(tx).await?;
        Ok(true)
    }

    /// Whether `current_password` is the admin's own (for a form that reports
    /// every error at once); changing it checks again.
    pub async fn confirm_current_password(
        &self,
        id: i64,
        current_password: Option<String>,
    ) -> WriteResult<()> {
        let Some(current_password) = current_password.filter(|p| !p.is_empty()) else {
            return Err(WriteError::Invalid(FieldErrors::single(
                "current_password",
                "is required to change your own password",
            )));
        };
        let stored = db::users::credentials_by_id(&self.db, id)
            .await?
            .ok_or(WriteError::NotFound)?
            .password_hash;
        let matches = self
            .hasher
            .verify(current_password, stored)
            .await
            .map_err(WriteError::Hashing)?;
        if matches {
            Ok(())
        } else {
            Err(WriteError::Invalid(FieldErrors::single(
                "current_password",
                "is not your current password",
            )))
        }
    }

    async fn hash_if_set(&self, password: Option<&Password>) -> WriteResult<Option<String>> {
        match password {
            Some(password) => Ok(Some(self.hash(password).await?)),
            None => Ok(None),
        }
    }

    /// Commits a conditional write that was made, and says why one was not.
    /// The last-admin rule may still refuse it at commit (409).
    async fn conclude(
        &self,
        tx: sqlx::Transaction<'static, sqlx::Postgres>,
        outcome: WriteOutcome<UserRow>,
    ) -> WriteResult<UserRow> {
        match outcome {
            WriteOutcome::Done(row) => {
                self.commit(tx).await?;
                Ok(row)
            }
            WriteOutcome::NotFound => Err(WriteError::NotFound),
            WriteOutcome::VersionMismatch => Err(WriteError::VersionMismatch),
            WriteOutcome::LastAdmin => Err(WriteError::LastAdmin),
            WriteOutcome::EmailTaken => Err(WriteError::EmailTaken),
        }
    }
}

/// The user as the transaction sees it now (after a change of its roles,
/// which moves `is_admin`, `roles` and `permissions`).
async fn reread(tx: &mut PgConnection, id: i64) -> WriteResult<UserRow> {
    sqlx::query_as(concat!(
        "select ",
        crate::db::users::columns!(),
        " from users where id = $1"
    ))
    .bind(id)
    .fetch_optional(tx)
    .await?
    .ok_or(WriteError::NotFound)
}
