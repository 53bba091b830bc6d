//! The statements that change users: inserts, conditional updates under the
//! last-admin rule, soft deletes, restores, purges, and the login stamp. Only
//! the write path can call them (`pub(in crate::write)`); the rows they answer
//! are `db::users`' types.

use sqlx::PgConnection;

use crate::{
    db::users::{NewUserRecord, UserChangesRecord, UserRow, WriteOutcome, columns},
    domain::UserStatus,
};

/// Inserts a user as `actor` (its JSON description): one statement, one round
/// trip — the actor is told to the triggers by the statement itself, which is
/// its own transaction on a pool (or part of a larger one).
pub(in crate::write) async fn insert_as(
    db: impl sqlx::PgExecutor<'_>,
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

/// Makes `email` an admin with this password hash: creates the user, or promotes
/// an existing one (keeping its name). True when the user was created.
pub(in crate::write) async fn upsert_admin(
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
pub(in crate::write) async fn lock_for_first_admin(
    tx: &mut PgConnection,
) -> Result<bool, sqlx::Error> {
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

/// Sets a new password; returns the new session epoch (a trigger moves it on,
/// which ends the account's other sessions).
pub(in crate::write) async fn set_password(
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
pub(in crate::write) async fn end_sessions(
    tx: &mut PgConnection,
    id: i64,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "update users set session_epoch = session_epoch + 1 where id = $1 returning session_epoch",
    )
    .bind(id)
    .fetch_one(tx)
    .await
}

/// Applies `changes` when the row's version is one of `expected` (any version when
/// `None`). Disabling checks the last-admin rule under a lock on every admin
/// row, so two concurrent disables cannot both pass; the database checks it
/// again at commit for every change (migration 0018).
pub(in crate::write) async fn update(
    tx: &mut PgConnection,
    id: i64,
    changes: UserChangesRecord<'_>,
    expected: Option<&[i32]>,
) -> Result<WriteOutcome<UserRow>, sqlx::Error> {
    // A demotion may leave the user an admin through a group: the database's
    // deferred check (0018) decides that one at commit.
    let loses_rights = changes.status == Some(UserStatus::Disabled);
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
pub(in crate::write) async fn delete(
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

/// Brings a deleted user back, unless its email was taken meanwhile.
pub(in crate::write) async fn restore(
    tx: &mut PgConnection,
    id: i64,
) -> Result<WriteOutcome<UserRow>, sqlx::Error> {
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
pub(in crate::write) async fn purge(
    tx: &mut PgConnection,
    id: i64,
) -> Result<WriteOutcome<()>, sqlx::Error> {
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

/// Records a login's time (bookkeeping: no new version).
pub(in crate::write) async fn logged_in(tx: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("update users set last_login_at = now() where id = $1")
        .bind(id)
        .execute(tx)
        .await
        .map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::losing_rights_leaves_nobody;

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
}
