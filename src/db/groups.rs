//! Reading groups (SPEC §14). Their writes are `write/sql/access.rs`; their
//! members are listed by `db::users` with the `group` filter.

use sqlx::{PgExecutor, Postgres, QueryBuilder};
use time::OffsetDateTime;

/// A group as stored, with its roles' names and its member count.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub external_id: Option<String>,
    pub version: i32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The roles' names, in name order.
    pub roles: Vec<String>,
    pub member_count: i64,
}

macro_rules! group_columns {
    () => {
        "g.id, g.name, g.description, g.external_id, g.version, g.created_at, g.updated_at, \
         array(select r.name from group_roles gr join roles r on r.id = gr.role_id \
               where gr.group_id = g.id order by lower(r.name)) as roles, \
         (select count(*) from group_members gm where gm.group_id = g.id) as member_count"
    };
}
pub(crate) use group_columns;

/// Which groups a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFilter {
    /// Part of the name, any case.
    pub search: Option<String>,
    /// The name, any case (SCIM's `displayName eq`).
    pub name: Option<String>,
    pub external_id: Option<String>,
    /// Groups with this member (SCIM's `members[value eq]`).
    pub member: Option<i64>,
}

/// The groups matching `filter`, by name, `offset` and `limit` as SCIM pages.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &GroupFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<GroupRow>, sqlx::Error> {
    let mut sql = QueryBuilder::<Postgres>::new(concat!("select ", group_columns!()));
    sql.push(" from groups g where true");
    push_filter(&mut sql, filter);
    sql.push(" order by lower(g.name), g.id offset ")
        .push_bind(offset)
        .push(" limit ")
        .push_bind(limit);
    sql.build_query_as().fetch_all(db).await
}

pub async fn count(db: impl PgExecutor<'_>, filter: &GroupFilter) -> Result<i64, sqlx::Error> {
    let mut sql = QueryBuilder::<Postgres>::new("select count(*) from groups g where true");
    push_filter(&mut sql, filter);
    sql.build_query_scalar().fetch_one(db).await
}

fn push_filter(sql: &mut QueryBuilder<Postgres>, filter: &GroupFilter) {
    if let Some(search) = &filter.search {
        sql.push(" and g.name ilike ")
            .push_bind(format!("%{}%", super::escape_like(search)));
    }
    if let Some(name) = &filter.name {
        sql.push(" and lower(g.name) = lower(")
            .push_bind(name.clone())
            .push(")");
    }
    if let Some(external_id) = &filter.external_id {
        sql.push(" and g.external_id = ")
            .push_bind(external_id.clone());
    }
    if let Some(member) = filter.member {
        sql.push(" and exists (select 1 from group_members gm where gm.group_id = g.id and gm.user_id = ")
            .push_bind(member)
            .push(")");
    }
}

pub async fn find(db: impl PgExecutor<'_>, id: i64) -> Result<Option<GroupRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        group_columns!(),
        " from groups g where g.id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A group's members as SCIM lists them: id and email, in id order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRef {
    pub id: i64,
    pub email: String,
    pub name: String,
}

pub async fn member_refs(
    db: impl PgExecutor<'_>,
    group_id: i64,
) -> Result<Vec<MemberRef>, sqlx::Error> {
    sqlx::query_as(
        "select u.id, u.email, u.name from group_members gm join users u on u.id = gm.user_id \
         where gm.group_id = $1 and u.deleted_at is null order by u.id",
    )
    .bind(group_id)
    .fetch_all(db)
    .await
}
