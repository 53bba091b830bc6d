//! Read-modify-write of a user, for a client that sends the state it wants
//! rather than the changes (SCIM's PUT and PATCH): the user is read, the
//! caller works out the changes from it, and they are written under the
//! version read.

use super::{Actor, WriteError, Writer};
use crate::db::{self, users::UserRow};
use crate::domain::{ExpectedVersion, UserChanges};

/// Times a modification without an expected version reads the user again
/// when another change landed between its read and its write.
const ATTEMPTS: usize = 3;

/// Why a modification was not made. Nothing was changed in any of these cases.
#[derive(Debug)]
pub enum ModifyError<E> {
    /// No such user (or a deleted one) when it was read.
    Missing,
    /// The caller's changes refused the user as it was read.
    Refused(E),
    Write(WriteError),
}

impl<E> From<WriteError> for ModifyError<E> {
    fn from(error: WriteError) -> Self {
        Self::Write(error)
    }
}

impl<E> From<sqlx::Error> for ModifyError<E> {
    fn from(error: sqlx::Error) -> Self {
        Self::Write(error.into())
    }
}

impl Writer {
    /// Reads the user, asks `changes` what to change from it (`None`: nothing,
    /// and the user is answered as read), and writes that under the version it
    /// read. With `expected` versions, a user at another one is refused
    /// (`VersionMismatch`); without, a change that landed in between makes it
    /// read again, a few times.
    pub async fn modify_user<E>(
        &self,
        actor: &Actor,
        id: i64,
        expected: &ExpectedVersion,
        changes: impl Fn(&UserRow) -> Result<Option<UserChanges>, E>,
    ) -> Result<UserRow, ModifyError<E>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let row = db::users::find(&self.db, id)
                .await?
                .ok_or(ModifyError::Missing)?;
            if let ExpectedVersion::OneOf(versions) = expected
                && !versions.contains(&row.version)
            {
                return Err(WriteError::VersionMismatch.into());
            }
            let Some(changes) = changes(&row).map_err(ModifyError::Refused)? else {
                return Ok(row);
            };
            let read = ExpectedVersion::OneOf(vec![row.version]);
            match self.update_user(actor, id, changes, &read, None).await {
                Err(WriteError::VersionMismatch)
                    if *expected == ExpectedVersion::Any && attempt < ATTEMPTS =>
                {
                    continue;
                }
                result => return Ok(result?),
            }
        }
    }
}
