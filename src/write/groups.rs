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

use super::access::{
    actor_holds, apply_member_changes, check_confers, locked_group, resolve_roles,
};
use super::{
    Actor, MemberChanges, MemberResults, WriteError, WriteResult, Writer, sql::access as sql,
};
use crate::db::groups::GroupRow;
use crate::domain::{FieldErrors, GroupFields, PermissionSet, RoleName};

/// Makes `names` the group's roles; the roles it gains need the actor to hold
/// their permissions (its members gain them).
async fn set_roles(
    tx: &mut PgConnection,
    held: PermissionSet,
    group_id: i64,
    names: &[RoleName],
) -> WriteResult<()> {
    let ids = resolve_roles(tx, names, "roles").await?;
    let old = sql::group_role_ids(tx, group_id).await?;
    let gained = super::access::added(&old, &ids);
    check_confers(held, sql::roles_permissions(tx, &gained).await?)?;
    sql::set_group_roles(tx, group_id, &ids).await?;
    Ok(())
}

async fn reread(tx: &mut PgConnection, id: i64) -> WriteResult<GroupRow> {
    sql::find_group(tx, id).await?.ok_or(WriteError::NotFound)
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
        let held = actor_holds(&mut tx, actor, needs).await?;
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
        let held = actor_holds(&mut tx, actor, needs).await?;
        locked_group(&mut tx, id, expected).await?;
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
        actor_holds(&mut tx, actor, needs).await?;
        let group = locked_group(&mut tx, id, expected).await?;
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
        let held = actor_holds(&mut tx, actor, needs).await?;
        locked_group(&mut tx, group_id, None).await?;
        let (added, removed) = apply_member_changes(&mut tx, held, group_id, changes).await?;
        let group = reread(&mut tx, group_id).await?;
        self.commit(tx).await?;
        Ok(MemberResults {
            group,
            added,
            removed,
        })
    }
}
