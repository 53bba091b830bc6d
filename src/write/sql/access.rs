//! The statements that change roles, groups, memberships and grants (SPEC
//! §14). The database keeps `users.is_admin`, the audit trail and the
//! last-admin rule (migration 0018); these statements only change the rows.

use sqlx::PgConnection;

use crate::db::{
    groups::{GroupRow, group_columns},
    roles::{RoleRow, role_columns},
};
use crate::domain::PermissionSet;

/// Serialises every change of who holds what, and returns what `user_id` holds
/// now: an escalation check made after this lock sees every earlier change
/// committed, and no other change of access runs until this one commits.
pub(in crate::write) async fn lock_and_read_permissions(
    tx: &mut PgConnection,
    user_id: Option<i64>,
) -> Result<Option<PermissionSet>, sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtext('useradmin.access'))")
        .execute(&mut *tx)
        .await?;
    let Some(user_id) = user_id else {
        return Ok(None);
    };
    let names: Vec<String> = sqlx::query_scalar("select user_permissions($1)")
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
    Ok(Some(PermissionSet::parse_known(&names)))
}

/// The permissions of these roles together.
pub(in crate::write) async fn roles_permissions(
    tx: &mut PgConnection,
    role_ids: &[i64],
) -> Result<PermissionSet, sqlx::Error> {
    let names: Vec<String> =
        sqlx::query_scalar("select distinct unnest(permissions) from roles where id = any($1)")
            .bind(role_ids)
            .fetch_all(tx)
            .await?;
    Ok(PermissionSet::parse_known(&names))
}

/// The ids of the roles with these names (any case); `Err` names the first
/// unknown one.
pub(in crate::write) async fn role_ids(
    tx: &mut PgConnection,
    names: &[String],
) -> Result<Result<Vec<i64>, String>, sqlx::Error> {
    let found: Vec<(String, Option<i64>)> = sqlx::query_as(
        "select n.name, r.id from unnest($1::text[]) with ordinality as n(name, ord) \
         left join roles r on lower(r.name) = lower(n.name) order by n.ord",
    )
    .bind(names)
    .fetch_all(tx)
    .await?;
    let mut ids = Vec::with_capacity(found.len());
    for (name, id) in found {
        match id {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => return Ok(Err(name)),
        }
    }
    Ok(Ok(ids))
}

pub(in crate::write) async fn insert_role(
    tx: &mut PgConnection,
    name: &str,
    description: &str,
    permissions: &[String],
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into roles (name, description, permissions) values ($1, $2, $3) returning id",
    )
    .bind(name)
    .bind(description)
    .bind(permissions)
    .fetch_one(tx)
    .await
}

/// The role, locked for the change.
pub(in crate::write) async fn role_for_update(
    tx: &mut PgConnection,
    id: i64,
) -> Result<Option<RoleRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        role_columns!(),
        " from roles r where r.id = $1 for update of r"
    ))
    .bind(id)
    .fetch_optional(tx)
    .await
}

pub(in crate::write) async fn update_role(
    tx: &mut PgConnection,
    id: i64,
    name: Option<&str>,
    description: Option<&str>,
    permissions: Option<&[String]>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update roles set name = coalesce($2, name), description = coalesce($3, description), \
         permissions = coalesce($4, permissions) where id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(permissions)
    .execute(tx)
    .await
    .map(|_| ())
}

/// Takes the role from every user and group that holds it, then deletes it.
pub(in crate::write) async fn delete_role(
    tx: &mut PgConnection,
    id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from user_roles where role_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from group_roles where role_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from roles where id = $1")
        .bind(id)
        .execute(tx)
        .await
        .map(|_| ())
}

pub(in crate::write) async fn find_role(
    tx: &mut PgConnection,
    id: i64,
) -> Result<Option<RoleRow>, sqlx::Error> {
    crate::db::roles::find(tx, id).await
}

/// A user's direct roles' ids, locking the user's row (the user must be live).
pub(in crate::write) async fn user_role_ids(
    tx: &mut PgConnection,
    user_id: i64,
) -> Result<Option<Vec<i64>>, sqlx::Error> {
    let live: Option<i64> =
        sqlx::query_scalar("select id from users where id = $1 and deleted_at is null for update")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    if live.is_none() {
        return Ok(None);
    }
    sqlx::query_scalar("select role_id from user_roles where user_id = $1 order by role_id")
        .bind(user_id)
        .fetch_all(tx)
        .await
        .map(Some)
}

