//! The one write path: every change to users and tokens goes through here, from
//! the pages, the JSON API, the command line and start-up alike.
//!
//! A write is parsed before it arrives (domain types); here it is checked against
//! the stored state (the last-admin rule, `If-Match`, one's own password), its
//! password hashed off the async runtime, run in one transaction that tells the
//! database's triggers who acts, committed, and only then announced: the cache
//! generation moves on, so no instance serves what was true before.
//!
//! The statements that change something are in `sql`, visible to this
//! module alone: nothing outside it can write but through a [`Writer`].

mod access;
mod actor;
pub mod bootstrap;
mod bulk;
mod events;
mod groups;
mod import;
mod modify;
mod scim_groups;
mod sql;
mod tokens;
mod two_factor;
mod users;
mod webhooks;

pub use access::{BUILTIN, MemberChanges, MemberOutcome, MemberResults};
pub use actor::{Actor, ActorKind, Via};
pub use bulk::{BulkAction, BulkOutcome};
pub use events::Attempt;
pub use import::{ImportMode, ImportOutcome};
pub use modify::ModifyError;
pub use scim_groups::{SCIM_PROVISION, ScimGroupChange};
pub use tokens::{CreatedToken, TokenGrant};
pub use two_factor::{Enrolment, Subject};
pub use webhooks::{CreatedWebhook, WebhookChanges};

use std::sync::Arc;

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::Notify;

use crate::{auth::PasswordHasher, cache::Generation, db, domain::FieldErrors};

/// Why a write was not made. Nothing was changed in any of these cases.
/// Why the last-admin rule refused a change (SPEC §3, §9): only an active admin
/// with a password can log in, so only those count.
pub const LAST_ADMIN: &str = "the last admin cannot be disabled, deleted or demoted: no other active admin with a password would be left to log in";

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("not found")]
    NotFound,
    /// The stored version is not one the writer said it had seen.
    #[error("the record has changed since it was read")]
    VersionMismatch,
    /// Would leave no active admin with a password (see [`LAST_ADMIN`]).
    #[error("the last admin cannot be disabled, deleted or demoted")]
    LastAdmin,
    #[error("a user with this email already exists")]
    EmailTaken,
    #[error("a user with this external id already exists")]
    ExternalIdTaken,
    /// The change would confer a permission the actor does not hold (SPEC §14).
    #[error("the change needs the permission {0}")]
    Escalation(crate::domain::Permission),
    /// A name (or external id) already used by another role or group.
    #[error("{message}")]
    Taken {
        field: &'static str,
        message: &'static str,
    },
    /// The stored state refuses the change (a built-in role, a role still granted).
    #[error("{0}")]
    Conflict(String),
    /// A value the stored state refuses (e.g. a wrong current password).
    #[error("validation failed")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error("hashing a password failed: {0}")]
    Hashing(#[source] anyhow::Error),
}

impl From<sqlx::Error> for WriteError {
    fn from(error: sqlx::Error) -> Self {
        let taken = |field, message| Self::Taken { field, message };
        match db::violated_unique_constraint(&error) {
            Some("users_email_key") => return Self::EmailTaken,
            Some("users_external_id_key") => return Self::ExternalIdTaken,
            Some("roles_name_key") => return taken("name", "a role with this name already exists"),
            Some("groups_name_key") => {
                return taken("name", "a group with this name already exists");
            }
            Some("groups_external_id_key") => {
                return taken(
                    "external_id",
                    "a group with this external id already exists",
                );
            }
            _ => {}
        }
        // The database's own refusals (migration 0018): the last-admin rule at
        // commit, and the built-in roles.
        match db::error_code(&error).as_deref() {
            Some("UA409") => Self::LastAdmin,
            Some("UA403") => Self::Conflict(BUILTIN.into()),
            _ => Self::Database(error),
        }
    }
}

pub type WriteResult<T> = Result<T, WriteError>;

/// Where the webhook deliveries a write queues are sent from.
#[derive(Clone)]
enum Deliveries {
    /// This process's dispatcher.
    Here(Arc<Notify>),
    /// The running instances' (from a command): woken through the database.
    Elsewhere,
}

/// Makes every change; cheap to clone (handles inside).
#[derive(Clone)]
pub struct Writer {
    db: PgPool,
    hasher: PasswordHasher,
    generation: Generation,
    /// Who sends the webhook deliveries a write queues.
    deliveries: Deliveries,
    /// False for a batch: its commits are announced once, by [`Writer::announce`].
    announce_each: bool,
}

impl Writer {
    pub fn new(db: PgPool, hasher: PasswordHasher, generation: Generation) -> Self {
        Self {
            db,
            hasher,
            generation,
            deliveries: Deliveries::Elsewhere,
            announce_each: true,
        }
    }

    /// A writer whose process runs a webhook dispatcher, woken by `wake` after
    /// each write (rather than through the database: see migration 0011).
    pub fn with_dispatcher(self, wake: Arc<Notify>) -> Self {
        Self {
            deliveries: Deliveries::Here(wake),
            ..self
        }
    }

    /// A writer for a batch of changes (a bulk action): each is committed and
    /// audited as usual, and the caches hear of them all once, when the batch
    /// calls [`Writer::announce`].
    fn deferred(&self) -> Self {
        Self {
            announce_each: false,
            ..self.clone()
        }
    }

    /// Tells every instance (and every cache) that things changed: through
    /// Redis, or when Redis cannot be reached, through the database's
    /// notifications, so the others hear of it even if this process ends first
    /// (a command-line run).
    pub async fn announce(&self) {
        self.generation.bump().await;
        if self.generation.is_bypassed()
            && let Err(e) = sql::actor::announce_change(&self.db).await
        {
            tracing::warn!(error = %e, "could not announce a change to other instances");
        }
        match &self.deliveries {
            Deliveries::Here(wake) => wake.notify_one(),
            Deliveries::Elsewhere => {
                if let Err(e) = db::deliveries::wake_dispatchers(&self.db).await {
                    // They still look every few seconds.
                    tracing::warn!(error = %e, "could not wake the webhook dispatchers");
                }
            }
        }
    }

    /// A transaction that the triggers know `actor` makes.
    async fn begin(&self, actor: &Actor) -> WriteResult<Transaction<'static, Postgres>> {
        Ok(sql::actor::begin(&self.db, &actor.to_json()).await?)
    }

    /// Commits, then (unless in a batch) announces the change.
    async fn commit(&self, tx: Transaction<'static, Postgres>) -> WriteResult<()> {
        tx.commit().await?;
        self.committed().await;
        Ok(())
    }

    /// A change was committed (by a statement that was its own transaction):
    /// announce it, unless in a batch.
    async fn committed(&self) {
        if self.announce_each {
            self.announce().await;
        }
    }

    async fn hash(&self, password: &crate::domain::Password) -> WriteResult<String> {
        self.hasher
            .hash(password)
            .await
            .map_err(WriteError::Hashing)
    }
}
