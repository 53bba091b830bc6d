//! Group changes asked for through `/groups` (SPEC §14), checked against what
//! the actor holds *when the change is made*.
//!
//! The route table lets a request in on the permissions its actor held when
//! it arrived. These methods check again, inside the transaction and after
//! the lock that serialises every change of access (`sql::access`), that the
//! actor still holds what the change needs (`groups.manage`, and
//! `roles.manage` to give a group roles), and that it holds every permission
//! the change confers. So two admins who each hold `groups.manage` only
//! through a group cannot remove each other at once: the second change sees
//! the first and is refused (403). The statements and the last-admin rule are
//! those of `access.rs`; this file adds the check of the actor's authority.

use sqlx::PgConnection;

use super::{
    Actor, MemberChanges, MemberOutcome, MemberResults, WriteError, WriteResult, Writer,
    sql::access as sql,
};
use crate::db::groups::GroupRow;
use crate::domain::{FieldErrors, GroupFields, PermissionSet, RoleName};

/// What the actor holds now (within its token's scope), after the lock; `Err`
/// naming the first permission of `needs` it no longer holds.
async fn authority(
    tx: &mut PgConnection,
    actor: &Actor,
    needs: PermissionSet,
) -> WriteResult<PermissionSet> {
    let held = sql::lock_and_read_permissions(tx, actor.admin_id)
        .await?
        .map_or(PermissionSet::ALL, |held| held.intersection(actor.scope));
    confers(held, needs)?;
    Ok(held)
}

/// `Ok` when `held` includes all of `wanted`; else the 403 naming the first
/// permission missing.
fn confers(held: PermissionSet, wanted: PermissionSet) -> WriteResult<()> {
    match held.first_missing(wanted) {
        None => Ok(()),
        Some(permission) => Err(WriteError::Escalation(permission)),
    }
}

/// The ids of the roles named, or a 422 on `roles` naming an unknown one.
async fn role_ids(tx: &mut PgConnection, names: &[RoleName]) -> WriteResult<Vec<i64>> {
    let names: Vec<String> = names.iter().map(|n| n.as_str().to_owned()).collect();
    sql::role_ids(tx, &names).await?.map_err(|unknown| {
        WriteError::Invalid(FieldErrors::single(
            "roles",
            format!("{unknown:?} is not a role"),
        ))
    })
}

/// Makes `names` the group's roles; the roles it gains need the actor to hold
/// their permissions (its members gain them).
async fn set_roles(
    tx: &mut PgConnection,
    held: PermissionSet,
    group_id: i64,
    names: &[RoleName],
) -> WriteResult<()> {
    let ids = role_ids(tx, names).await?;
    let old = sql::group_role_ids(tx, group_id).await?;
    let gained: Vec<i64> = ids.iter().copied().filter(|id| !old.contains(id)).collect();
    confers(held, sql::roles_permissions(tx, &gained).await?)?;
    sql::set_group_roles(tx, group_id, &ids).await?;
    Ok(())
}

/// The group, locked, when its version is one of `expected` (any when `None`).
async fn locked(tx: &mut PgConnection, id: i64, expected: Option<&[i32]>) -> WriteResult<GroupRow> {
    let group = sql::group_for_update(tx, id)
        .await?
        .ok_or(WriteError::NotFound)?;
    match expected {
        Some(versions) if !versions.contains(&group.version) => Err(WriteError::VersionMismatch),
        _ => Ok(group),
    }
}

async fn reread(tx: &mut PgConnection, id: i64) -> WriteResult<GroupRow> {
    sql::find_group(tx, id).await?.ok_or(WriteError::NotFound)
}

/// The ids once each, in their first order.
fn once_each(ids: &[i64]) -> Vec<i64> {
    let mut seen = Vec::with_capacity(ids.len());
    for id in ids {
        if !seen.contains(id) {
            seen.push(*id);
        }
    }
    seen
}

