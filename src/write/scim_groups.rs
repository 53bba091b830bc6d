//! Groups as SCIM writes them (SPEC §14): a group's name, external id and
//! members, in one transaction per request, so a PUT or PATCH that cannot be
//! made whole (an unknown member, an escalation, the last admin) changes
//! nothing. A SCIM client never changes a group's roles: nothing here can.

use sqlx::PgConnection;

use super::{Actor, MemberChanges, WriteError, WriteResult, Writer, sql::access as sql};
use crate::db::groups::GroupRow;
use crate::domain::{ExternalId, FieldErrors, GroupName, PermissionSet};

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
        let held = actor_holds(&mut tx, actor).await?;
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
        let held = actor_holds(&mut tx, actor).await?;
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

/// The actor's permissions now, within its token's scope (the command line
/// holds every permission), after the lock that serialises changes of who
/// holds what.
async fn actor_holds(tx: &mut PgConnection, actor: &Actor) -> WriteResult<PermissionSet> {
    let held = sql::lock_and_read_permissions(tx, actor.admin_id).await?;
    Ok(held.map_or(PermissionSet::ALL, |held| held.intersection(actor.scope)))
}

/// Adds and removes members. Every id added must be a user (else a 422 on
/// `members` naming it, and nothing changes); anyone joining a group that
/// carries roles needs the actor to hold all their permissions.
async fn apply_members(
    tx: &mut PgConnection,
    held: PermissionSet,
    group_id: i64,
    changes: &MemberChanges,
) -> WriteResult<()> {
    let status = sql::member_status(tx, group_id, &changes.add).await?;
    if let Some(unknown) = changes
        .add
        .iter()
        .find(|id| !status.iter().any(|(user, _)| user == *id))
    {
        return Err(WriteError::Invalid(FieldErrors::single(
            "members",
            format!("value \"{unknown}\" is not a user"),
        )));
    }
    let joining: Vec<i64> = status
        .iter()
        .filter(|(_, member)| !member)
        .map(|(id, _)| *id)
        .collect();
    if !joining.is_empty() {
        let roles = sql::group_role_ids(tx, group_id).await?;
        let conferred = sql::roles_permissions(tx, &roles).await?;
        if let Some(permission) = held.first_missing(conferred) {
            return Err(WriteError::Escalation(permission));
        }
        sql::add_members(tx, group_id, &joining).await?;
    }
    let mut remove: Vec<i64> = changes
        .remove
        .iter()
        .copied()
        .filter(|id| !changes.add.contains(id))
        .collect();
    if changes.replace {
        let current = sql::member_ids(tx, group_id).await?;
        remove.extend(current.into_iter().filter(|id| !changes.add.contains(id)));
    }
    if !remove.is_empty() {
        sql::remove_members(tx, group_id, &remove).await?;
    }
    Ok(())
}
