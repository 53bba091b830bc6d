//! SQL for the `users` table.

use sqlx::{PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;

use crate::domain::{Cursor, CursorKey, ListQuery, SortKey, SortOrder, UserFilters, UserStatus};

/// A user as stored, without the password hash: rows of this type can be shown.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i32,
    pub status: UserStatus,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<OffsetDateTime>,
    pub deleted_at: Option<OffsetDateTime>,
    pub last_login_at: Option<OffsetDateTime>,
    pub external_id: Option<String>,
    /// What SCIM wrote beside the name and email (`domain::ScimProfile`), as stored.
    pub scim_profile: Option<serde_json::Value>,
    /// The direct roles' names, in name order (SPEC §14).
    pub roles: Vec<String>,
    /// The groups the user is in, in name order.
    pub groups: sqlx::types::Json<Vec<GroupRef>>,
    /// The effective permissions' names, sorted.
    pub permissions: Vec<String>,
}

/// A group as a user object names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct GroupRef {
    pub id: i64,
    pub name: String,
}

impl UserRow {
    /// The effective permissions as a set (a name no longer known grants nothing).
    pub fn permission_set(&self) -> crate::domain::PermissionSet {
        crate::domain::PermissionSet::parse_known(&self.permissions)
    }
}

/// The columns of a [`UserRow`], in every query that reads one.
macro_rules! columns {
    () => {
        concat!(
            $crate::db::users::stored_columns!(),
            ", access_roles as roles, access_groups as groups, access_permissions as permissions"
        )
    };
}
pub(crate) use columns;

/// The columns of a [`UserRow`] kept in the `users` row itself.
macro_rules! stored_columns {
    () => {
        "id, name, email, is_admin, created_at, updated_at, version, status, disabled_reason, \
         disabled_at, deleted_at, last_login_at, external_id, scim_profile"
    };
}
pub(crate) use stored_columns;

/// The effective permissions of the users row named `$table`, sorted (kept by
/// the database: migration 0020).
macro_rules! permissions_of {
    ($table:literal) => {
        concat!($table, ".access_permissions")
    };
}
pub(crate) use permissions_of;

const COLUMNS: &str = columns!();

/// What a conditional write did.
#[derive(Debug)]
pub enum WriteOutcome<T> {
    Done(T),
    NotFound,
    /// The row's version is not one the client said it had seen (`If-Match`).
    VersionMismatch,
    /// The change would leave no active admin with a password.
    LastAdmin,
    /// The email is taken by another user (restoring a deleted one).
    EmailTaken,
}

/// Values for a new row; the password is already hashed.
pub struct NewUserRecord<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub is_admin: bool,
    pub password_hash: Option<String>,
    pub external_id: Option<&'a str>,
    /// Disabled with its reason, or active.
    pub status: UserStatus,
    pub disabled_reason: Option<&'a str>,
    pub scim_profile: Option<serde_json::Value>,
}

/// Columns to change; `None` leaves a column as it is.
#[derive(Default)]
pub struct UserChangesRecord<'a> {
    pub name: Option<&'a str>,
    pub email: Option<&'a str>,
    pub is_admin: Option<bool>,
    pub password_hash: Option<String>,
    /// The trigger keeps `disabled_at`.
    pub status: Option<UserStatus>,
    /// With `status = disabled`: why.
    pub disabled_reason: Option<&'a str>,
    /// `Some(None)` clears it.
    pub external_id: Option<Option<&'a str>>,
    /// `Some(None)` clears it.
    pub scim_profile: Option<Option<serde_json::Value>>,
}