impl Writer {
    /// Creates a group, when the actor holds `needs` now (and every
    /// permission of the roles it is given).
    pub async fn create_group_holding(
        &self,
        actor: &Actor,
        needs: PermissionSet,
        fields: &GroupFields,
    ) -> WriteResult<GroupRow> {
        let Some(name) = &fields.name else {
            return Err(WriteError::Invalid(FieldErrors::single(
                "name",
                "must not be empty",
            )));
        };
        let mut tx = self.begin(actor).await?;
        let held = authority(&mut tx, actor, needs).await?;
        let description = fields.description.as_ref().map_or("", |d| d.as_str());
        let external_id = fields.external_id.as_ref().and_then(|e| e.as_ref());
        let id = sql::insert_group(
            &mut tx,
            name.as_str(),
            description,
            external_id.map(|e| e.as_str()),
        )
        .await?;
        if let Some(roles) = &fields.roles {
            set_roles(&mut tx, held, id, roles).await?;
        }
        let row = reread(&mut tx, id).await?;
        self.commit(tx).await?;
        Ok(row)
    }

    /// Changes a group's fields and roles, when its version is one of
    /// `expected` and the actor holds `needs` now.
    pub async fn update_group_holding(
        &self,
        actor: &Actor,
        needs: PermissionSet,
        id: i64,
        fields: &GroupFields,
        expected: Option<&[i32]>,
    ) -> WriteResult<GroupRow> {
        let mut tx = self.begin(actor).await?;
        let held = authority(&mut tx, actor, needs).await?;
        locked(&mut tx, id, expected).await?;
        if let Some(roles) = &fields.roles {
            set_roles(&mut tx, held, id, roles).await?;
        }
        let external_id = fields
            .external_id
            .as_ref()
            .map(|e| e.as_ref().map(|e| e.as_str()));
        if fields.name.is_some() || fields.description.is_some() || external_id.is_some() {
            sql::update_group(
                &mut tx,
                id,
                fields.name.as_ref().map(|n| n.as_str()),
                fields.description.as_ref().map(|d| d.as_str()),
                external_id,
            )
            .await?;
        }
        let row = reread(&mut tx, id).await?;
        self.commit(tx).await?;
        Ok(row)
    }

    /// Deletes a group (its members lose its roles), when its version is one
    /// of `expected` and the actor holds `needs` now.
    pub async fn delete_group_holding(
        &self,
        actor: &Actor,
        needs: PermissionSet,
        id: i64,
        expected: Option<&[i32]>,
    ) -> WriteResult<GroupRow> {
        let mut tx = self.begin(actor).await?;
        authority(&mut tx, actor, needs).await?;
        let group = locked(&mut tx, id, expected).await?;
        sql::delete_group(&mut tx, id).await?;
        self.commit(tx).await?;
        Ok(group)
    }

    /// Adds and removes members in one transaction, when the actor holds
    /// `needs` now. Adding anyone to a group that carries roles needs the
    /// actor to hold all their permissions; then nobody is added.
    pub async fn change_members_holding(
        &self,
        actor: &Actor,
        needs: PermissionSet,
        group_id: i64,
        changes: &MemberChanges,
    ) -> WriteResult<MemberResults> {
        let mut tx = self.begin(actor).await?;
        let held = authority(&mut tx, actor, needs).await?;
        locked(&mut tx, group_id, None).await?;
        let status = sql::member_status(&mut tx, group_id, &changes.add).await?;
        let added: Vec<(i64, MemberOutcome)> = once_each(&changes.add)
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
            let roles = sql::group_role_ids(&mut tx, group_id).await?;
            confers(held, sql::roles_permissions(&mut tx, &roles).await?)?;
            sql::add_members(&mut tx, group_id, &joining).await?;
        }
        let remove = once_each(&changes.remove);
        let gone = sql::remove_members(&mut tx, group_id, &remove).await?;
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
        let group = reread(&mut tx, group_id).await?;
        self.commit(tx).await?;
        Ok(MemberResults {
            group,
            added,
            removed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Permission;

    #[test]
    fn the_actor_needs_every_permission_asked_for() {
        let manage: PermissionSet = [Permission::GroupsManage, Permission::UsersRead]
            .into_iter()
            .collect();
        assert!(confers(manage, PermissionSet::EMPTY).is_ok());
        assert!(confers(manage, PermissionSet::EMPTY.with(Permission::GroupsManage)).is_ok());
        match confers(manage, manage.with(Permission::RolesManage)) {
            Err(WriteError::Escalation(p)) => assert_eq!(p, Permission::RolesManage),
            other => panic!("{other:?}"),
        }
        assert_eq!(once_each(&[3, 1, 3, 2, 1]), [3, 1, 2]);
    }
}