/// Makes `role_ids` the user's direct roles.
pub(in crate::write) async fn set_user_roles(
    tx: &mut PgConnection,
    user_id: i64,
    role_ids: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from user_roles where user_id = $1 and role_id <> all($2)")
        .bind(user_id)
        .bind(role_ids)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into user_roles (user_id, role_id) select $1, unnest($2::bigint[]) \
         on conflict do nothing",
    )
    .bind(user_id)
    .bind(role_ids)
    .execute(tx)
    .await
    .map(|_| ())
}

pub(in crate::write) async fn insert_group(
    tx: &mut PgConnection,
    name: &str,
    description: &str,
    external_id: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "insert into groups (name, description, external_id) values ($1, $2, $3) returning id",
    )
    .bind(name)
    .bind(description)
    .bind(external_id)
    .fetch_one(tx)
    .await
}

/// The group, locked for the change.
pub(in crate::write) async fn group_for_update(
    tx: &mut PgConnection,
    id: i64,
) -> Result<Option<GroupRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        group_columns!(),
        " from groups g where g.id = $1 for update of g"
    ))
    .bind(id)
    .fetch_optional(tx)
    .await
}

pub(in crate::write) async fn find_group(
    tx: &mut PgConnection,
    id: i64,
) -> Result<Option<GroupRow>, sqlx::Error> {
    crate::db::groups::find(tx, id).await
}

pub(in crate::write) async fn update_group(
    tx: &mut PgConnection,
    id: i64,
    name: Option<&str>,
    description: Option<&str>,
    external_id: Option<Option<&str>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update groups set name = coalesce($2, name), description = coalesce($3, description), \
         external_id = case when $4 then $5 else external_id end where id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(external_id.is_some())
    .bind(external_id.flatten())
    .execute(tx)
    .await
    .map(|_| ())
}

pub(in crate::write) async fn group_role_ids(
    tx: &mut PgConnection,
    group_id: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("select role_id from group_roles where group_id = $1 order by role_id")
        .bind(group_id)
        .fetch_all(tx)
        .await
}

pub(in crate::write) async fn set_group_roles(
    tx: &mut PgConnection,
    group_id: i64,
    role_ids: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from group_roles where group_id = $1 and role_id <> all($2)")
        .bind(group_id)
        .bind(role_ids)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "insert into group_roles (group_id, role_id) select $1, unnest($2::bigint[]) \
         on conflict do nothing",
    )
    .bind(group_id)
    .bind(role_ids)
    .execute(tx)
    .await
    .map(|_| ())
}

pub(in crate::write) async fn delete_group(
    tx: &mut PgConnection,
    id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("delete from groups where id = $1")
        .bind(id)
        .execute(tx)
        .await
        .map(|_| ())
}

/// Of `user_ids`: which are live users, and which of those are members already.
pub(in crate::write) async fn member_status(
    tx: &mut PgConnection,
    group_id: i64,
    user_ids: &[i64],
) -> Result<Vec<(i64, bool)>, sqlx::Error> {
    sqlx::query_as(
        "select u.id, exists (select 1 from group_members gm \
                              where gm.group_id = $1 and gm.user_id = u.id) \
         from users u where u.id = any($2) and u.deleted_at is null order by u.id",
    )
    .bind(group_id)
    .bind(user_ids)
    .fetch_all(tx)
    .await
}

pub(in crate::write) async fn add_members(
    tx: &mut PgConnection,
    group_id: i64,
    user_ids: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into group_members (group_id, user_id) \
         select $1, unnest($2::bigint[]) order by 2 on conflict do nothing",
    )
    .bind(group_id)
    .bind(user_ids)
    .execute(tx)
    .await
    .map(|_| ())
}

/// Removes these members; answers the ids that were members.
pub(in crate::write) async fn remove_members(
    tx: &mut PgConnection,
    group_id: i64,
    user_ids: &[i64],
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "delete from group_members where group_id = $1 and user_id = any($2) returning user_id",
    )
    .bind(group_id)
    .bind(user_ids)
    .fetch_all(tx)
    .await
}

/// Every member's id.
pub(in crate::write) async fn member_ids(
    tx: &mut PgConnection,
    group_id: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("select user_id from group_members where group_id = $1 order by user_id")
        .bind(group_id)
        .fetch_all(tx)
        .await
}
