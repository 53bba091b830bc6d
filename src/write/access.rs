//! Changes of who holds what (SPEC §14): roles, groups, their members and the
//! roles granted to users and groups.
//!
//! No escalation: every change that confers permissions (granting a role,
//! adding members to a group that carries roles, giving a role more
//! permissions) is checked against what the actor holds *inside* the
//! transaction, after a lock that serialises all such changes, so two
//! parallel requests cannot combine into more than either actor holds. The
//! last-admin rule is the database's (a deferred check at commit, 0018), so it
//! holds for every path, raw SQL included.

use sqlx::PgConnection;

use super::{Actor, WriteError, WriteResult, Writer, sql::access as sql};
use crate::db::{groups::GroupRow, roles::RoleRow};
use crate::domain::{FieldErrors, Permission, PermissionSet, RoleFields, RoleName};

/// What adding (or removing) one user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberOutcome {
    Done,
    NotFound,
    AlreadyMember,
    NotMember,
}

/// Members to add and to remove in one change (SCIM's PATCH and PUT, the
/// pages, the API).
#[derive(Debug, Clone, Default)]
pub struct MemberChanges {
    pub add: Vec<i64>,
    pub remove: Vec<i64>,
    /// Every member not in `add` goes (SCIM's PUT and `replace`).
    pub replace: bool,
}

/// What a member change did, user by user, and the group after it.
#[derive(Debug)]
pub struct MemberResults {
    pub group: GroupRow,
    pub added: Vec<(i64, MemberOutcome)>,
    pub removed: Vec<(i64, MemberOutcome)>,
}

/// The actor's permissions now, within its token's scope (the command line
/// and the service itself hold every permission), read after the lock that
/// serialises changes of access; `Err` naming the first permission of `needs`
/// the actor no longer holds. The route let the request in on what the actor
/// held when it arrived: two actors who each hold a permission only through
/// the other's grant cannot both use it at once.
pub(super) async fn actor_holds(
    tx: &mut PgConnection,
    actor: &Actor,
    needs: PermissionSet,
) -> WriteResult<PermissionSet> {
    let held = sql::lock_and_read_permissions(tx, actor.admin_id)
        .await?
        .map_or(PermissionSet::ALL, |held| held.intersection(actor.scope));
    check_confers(held, needs)?;
    Ok(held)
}

/// What a change of roles needs of its actor.
const MANAGES_ROLES: PermissionSet = PermissionSet::EMPTY.with(Permission::RolesManage);

/// `Ok` when `held` includes every permission `conferred`; else the 403 naming
/// the first one missing.
pub(super) fn check_confers(held: PermissionSet, conferred: PermissionSet) -> WriteResult<()> {
    match held.first_missing(conferred) {
        None => Ok(()),
        Some(permission) => Err(WriteError::Escalation(permission)),
    }
}

/// The ids of roles named, or a 422 on `field` naming the unknown one.
pub(super) async fn resolve_roles(
    tx: &mut PgConnection,
    names: &[RoleName],
    field: &'static str,
) -> WriteResult<Vec<i64>> {
    let names: Vec<String> = names.iter().map(|n| n.as_str().to_owned()).collect();
    sql::role_ids(tx, &names).await?.map_err(|unknown| {
        WriteError::Invalid(FieldErrors::single(
            field,
            format!("{unknown:?} is not a role"),
        ))
    })
}

/// Of `new` role ids, those not in `old`.
pub(super) fn added(old: &[i64], new: &[i64]) -> Vec<i64> {
    new.iter().copied().filter(|id| !old.contains(id)).collect()
}

impl Writer {
    pub async fn create_role(&self, actor: &Actor, fields: &RoleFields) -> WriteResult<RoleRow> {
        let (Some(name), Some(permissions)) = (&fields.name, fields.permissions) else {
            return Err(WriteError::Invalid(FieldErrors::single(
                "name",
                "a role needs a name and its permissions",
            )));
        };
        let mut tx = self.begin(actor).await?;
        check_confers(
            actor_holds(&mut tx, actor, MANAGES_ROLES).await?,
            permissions,
        )?;
        let description = fields.description.as_ref().map_or("", |d| d.as_str());
        let id =
            sql::insert_role(&mut tx, name.as_str(), description, &permissions.names()).await?;
        let row = sql::find_role(&mut tx, id)
            .await?
            .ok_or(WriteError::NotFound)?;
        self.commit(tx).await?;
        Ok(row)
    }

