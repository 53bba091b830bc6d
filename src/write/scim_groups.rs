//! Groups as SCIM writes them (SPEC §14): a group's name, external id and
//! members, in one transaction per request, so a PUT or PATCH that cannot be
//! made whole (an unknown member, an escalation, the last admin) changes
//! nothing. A SCIM client never changes a group's roles: nothing here can.

use sqlx::PgConnection;

use super::access::{actor_holds, apply_member_changes};
use super::{
    Actor, MemberChanges, MemberOutcome, WriteError, WriteResult, Writer, sql::access as sql,
};
use crate::db::groups::GroupRow;
use crate::domain::{ExternalId, FieldErrors, GroupName, Permission, PermissionSet};

/// What every SCIM change needs of its actor, checked again inside the write.
pub const SCIM_PROVISION: PermissionSet = PermissionSet::EMPTY.with(Permission::ScimProvision);

/// What a SCIM replace or patch changes (`None` keeps a field;
/// `external_id: Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct ScimGroupChange {
    pub name: Option<GroupName>,
    pub external_id: Option<Option<ExternalId>>,
    pub members: MemberChanges,
}

impl Writer {
    /// A new group with these members and no roles.
    pub async fn create_scim_group(
        &self,
        actor: &Actor,
        name: &GroupName,
        external_id: Option<&ExternalId>,
        members: &[i64],
    ) -> WriteResult<GroupRow> {
        let mut tx = self.begin(actor).await?;
        let held = actor_holds(&mut tx, actor, SCIM_PROVISION).await?;
        let id = sql::insert_group(
            &mut tx,
            name.as_str(),
            "",
            external_id.map(ExternalId::as_str),
        )
        .await?;
        let changes = MemberChanges {
            add: members.to_vec(),
            ..MemberChanges::default()
        };
        apply_members(&mut tx, held, id, &changes).await?;
        let row = sql::find_group(&mut tx, id)
            .await?
            .ok_or(WriteError::NotFound)?;
        self.commit(tx).await?;
        Ok(row)
    }

    /// Changes a group's name, external id and members at once, when its
    /// version is one of `expected` (any when `None`).
    pub async fn change_scim_group(
        &self,
        actor: &Actor,
        id: i64,
        change: &ScimGroupChange,
        expected: Option<&[i32]>,
    ) -> WriteResult<GroupRow> {
        let mut tx = self.begin(actor).await?;
        let held = actor_holds(&mut tx, actor, SCIM_PROVISION).await?;
        let group = sql::group_for_update(&mut tx, id)
            .await?
            .ok_or(WriteError::NotFound)?;
        if expected.is_some_and(|versions| !versions.contains(&group.version)) {
            return Err(WriteError::VersionMismatch);
        }
        let name = change
            .name
            .as_ref()
            .map(GroupName::as_str)
            .filter(|name| *name != group.name);
        let external_id = change
            .external_id
            .as_ref()
            .map(|e| e.as_ref().map(ExternalId::as_str))
            .filter(|e| *e != group.external_id.as_deref());
        if name.is_some() || external_id.is_some() {
            sql::update_group(&mut tx, id, name, None, external_id).await?;
        }
        apply_members(&mut tx, held, id, &change.members).await?;
        let row = sql::find_group(&mut tx, id)
            .await?
            .ok_or(WriteError::NotFound)?;
        self.commit(tx).await?;
        Ok(row)
    }
}

/// Adds and removes members. Every id added must be a user (else a 422 on
/// `members` naming it, and nothing changes: the transaction is dropped).
async fn apply_members(
    tx: &mut PgConnection,
    held: PermissionSet,
    group_id: i64,
    changes: &MemberChanges,
) -> WriteResult<()> {
    let (added, _) = apply_member_changes(tx, held, group_id, changes).await?;
    match added
        .iter()
        .find(|(_, outcome)| *outcome == MemberOutcome::NotFound)
    {
        Some((unknown, _)) => Err(WriteError::Invalid(FieldErrors::single(
            "members",
            format!("value \"{unknown}\" is not a user"),
        ))),
        None => Ok(()),
    }
}
