//! SQL for the `api_tokens` table. Tokens are looked up by their SHA-256 hash; the
//! token itself is never stored.

use sqlx::PgPool;
use time::OffsetDateTime;

use crate::domain::{Permission, PermissionSet};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub label: String,
    pub created_by: i64,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    /// The permissions it may use; `None` (tokens made before scopes): every
    /// permission its owner holds.
    pub scopes: Option<Vec<String>>,
    pub expires_at: Option<OffsetDateTime>,
}

/// The columns of a [`TokenRow`].
macro_rules! columns {
    () => {
        "id, label, created_by, created_at, last_used_at, revoked_at, scopes, expires_at"
    };
}
pub(crate) use columns;

/// The admin a valid token speaks for, and the token as the audit trail names it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TokenOwner {
    pub token_id: i64,
    pub token_label: String,
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub last_used_at: Option<OffsetDateTime>,
    /// Checked on every use: a cached check must not outlive it.
    pub expires_at: Option<OffsetDateTime>,
    /// The stored scopes, parsed once when the token is looked up.
    #[sqlx(skip)]
    pub scopes: PermissionSet,
    /// The owner's effective permissions when the token was looked up.
    #[sqlx(skip)]
    pub permissions: PermissionSet,
}

impl TokenOwner {
    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

pub async fn list(db: &PgPool) -> Result<Vec<TokenRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from api_tokens order by id"
    ))
    .fetch_all(db)
    .await
}

/// The owner of a live token (not revoked, not expired, its owner active),
/// with the owner's effective permissions.
pub async fn authenticate(
    db: &PgPool,
    token_hash: &[u8],
) -> Result<Option<TokenOwner>, sqlx::Error> {
    let found = sqlx::query_as::<_, ScopedOwner>(concat!(
        "select t.id as token_id, t.label as token_label, u.id as user_id, u.name, u.email, \
                t.last_used_at, t.expires_at, t.scopes, ",
        crate::db::users::permissions_of!("u"),
        " as permissions \
         from api_tokens t join users u on u.id = t.created_by \
         where t.token_hash = $1 and t.revoked_at is null \
           and (t.expires_at is null or t.expires_at > now()) \
           and u.status = 'active' and u.deleted_at is null",
    ))
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    Ok(found.map(|row| TokenOwner {
        scopes: stored_scopes(row.scopes.as_deref()),
        permissions: PermissionSet::parse_known(&row.permissions),
        ..row.owner
    }))
}

/// A [`TokenOwner`] with its scopes as stored.
#[derive(sqlx::FromRow)]
struct ScopedOwner {
    #[sqlx(flatten)]
    owner: TokenOwner,
    scopes: Option<Vec<String>>,
    permissions: Vec<String>,
}

/// Stored scopes as a set: `None` is every permission; a name that is no
/// permission (written by hand) grants nothing.
pub fn stored_scopes(scopes: Option<&[String]>) -> PermissionSet {
    scopes.map_or(PermissionSet::ALL, |names| {
        names
            .iter()
            .filter_map(|name| Permission::parse(name).ok())
            .collect()
    })
}