    /// Changes a custom role; giving it permissions needs the actor to hold
    /// them (its holders gain them).
    pub async fn update_role(
        &self,
        actor: &Actor,
        id: i64,
        fields: &RoleFields,
    ) -> WriteResult<RoleRow> {
        let mut tx = self.begin(actor).await?;
        let held = actor_holds(&mut tx, actor, MANAGES_ROLES).await?;
        let role = sql::role_for_update(&mut tx, id)
            .await?
            .ok_or(WriteError::NotFound)?;
        if role.builtin {
            return Err(WriteError::Conflict(BUILTIN.into()));
        }
        if let Some(permissions) = fields.permissions {
            let gained = PermissionSet::ALL
                .intersection(permissions)
                .iter()
                .filter(|p| !role.permission_set().contains(*p))
                .collect();
            check_confers(held, gained)?;
        }
        let names = fields.permissions.map(PermissionSet::names);
        sql::update_role(
            &mut tx,
            id,
            fields.name.as_ref().map(RoleName::as_str),
            fields.description.as_ref().map(|d| d.as_str()),
            names.as_deref(),
        )
        .await?;
        let row = sql::find_role(&mut tx, id)
            .await?
            .ok_or(WriteError::NotFound)?;
        self.commit(tx).await?;
        Ok(row)
    }

    /// Deletes a custom role. One still granted is kept (409) unless `force`,
    /// which takes it from every holder first (each removal audited).
    pub async fn delete_role(&self, actor: &Actor, id: i64, force: bool) -> WriteResult<RoleRow> {
        let mut tx = self.begin(actor).await?;
        actor_holds(&mut tx, actor, MANAGES_ROLES).await?;
        let role = sql::role_for_update(&mut tx, id)
            .await?
            .ok_or(WriteError::NotFound)?;
        if role.builtin {
            return Err(WriteError::Conflict(BUILTIN.into()));
        }
        if !force && (role.user_count > 0 || role.group_count > 0) {
            return Err(WriteError::Conflict(format!(
                "the role is granted to {} and {}; delete it with ?force=true to take it from \
                 them",
                crate::domain::count(role.user_count.unsigned_abs(), "user", "users"),
                crate::domain::count(role.group_count.unsigned_abs(), "group", "groups"),
            )));
        }
        sql::delete_role(&mut tx, id).await?;
        self.commit(tx).await?;
        Ok(role)
    }

    /// Makes `roles` the user's direct roles (the roles it gains need the actor
    /// to hold their permissions). `None` when the user does not exist.
    pub async fn set_user_roles(
        &self,
        actor: &Actor,
        user_id: i64,
        roles: &[RoleName],
    ) -> WriteResult<()> {
        let mut tx = self.begin(actor).await?;
        self.set_user_roles_in(&mut tx, actor, user_id, roles)
            .await?;
        self.commit(tx).await
    }

    /// [`Writer::set_user_roles`] inside a larger change (a user's PATCH).
    pub(in crate::write) async fn set_user_roles_in(
        &self,
        tx: &mut PgConnection,
        actor: &Actor,
        user_id: i64,
        roles: &[RoleName],
    ) -> WriteResult<()> {
        let held = actor_holds(tx, actor, MANAGES_ROLES).await?;
        let ids = resolve_roles(tx, roles, "roles").await?;
        let old = sql::user_role_ids(tx, user_id)
            .await?
            .ok_or(WriteError::NotFound)?;
        let gained = sql::roles_permissions(tx, &added(&old, &ids)).await?;
        check_confers(held, gained)?;
        sql::set_user_roles(tx, user_id, &ids).await?;
        Ok(())
    }

    /// Grants one role to a user (the command line's `grant`); `false` when it
    /// held it already.
    pub async fn grant_role(
        &self,
        actor: &Actor,
        user_id: i64,
        role: &RoleName,
    ) -> WriteResult<bool> {
        self.change_one_role(actor, user_id, role, true).await
    }

    /// Takes one directly granted role from a user; `false` when it did not
    /// hold it directly.
    pub async fn revoke_role(
        &self,
        actor: &Actor,
        user_id: i64,
        role: &RoleName,
    ) -> WriteResult<bool> {
        self.change_one_role(actor, user_id, role, false).await
    }

