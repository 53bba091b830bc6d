//! Reading roles (SPEC §14). Their writes are `write/sql/access.rs`.

use sqlx::PgExecutor;
use time::OffsetDateTime;

use crate::domain::PermissionSet;

/// A role as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub builtin: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Users holding the role directly.
    pub user_count: i64,
    /// Groups carrying the role.
    pub group_count: i64,
}

impl RoleRow {
    pub fn permission_set(&self) -> PermissionSet {
        PermissionSet::parse_known(&self.permissions)
    }
}

macro_rules! role_columns {
    () => {
        "r.id, r.name, r.description, r.permissions, r.builtin, r.created_at, r.updated_at, \
         (select count(*) from user_roles ur where ur.role_id = r.id) as user_count, \
         (select count(*) from group_roles gr where gr.role_id = r.id) as group_count"
    };
}
pub(crate) use role_columns;

/// Every role: the built-in ones first, then by name.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<RoleRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        role_columns!(),
        " from roles r order by r.builtin desc, lower(r.name), r.id"
    ))
    .fetch_all(db)
    .await
}

pub async fn find(db: impl PgExecutor<'_>, id: i64) -> Result<Option<RoleRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        role_columns!(),
        " from roles r where r.id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The role with this name, whatever its letter case.
pub async fn find_by_name(
    db: impl PgExecutor<'_>,
    name: &str,
) -> Result<Option<RoleRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        role_columns!(),
        " from roles r where lower(r.name) = lower($1)"
    ))
    .bind(name)
    .fetch_optional(db)
    .await
}

/// Where each of a user's permissions comes from: one row per role it holds,
/// directly (`group_name` none) or through a group.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HeldRole {
    pub role_id: i64,
    pub role_name: String,
    pub permissions: Vec<String>,
    pub group_id: Option<i64>,
    pub group_name: Option<String>,
}

pub async fn held_by(db: impl PgExecutor<'_>, user_id: i64) -> Result<Vec<HeldRole>, sqlx::Error> {
    sqlx::query_as(
        "select r.id as role_id, r.name as role_name, r.permissions, \
                null::bigint as group_id, null::text as group_name \
         from user_roles ur join roles r on r.id = ur.role_id where ur.user_id = $1 \
         union all \
         select r.id, r.name, r.permissions, g.id, g.name \
         from group_members gm \
         join groups g on g.id = gm.group_id \
         join group_roles gr on gr.group_id = g.id \
         join roles r on r.id = gr.role_id \
         where gm.user_id = $1 \
         order by 2, 5 nulls first",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}