pub async fn find(db: &PgPool, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from users where id = $1 and deleted_at is null"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A user, deleted or not.
pub async fn find_any(db: &PgPool, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(concat!("select ", columns!(), " from users where id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Finds a user by email, ignoring letter case (as the unique index does).
pub async fn find_by_email(db: &PgPool, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from users where lower(email) = lower($1) and deleted_at is null"
    ))
    .bind(email)
    .fetch_optional(db)
    .await
}

/// What login needs to know about an account.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    pub password_hash: Option<String>,
    pub session_epoch: i32,
    /// Active and not deleted.
    pub can_log_in: bool,
    /// The effective permissions' names.
    pub permissions: Vec<String>,
}

impl Credentials {
    /// Who may log in (SPEC §14): an active user with a password who holds at
    /// least one permission.
    pub fn may_log_in(&self) -> bool {
        self.can_log_in && self.password_hash.is_some() && !self.permission_set().is_empty()
    }

    pub fn permission_set(&self) -> crate::domain::PermissionSet {
        crate::domain::PermissionSet::parse_known(&self.permissions)
    }
}

/// The email as the login lookup compares it (PostgreSQL's `lower()`), for
/// throttling attempts against the account they would log in to.
pub async fn login_key(db: &PgPool, email: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("select lower($1)")
        .bind(email)
        .fetch_one(db)
        .await
}

pub async fn credentials_by_email(
    db: &PgPool,
    email: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select id, name, email, is_admin, password_hash, session_epoch, \
                (status = 'active' and deleted_at is null) as can_log_in, ",
        permissions_of!("users"),
        " as permissions \
         from users where lower(email) = lower($1) and deleted_at is null",
    ))
    .bind(email)
    .fetch_optional(db)
    .await
}

pub async fn credentials_by_id(
    db: impl sqlx::PgExecutor<'_>,
    id: i64,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select id, name, email, is_admin, password_hash, session_epoch, \
                (status = 'active' and deleted_at is null) as can_log_in, ",
        permissions_of!("users"),
        " as permissions \
         from users where id = $1",
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The admin with the lowest id: the owner of tokens created from the command line
/// when no owner is named.
pub async fn first_admin(db: &PgPool) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from users where is_admin and status = 'active' and deleted_at is null order by id limit 1"
    ))
    .fetch_optional(db)
    .await
}

/// Deleted users whose time to be restored is over, oldest first.
pub async fn expired_deletions(
    db: &PgPool,
    deleted_before: OffsetDateTime,
    limit: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "select id from users where deleted_at is not null and deleted_at < $1 \
         order by deleted_at, id limit $2",
    )
    .bind(deleted_before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One page of users in keyset order.
pub struct PageRows {
    pub rows: Vec<UserRow>,
    /// Where the next page starts, when there is one.
    pub next: Option<Cursor>,
    /// Where the previous page ends, when there is one.
    pub prev: Option<Cursor>,
}

/// How many users a list matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub count: i64,
    /// True when a search matched more than [`SEARCH_COUNT_CAP`] users: `count`
    /// is then the cap, and the true number is larger.
    pub is_lower_bound: bool,
}

impl Total {
    fn exact(count: i64) -> Self {
        Self {
            count,
            is_lower_bound: false,
        }
    }
}

/// A search counts its matches exactly up to this many. Counting a broad match
/// means visiting every matching row (a trigram index cannot count), which at a
/// million users costs more than the page itself; past the cap the list says
/// "at least" instead.
pub const SEARCH_COUNT_CAP: i64 = 10_000;

/// One page of users in keyset order, with the cursors of its neighbours and the
/// number of users matching the search. Costs the same on page 10,000 as on
/// page 1: it seeks by index, never skips rows.
pub async fn page(db: &PgPool, query: &ListQuery) -> Result<(PageRows, Total), sqlx::Error> {
    page_of(db, query, Scope::Live).await
}

/// A read-only transaction that sees one snapshot of the database for all its
/// statements: an export reads every batch from it, so concurrent writes never
/// show half-way.
pub async fn snapshot(db: &PgPool) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Which users a list is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every list of the service: deleted users have left them.
    Live,
    /// `GET /users/deleted`: the users that can still be restored.
    Deleted,
}

impl Scope {
    fn condition(self) -> &'static str {
        match self {
            Self::Live => " from users where deleted_at is null",
            Self::Deleted => " from users where deleted_at is not null",
        }
    }
}

/// One page of users in `scope`, and how many match in all.
pub async fn page_of(
    db: &PgPool,
    query: &ListQuery,
    scope: Scope,
) -> Result<(PageRows, Total), sqlx::Error> {
    let Some(search) = &query.search else {
        // Without a search the count needs no rows of the page: both in parallel
        // (and without filters, the kept count answers at once).
        let (rows, count) = tokio::try_join!(list(db, query, scope), count(db, query, scope))?;
        return Ok((rows, Total::exact(count)));
    };
    // With a search, both need the matching rows: find them once, keeping only
    // their ids and sort keys, then read the page's rows by id.
    let found: Vec<RowWithTotal> = search_page(query, scope, search)?
        .build_query_as()
        .fetch_all(db)
        .await?;
    let count = match found.first() {
        Some(row) => row.total,
        // An empty page carries no total: count on its own.
        None => count_capped(db, query, scope).await?,
    };
    if count > SEARCH_COUNT_CAP {
        // The matches found were only the first ones: the page is read in
        // sort order by itself.
        let rows = list(db, query, scope).await?;
        let total = Total {
            count: SEARCH_COUNT_CAP,
            is_lower_bound: true,
        };
        return Ok((rows, total));
    }
    let rows = found.into_iter().map(|row| row.user).collect();
    Ok((finish_page(query, rows), Total::exact(count)))
}