    async fn change_one_role(
        &self,
        actor: &Actor,
        user_id: i64,
        role: &RoleName,
        grant: bool,
    ) -> WriteResult<bool> {
        let mut tx = self.begin(actor).await?;
        let held = actor_holds(&mut tx, actor, MANAGES_ROLES).await?;
        let role_id = resolve_roles(&mut tx, std::slice::from_ref(role), "role").await?[0];
        let mut ids = sql::user_role_ids(&mut tx, user_id)
            .await?
            .ok_or(WriteError::NotFound)?;
        let had = ids.contains(&role_id);
        if grant == had {
            return Ok(false);
        }
        if grant {
            check_confers(held, sql::roles_permissions(&mut tx, &[role_id]).await?)?;
            ids.push(role_id);
        } else {
            ids.retain(|id| *id != role_id);
        }
        sql::set_user_roles(&mut tx, user_id, &ids).await?;
        self.commit(tx).await?;
        Ok(true)
    }
}

/// What a member change did, user by user: (added, removed).
pub(super) type MemberOutcomes = (Vec<(i64, MemberOutcome)>, Vec<(i64, MemberOutcome)>);

/// Adds and removes members of a locked group. Anyone joining a group that
/// carries roles needs `held` to include all their permissions (else nobody
/// joins: the transaction is dropped). An id both added and removed stays.
pub(super) async fn apply_member_changes(
    tx: &mut PgConnection,
    held: PermissionSet,
    group_id: i64,
    changes: &MemberChanges,
) -> WriteResult<MemberOutcomes> {
    let status = sql::member_status(tx, group_id, &changes.add).await?;
    let added: Vec<(i64, MemberOutcome)> = dedup(&changes.add)
        .into_iter()
        .map(|id| match status.iter().find(|(user, _)| *user == id) {
            None => (id, MemberOutcome::NotFound),
            Some((_, true)) => (id, MemberOutcome::AlreadyMember),
            Some((_, false)) => (id, MemberOutcome::Done),
        })
        .collect();
    let joining: Vec<i64> = added
        .iter()
        .filter(|(_, outcome)| *outcome == MemberOutcome::Done)
        .map(|(id, _)| *id)
        .collect();
    if !joining.is_empty() {
        let roles = sql::group_role_ids(tx, group_id).await?;
        check_confers(held, sql::roles_permissions(tx, &roles).await?)?;
        sql::add_members(tx, group_id, &joining).await?;
    }
    let mut remove = changes.remove.clone();
    if changes.replace {
        remove.extend(sql::member_ids(tx, group_id).await?);
    }
    remove.retain(|id| !changes.add.contains(id));
    let remove = dedup(&remove);
    let gone = sql::remove_members(tx, group_id, &remove).await?;
    let removed = remove
        .into_iter()
        .map(|id| {
            let outcome = if gone.contains(&id) {
                MemberOutcome::Done
            } else {
                MemberOutcome::NotMember
            };
            (id, outcome)
        })
        .collect();
    Ok((added, removed))
}

/// Why a built-in role was not changed.
pub const BUILTIN: &str =
    "the built-in roles admin, helpdesk and viewer cannot be changed or deleted";

/// The group, locked, when its version is one of `expected`.
pub(super) async fn locked_group(
    tx: &mut PgConnection,
    id: i64,
    expected: Option<&[i32]>,
) -> WriteResult<GroupRow> {
    let group = sql::group_for_update(tx, id)
        .await?
        .ok_or(WriteError::NotFound)?;
    match expected {
        Some(versions) if !versions.contains(&group.version) => Err(WriteError::VersionMismatch),
        _ => Ok(group),
    }
}

/// The ids once each, in their first order.
pub(super) fn dedup(ids: &[i64]) -> Vec<i64> {
    let mut seen = Vec::with_capacity(ids.len());
    for id in ids {
        if !seen.contains(id) {
            seen.push(*id);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conferring_needs_every_permission() {
        let helpdesk: PermissionSet = [Permission::UsersRead, Permission::UsersWrite]
            .into_iter()
            .collect();
        assert!(check_confers(PermissionSet::ALL, helpdesk).is_ok());
        assert!(check_confers(helpdesk, PermissionSet::EMPTY).is_ok());
        match check_confers(helpdesk, helpdesk.with(Permission::UsersPurge)) {
            Err(WriteError::Escalation(p)) => assert_eq!(p, Permission::UsersPurge),
            other => panic!("{other:?}"),
        }
        assert_eq!(added(&[1, 2], &[2, 3, 4]), [3, 4]);
        assert_eq!(dedup(&[3, 1, 3, 2, 1]), [3, 1, 2]);
    }
}
