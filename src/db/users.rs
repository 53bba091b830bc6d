//! SQL for the `users` table.

use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
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
}

/// The columns of a [`UserRow`], in every query that reads one.
macro_rules! columns {
    () => {
        "id, name, email, is_admin, created_at, updated_at, version, status, disabled_reason, \
         disabled_at, deleted_at, last_login_at, external_id, scim_profile"
    };
}
pub(crate) use columns;

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

/// Inserts a user as `actor` (its JSON description): one statement, one round
/// trip — the actor is told to the triggers by the statement itself, which is
/// its own transaction.
pub async fn insert_as(
    db: &PgPool,
    actor: &str,
    user: NewUserRecord<'_>,
) -> Result<UserRow, sqlx::Error> {
    sqlx::query_as(concat!(
        "with actor as (select set_config('useradmin.actor', $5, true)) \
         insert into users (name, email, is_admin, password_hash, external_id, \
                            status, disabled_reason, disabled_at, scim_profile) \
         select $1, $2, $3, $4, $6, $7, $8, case when $7 = 'disabled' then now() end, $9 \
         from actor returning ",
        columns!()
    ))
    .bind(user.name)
    .bind(user.email)
    .bind(user.is_admin)
    .bind(user.password_hash)
    .bind(actor)
    .bind(user.external_id)
    .bind(user.status)
    .bind(user.disabled_reason)
    .bind(user.scim_profile)
    .fetch_one(db)
    .await
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

/// Makes `email` an admin with this password hash: creates the user, or promotes
/// an existing one (keeping its name). True when the user was created.
pub async fn upsert_admin(
    tx: &mut PgConnection,
    name: &str,
    email: &str,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "insert into users (name, email, is_admin, password_hash) values ($1, $2, true, $3) \
         on conflict ((lower(email))) where deleted_at is null do update set \
             is_admin = true, status = 'active', password_hash = excluded.password_hash \
         returning (xmax = 0)",
    )
    .bind(name)
    .bind(email)
    .bind(password_hash)
    .fetch_one(tx)
    .await
}

/// Takes, until the transaction ends, the lock under which the first admin is
/// created (so instances starting at once create one), then tells whether an
/// admin exists.
pub async fn lock_for_first_admin(tx: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query("select pg_advisory_xact_lock(hashtext('useradmin:first-admin'))")
        .execute(&mut *tx)
        .await?;
    sqlx::query_scalar(
        "select exists (select 1 from users \
         where is_admin and status = 'active' and deleted_at is null)",
    )
    .fetch_one(tx)
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
    /// An admin that is active and not deleted: the only kind that may log in.
    pub can_log_in: bool,
}