/// The statement of a searched page: up to one more match than the cap (ids
/// and sort keys only), the page among them, then the page's rows, each with
/// the number of matches.
fn search_page(
    query: &ListQuery,
    scope: Scope,
    search: &str,
) -> Result<QueryBuilder<Postgres>, sqlx::Error> {
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new("with matches as materialized (select id");
    if query.sort != SortKey::Id {
        sql.push(", ").push(query.sort.column());
    }
    sql.push(scope.condition());
    push_search(&mut sql, search);
    push_filters(&mut sql, &query.filters);
    sql.push(" limit ")
        .push_bind(SEARCH_COUNT_CAP + 1)
        .push("), page as (select id from matches where true");
    push_keyset(&mut sql, query)?;
    sql.push(") select ").push(COLUMNS).push(
        ", (select count(*) from matches) as total from users where id in (select id from page)",
    );
    push_order(&mut sql, query);
    Ok(sql)
}

#[derive(sqlx::FromRow)]
struct RowWithTotal {
    #[sqlx(flatten)]
    user: UserRow,
    total: i64,
}

/// One page of users in keyset order, with the cursors of its neighbours.
pub async fn list(
    db: impl sqlx::PgExecutor<'_>,
    query: &ListQuery,
    scope: Scope,
) -> Result<PageRows, sqlx::Error> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new("select ");
    sql.push(COLUMNS).push(scope.condition());
    if let Some(search) = &query.search {
        push_search(&mut sql, search);
    }
    push_filters(&mut sql, &query.filters);
    push_keyset(&mut sql, query)?;
    let rows: Vec<UserRow> = sql.build_query_as().fetch_all(db).await?;
    Ok(finish_page(query, rows))
}

/// The cursor condition, the order and the limit of a page.
fn push_keyset(sql: &mut QueryBuilder<Postgres>, query: &ListQuery) -> Result<(), sqlx::Error> {
    let column = query.sort.column();
    // Paging backwards reads in the opposite order; `finish_page` turns it round.
    let backwards = query.before.is_some();
    let ascending = (query.order == SortOrder::Ascending) != backwards;
    let comparison = if ascending { ">" } else { "<" };
    if let Some(cursor) = query.after.as_ref().or(query.before.as_ref()) {
        match &cursor.key {
            None => {
                sql.push(format_args!(" and id {comparison} "))
                    .push_bind(cursor.id);
            }
            Some(CursorKey::Text(key)) => {
                sql.push(format_args!(" and ({column}, id) {comparison} ("))
                    .push_bind(key.clone())
                    .push(", ")
                    .push_bind(cursor.id)
                    .push(")");
            }
            Some(CursorKey::Micros(micros)) => {
                let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(*micros) * 1000)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                sql.push(format_args!(" and ({column}, id) {comparison} ("))
                    .push_bind(at)
                    .push(", ")
                    .push_bind(cursor.id)
                    .push(")");
            }
        }
    }
    push_order(sql, query);
    // One row more than asked tells whether the list goes on in this direction.
    sql.push(" limit ").push_bind(i64::from(query.limit) + 1);
    Ok(())
}

/// The order a page is read in (the opposite of the list's when paging back).
fn push_order(sql: &mut QueryBuilder<Postgres>, query: &ListQuery) {
    let column = query.sort.column();
    let backwards = query.before.is_some();
    let ascending = (query.order == SortOrder::Ascending) != backwards;
    let direction = if ascending { "asc" } else { "desc" };
    sql.push(format_args!(" order by {column} {direction}"));
    if query.sort != SortKey::Id {
        sql.push(format_args!(", id {direction}"));
    }
}

