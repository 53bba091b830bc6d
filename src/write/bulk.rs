//! Bulk actions: one action over many users, each change committed and
//! audited on its own, and the caches told once, at the end.

use super::{Actor, WriteError, WriteResult, Writer};
use crate::domain::{DisabledReason, ExpectedVersion, UserChanges};

/// What a bulk action does to each user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    Disable,
    Enable,
    Delete,
    Restore,
    Promote,
    Demote,
}

impl BulkAction {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "disable" => Self::Disable,
            "enable" => Self::Enable,
            "delete" => Self::Delete,
            "restore" => Self::Restore,
            "promote" => Self::Promote,
            "demote" => Self::Demote,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Enable => "enable",
            Self::Delete => "delete",
            Self::Restore => "restore",
            Self::Promote => "promote",
            Self::Demote => "demote",
        }
    }
}

/// What the action came to for one user. Nothing was changed for any but
/// `Done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkOutcome {
    Done,
    NotFound,
    /// It would have left no active admin with a password.
    LastAdmin,
    /// A deleted user's email was taken meanwhile (a restore).
    EmailTaken,
}

impl Writer {
    /// Runs `action` over `ids`, in order, with any stored version: each
    /// change is committed and audited on its own, and the caches hear of
    /// them all once, at the end. One outcome per id, in the same order. An
    /// error other than a refused row (the database going away) ends the
    /// batch; what was done until then is announced all the same.
    pub async fn bulk(
        &self,
        actor: &Actor,
        action: BulkAction,
        ids: &[i64],
        reason: &DisabledReason,
    ) -> WriteResult<Vec<BulkOutcome>> {
        let batch = self.deferred();
        let mut outcomes = Vec::with_capacity(ids.len());
        for &id in ids {
            let outcome = match batch.bulk_one(actor, action, id, reason).await {
                Ok(()) => BulkOutcome::Done,
                Err(WriteError::NotFound) => BulkOutcome::NotFound,
                Err(WriteError::LastAdmin) => BulkOutcome::LastAdmin,
                Err(WriteError::EmailTaken) => BulkOutcome::EmailTaken,
                Err(other) => {
                    batch.announce().await;
                    return Err(other);
                }
            };
            outcomes.push(outcome);
        }
        batch.announce().await;
        Ok(outcomes)
    }

    async fn bulk_one(
        &self,
        actor: &Actor,
        action: BulkAction,
        id: i64,
        reason: &DisabledReason,
    ) -> WriteResult<()> {
        let any = &ExpectedVersion::Any;
        match action {
            BulkAction::Disable => self.disable_user(actor, id, reason, any).await?,
            BulkAction::Enable => self.enable_user(actor, id, any).await?,
            BulkAction::Delete => self.delete_user(actor, id, any).await?,
            BulkAction::Restore => self.restore_user(actor, id).await?,
            BulkAction::Promote | BulkAction::Demote => {
                let changes = UserChanges {
                    is_admin: Some(action == BulkAction::Promote),
                    ..UserChanges::default()
                };
                self.update_user(actor, id, changes, any, None).await?
            }
        };
        Ok(())
    }
}