impl Credentials {
    pub fn is_active_admin(&self) -> bool {
        self.is_admin && self.can_log_in
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
    sqlx::query_as(
        "select id, name, email, is_admin, password_hash, session_epoch, \
                (status = 'active' and deleted_at is null) as can_log_in \
         from users where lower(email) = lower($1) and deleted_at is null",
    )
    .bind(email)
    .fetch_optional(db)
    .await
}

pub async fn credentials_by_id(
    db: impl sqlx::PgExecutor<'_>,
    id: i64,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as(
        "select id, name, email, is_admin, password_hash, session_epoch, \
                (status = 'active' and deleted_at is null) as can_log_in \
         from users where id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Sets a new password; returns the new session epoch (a trigger moves it on,
/// which ends the account's other sessions).
pub async fn set_password(
    tx: &mut PgConnection,
    id: i64,
    password_hash: &str,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("update users set password_hash = $2 where id = $1 returning session_epoch")
        .bind(id)
        .bind(password_hash)
        .fetch_one(tx)
        .await
}

/// Moves the account's session epoch on, ending every session made before (as
/// a password change does); returns the new epoch, for the session that stays.
pub async fn end_sessions(tx: &mut PgConnection, id: i64) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "update users set session_epoch = session_epoch + 1 where id = $1 returning session_epoch",
    )
    .bind(id)
    .fetch_one(tx)
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

/// Applies `changes` when the row's version is one of `expected` (any version when
/// `None`). Taking admin rights away checks the last-admin rule under a lock on
/// every admin row, so two concurrent demotions cannot both pass.
pub async fn update(
    tx: &mut PgConnection,
    id: i64,
    changes: UserChangesRecord<'_>,
    expected: Option<&[i32]>,
) -> Result<WriteOutcome<UserRow>, sqlx::Error> {
    let loses_rights =
        changes.is_admin == Some(false) || changes.status == Some(UserStatus::Disabled);
    if loses_rights && is_last_admin(tx, id).await? {
        return Ok(WriteOutcome::LastAdmin);
    }
    let row: Option<UserRow> = sqlx::query_as(concat!(
        "update users set \
             name = coalesce($2, name), \
             email = coalesce($3, email), \
             is_admin = coalesce($4, is_admin), \
             password_hash = coalesce($5, password_hash), \
             status = coalesce($7, status), \
             disabled_reason = case when $7 = 'disabled' then $8 else disabled_reason end, \
             external_id = case when $9 then $10 else external_id end, \
             scim_profile = case when $11 then $12 else scim_profile end \
         where id = $1 and deleted_at is null and ($6::int4[] is null or version = any($6)) \
         returning ",
        columns!()
    ))
    .bind(id)
    .bind(changes.name)
    .bind(changes.email)
    .bind(changes.is_admin)
    .bind(changes.password_hash)
    .bind(expected)
    .bind(changes.status)
    .bind(changes.disabled_reason)
    .bind(changes.external_id.is_some())
    .bind(changes.external_id.flatten())
    .bind(changes.scim_profile.is_some())
    .bind(changes.scim_profile.flatten())
    .fetch_optional(&mut *tx)
    .await?;
    conclude(tx, id, row).await
}

/// Deletes a user softly (it can be restored; its tokens are revoked) under the
/// same rules as [`update`].
pub async fn delete(
    tx: &mut PgConnection,
    id: i64,
    expected: Option<&[i32]>,
) -> Result<WriteOutcome<UserRow>, sqlx::Error> {
    if is_last_admin(tx, id).await? {
        return Ok(WriteOutcome::LastAdmin);
    }
    let row: Option<UserRow> = sqlx::query_as(concat!(
        "update users set deleted_at = now() \
         where id = $1 and deleted_at is null and ($2::int4[] is null or version = any($2)) \
         returning ",
        columns!()
    ))
    .bind(id)
    .bind(expected)
    .fetch_optional(&mut *tx)
    .await?;
    conclude(tx, id, row).await
}

/// When a conditional write touched no row, says why.
async fn conclude(
    tx: &mut PgConnection,
    id: i64,
    row: Option<UserRow>,
) -> Result<WriteOutcome<UserRow>, sqlx::Error> {
    Ok(match row {
        Some(row) => WriteOutcome::Done(row),
        None => missing_or_mismatch(tx, id).await?,
    })
}

/// Brings a deleted user back, unless its email was taken meanwhile.
pub async fn restore(tx: &mut PgConnection, id: i64) -> Result<WriteOutcome<UserRow>, sqlx::Error> {
    let taken: Option<bool> = sqlx::query_scalar(
        "select exists (select 1 from users other \
                        where lower(other.email) = lower(u.email) and other.deleted_at is null) \
         from users u where u.id = $1 and u.deleted_at is not null for update of u",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    match taken {
        None => return Ok(WriteOutcome::NotFound),
        Some(true) => return Ok(WriteOutcome::EmailTaken),
        Some(false) => {}
    }
    let row = sqlx::query_as(concat!(
        "update users set deleted_at = null where id = $1 returning ",
        columns!()
    ))
    .bind(id)
    .fetch_one(tx)
    .await?;
    Ok(WriteOutcome::Done(row))
}

/// Removes a user for good and erases its name and email from its audit events.
/// The last active admin is kept.
pub async fn purge(tx: &mut PgConnection, id: i64) -> Result<WriteOutcome<()>, sqlx::Error> {
    if is_last_admin(tx, id).await? {
        return Ok(WriteOutcome::LastAdmin);
    }
    let purged: bool = sqlx::query_scalar("select user_purge($1)")
        .bind(id)
        .fetch_one(tx)
        .await?;
    Ok(if purged {
        WriteOutcome::Done(())
    } else {
        WriteOutcome::NotFound
    })
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

/// Records a login's time (bookkeeping: no new version).
pub async fn logged_in(tx: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update users set last_login_at = now() where id = $1")
        .bind(id)
        .execute(tx)
        .await
        .map(|_| ())
}

/// The last-admin rule, the one place it is decided: locks every active admin
/// row, then tells whether taking `id`'s rights away (demoting, disabling,
/// deleting or purging it) would leave no active admin who can log in. Only
/// admins with a password count: one made by an import, SCIM or the API without
/// a password cannot open the pages, so it keeps nobody able to administer.
async fn is_last_admin(tx: &mut PgConnection, id: i64) -> Result<bool, sqlx::Error> {
    let admins: Vec<(i64, bool)> = sqlx::query_as(
        "select id, password_hash is not null from users \
         where is_admin and status = 'active' and deleted_at is null \
         order by id for update",
    )
    .fetch_all(&mut *tx)
    .await?;
    Ok(losing_rights_leaves_nobody(&admins, id))
}

/// Given the active admins (and whether each has a password): whether `id`
/// losing its rights leaves none with a password. A user that is not an active
/// admin loses nothing.
fn losing_rights_leaves_nobody(admins: &[(i64, bool)], id: i64) -> bool {
    admins.iter().any(|&(admin, _)| admin == id)
        && !admins
            .iter()
            .any(|&(admin, has_password)| admin != id && has_password)
}

async fn missing_or_mismatch<T>(
    tx: &mut PgConnection,
    id: i64,
) -> Result<WriteOutcome<T>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar(
        "select exists (select 1 from users where id = $1 and deleted_at is null)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    Ok(if exists {
        WriteOutcome::VersionMismatch
    } else {
        WriteOutcome::NotFound
    })
}

/// One page of users in keyset order.
pub struct PageRows {
    pub rows: Vec<UserRow>,
    /// Where the next page starts, when there is one.
    pub next: Option<Cursor>,
    /// Where the previous page ends, when there is one.
    pub prev: Option<Cursor>,
}

/// One page of users in keyset order, with the cursors of its neighbours and the
/// number of users matching the search. Costs the same on page 10,000 as on
/// page 1: it seeks by index, never skips rows.
pub async fn page(db: &PgPool, query: &ListQuery) -> Result<(PageRows, i64), sqlx::Error> {
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
) -> Result<(PageRows, i64), sqlx::Error> {
    let Some(search) = &query.search else {
        // Without a search the count needs no rows of the page: both in parallel
        // (and without filters, the kept count answers at once).
        return tokio::try_join!(list(db, query, scope), count(db, query, scope));
    };
    // With a search, both need the same matching rows: find them once.
    let mut sql: QueryBuilder<Postgres> =
        QueryBuilder::new("with matches as materialized (select ");
    sql.push(COLUMNS).push(scope.condition());
    push_search(&mut sql, search);
    push_filters(&mut sql, &query.filters);
    sql.push(") select ")
        .push(COLUMNS)
        .push(", (select count(*) from matches) as total from matches where true");
    push_keyset(&mut sql, query)?;
    let found: Vec<RowWithTotal> = sql.build_query_as().fetch_all(db).await?;
    let total = match found.first() {
        Some(row) => row.total,
        // An empty page carries no total; count on its own (cheap: few matches).
        None => count(db, query, scope).await?,
    };
    let rows = found.into_iter().map(|row| row.user).collect();
    Ok((finish_page(query, rows), total))
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
    let (direction, comparison) = if ascending {
        ("asc", ">")
    } else {
        ("desc", "<")
    };
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
    sql.push(format_args!(" order by {column} {direction}"));
    if query.sort != SortKey::Id {
        sql.push(format_args!(", id {direction}"));
    }
    // One row more than asked tells whether the list goes on in this direction.
    sql.push(" limit ").push_bind(i64::from(query.limit) + 1);
    Ok(())
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

fn push_filters(sql: &mut QueryBuilder<Postgres>, filters: &UserFilters) {
    if let Some(status) = filters.status {
        sql.push(" and status = ").push_bind(status);
    }
    if let Some(is_admin) = filters.is_admin {
        sql.push(" and is_admin = ").push_bind(is_admin);
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

fn push_search(sql: &mut QueryBuilder<Postgres>, search: &str) {
    let pattern = format!("%{}%", super::escape_like(search));
    sql.push(" and (name ilike ")
        .push_bind(pattern.clone())
        .push(" or email ilike ")
        .push_bind(pattern)
        .push(")");
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
    use super::losing_rights_leaves_nobody;
    use crate::db::escape_like;

    #[test]
    fn only_admins_with_a_password_keep_the_pages_reachable() {
        // (id, has a password)
        let admins = [(1, true), (2, false), (3, true)];
        assert!(!losing_rights_leaves_nobody(&admins, 1), "3 is left");
        assert!(!losing_rights_leaves_nobody(&admins, 2));
        assert!(!losing_rights_leaves_nobody(&admins, 9), "not an admin");
        let one_with_a_password = [(1, true), (2, false)];
        assert!(losing_rights_leaves_nobody(&one_with_a_password, 1));
        assert!(!losing_rights_leaves_nobody(&one_with_a_password, 2));
        assert!(losing_rights_leaves_nobody(&[(1, true)], 1));
        assert!(losing_rights_leaves_nobody(&[(1, false), (2, false)], 1));
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
        assert_eq!(escape_like("plain"), "plain");
    }
}