/// Trims the extra row, restores the order and works out the neighbours' cursors.
fn finish_page(query: &ListQuery, mut rows: Vec<UserRow>) -> PageRows {
    let backwards = query.before.is_some();
    let more = rows.len() > query.limit as usize;
    rows.truncate(query.limit as usize);
    if backwards {
        rows.reverse();
    }
    let first = rows.first().map(|row| cursor_at(query, row));
    let last = rows.last().map(|row| cursor_at(query, row));
    let (next, prev) = if backwards {
        (last, first.filter(|_| more))
    } else {
        (
            last.filter(|_| more),
            first.filter(|_| query.after.is_some()),
        )
    };
    PageRows { rows, next, prev }
}

/// How many users match the search. Without one, the kept count (migration
/// 0004) answers at once instead of counting every row.
pub async fn count(db: &PgPool, query: &ListQuery, scope: Scope) -> Result<i64, sqlx::Error> {
    if scope == Scope::Live && query.search.is_none() && query.filters.is_empty() {
        return sqlx::query_scalar("select coalesce(sum(n), 0)::bigint from user_count_shards")
            .fetch_one(db)
            .await;
    }
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new("select count(*)");
    sql.push(scope.condition());
    if let Some(search) = &query.search {
        push_search(&mut sql, search);
    }
    push_filters(&mut sql, &query.filters);
    sql.build_query_scalar().fetch_one(db).await
}

/// How many users match a search, counting no further than one past the cap.
async fn count_capped(db: &PgPool, query: &ListQuery, scope: Scope) -> Result<i64, sqlx::Error> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new("select count(*) from (select 1");
    sql.push(scope.condition());
    if let Some(search) = &query.search {
        push_search(&mut sql, search);
    }
    push_filters(&mut sql, &query.filters);
    sql.push(" limit ")
        .push_bind(SEARCH_COUNT_CAP + 1)
        .push(") m");
    sql.build_query_scalar().fetch_one(db).await
}

fn push_filters(sql: &mut QueryBuilder<Postgres>, filters: &UserFilters) {
    if let Some(status) = filters.status {
        sql.push(" and status = ").push_bind(status);
    }
    if let Some(is_admin) = filters.is_admin {
        sql.push(" and is_admin = ").push_bind(is_admin);
    }
    if let Some(group) = filters.group {
        sql.push(" and id in (select user_id from group_members where group_id = ")
            .push_bind(group)
            .push(")");
    }
    if let Some(role) = &filters.role {
        sql.push(
            " and id in (select ur.user_id from user_roles ur join roles r on r.id = ur.role_id \
             where lower(r.name) = ",
        )
        .push_bind(role.clone())
        .push(
            " union all select gm.user_id from group_members gm \
             join group_roles gr on gr.group_id = gm.group_id \
             join roles r on r.id = gr.role_id where lower(r.name) = ",
        )
        .push_bind(role.clone())
        .push(")");
    }
    if let Some(at) = filters.created_after {
        sql.push(" and created_at > ").push_bind(at);
    }
    if let Some(at) = filters.created_before {
        sql.push(" and created_at < ").push_bind(at);
    }
    if let Some(at) = filters.last_login_before {
        sql.push(" and (last_login_at is null or last_login_at < ")
            .push_bind(at)
            .push(")");
    }
}

/// A case-insensitive substring of the name or the email, looked up in the one
/// trigram index over both (migration 0021: the expression must be written as
/// it is there).
fn push_search(sql: &mut QueryBuilder<Postgres>, search: &str) {
    let pattern = format!("%{}%", super::escape_like(search));
    sql.push(" and (lower(name) || E'\\n' || lower(email)) like lower(")
        .push_bind(pattern.clone())
        .push(")");
    // Only a term holding the separator could match across the two.
    if search.contains('\n') {
        sql.push(" and (name ilike ")
            .push_bind(pattern.clone())
            .push(" or email ilike ")
            .push_bind(pattern)
            .push(")");
    }
}

fn cursor_at(query: &ListQuery, last: &UserRow) -> Cursor {
    let key = match query.sort {
        SortKey::Id => None,
        SortKey::Name => Some(CursorKey::Text(last.name.clone())),
        SortKey::Email => Some(CursorKey::Text(last.email.clone())),
        SortKey::CreatedAt => Some(CursorKey::Micros(
            (last.created_at.unix_timestamp_nanos() / 1000) as i64,
        )),
    };
    Cursor {
        sort: query.sort,
        order: query.order,
        key,
        id: last.id,
    }
}

#[cfg(test)]
mod tests {
    use crate::db::escape_like;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
        assert_eq!(escape_like("plain"), "plain");
    }
}
