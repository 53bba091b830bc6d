//! The statements an import applies with, in its one transaction: the locks
//! it takes on the admins and the matched users, the batches of creations and
//! alterations, and its summary event. Only the write path can call them.

use std::collections::HashSet;

use sqlx::{FromRow, PgConnection, Row};
use time::OffsetDateTime;

use crate::db::users::{UserRow, columns};
use crate::{
    db::import::{Alteration, Creation, Stored},
    domain::AuditAction,
};

/// The active admins that are not deleted and can log in (they have a
/// password): those the last-admin rule counts. With `lock` every active admin
/// is locked, before any user an import matches, as the other writes lock
/// them, until the transaction ends.
pub(in crate::write) async fn active_admins(
    tx: &mut PgConnection,
    lock: bool,
) -> Result<HashSet<i64>, sqlx::Error> {
    let admins_sql = if lock {
        "select id, password_hash is not null from users \
         where is_admin and status = 'active' and deleted_at is null \
         order by id for update"
    } else {
        "select id, password_hash is not null from users \
         where is_admin and status = 'active' and deleted_at is null"
    };
    let admins: Vec<(i64, bool)> = sqlx::query_as(admins_sql).fetch_all(&mut *tx).await?;
    Ok(admins
        .into_iter()
        .filter_map(|(id, has_password)| has_password.then_some(id))
        .collect())
}

/// What the database holds for one batch's emails. With `lock`, the matched
/// users are locked (in id order, as the other writes lock them) until the
/// transaction ends.
///
/// Each email is looked up on its own through the unique index (a lateral
/// subquery): a batch's keys as one `= any(…)` list are estimated to match
/// most of a table whose statistics predate the import's own rows, and are
/// then read by scanning it, once per batch.
pub(in crate::write) async fn stored(
    tx: &mut PgConnection,
    emails: &[String],
    lock: bool,
) -> Result<Stored, sqlx::Error> {
    // The database's own case folding of each email (the unique index's), and
    // the live user that has it, in the file's order.
    let rows = sqlx::query(concat!(
        "select lower(e.lookup) as lookup_key, u.* \
         from unnest($1::text[]) with ordinality as e(lookup, ord) \
         left join lateral ( \
             select password_hash is not null as has_password, ",
        columns!(),
        " from users where deleted_at is null and lower(email) = lower(e.lookup) limit 1 \
         ) u on true \
         order by e.ord"
    ))
    .bind(emails)
    .fetch_all(&mut *tx)
    .await?;
    let mut matches = Vec::with_capacity(rows.len());
    let mut with_password = HashSet::new();
    for row in rows {
        let key: String = row.try_get("lookup_key")?;
        let id: Option<i64> = row.try_get("id")?;
        let user = match id {
            Some(_) => {
                if row.try_get("has_password")? {
                    with_password.insert(row.try_get("id")?);
                }
                Some(UserRow::from_row(&row)?)
            }
            None => None,
        };
        matches.push((key, user));
    }
    if lock {
        let mut ids: Vec<i64> = matches
            .iter()
            .filter_map(|(_, user)| user.as_ref().map(|u| u.id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if !ids.is_empty() {
            // In the ids' order: the lateral subquery locks each as it comes.
            sqlx::query(
                "select u.id from unnest($1::int8[]) with ordinality as k(id, ord) \
                 cross join lateral (select id from users where id = k.id for update) u \
                 order by k.ord",
            )
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
        }
    }
    Ok(Stored {
        matches,
        with_password,
    })
}

/// Creates the users, in the file's order. The triggers audit each one.
pub(in crate::write) async fn create(
    tx: &mut PgConnection,
    users: &[Creation],
) -> Result<(), sqlx::Error> {
    if users.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Creation) -> Option<&str>| users.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "insert into users (name, email, is_admin, status, disabled_reason, disabled_at, external_id) \
         select v.name, v.email, v.is_admin, v.status, v.reason, \
                case when v.status = 'disabled' then now() end, v.external_id \
         from unnest($1::text[], $2::text[], $3::bool[], $4::text[], $5::text[], $6::text[]) \
              as v(name, email, is_admin, status, reason, external_id)",
    )
    .bind(column(|u| Some(&u.name)))
    .bind(column(|u| Some(&u.email)))
    .bind(users.iter().map(|u| u.is_admin).collect::<Vec<_>>())
    .bind(users.iter().map(|u| u.status).collect::<Vec<_>>())
    .bind(column(|u| u.disabled_reason.as_deref()))
    .bind(column(|u| u.external_id.as_deref()))
    .execute(tx)
    .await
    .map(|_| ())
}

/// Changes the fields each alteration names and nothing else; the triggers
/// move each version on and audit each change.
pub(in crate::write) async fn alter(
    tx: &mut PgConnection,
    changes: &[Alteration],
) -> Result<(), sqlx::Error> {
    if changes.is_empty() {
        return Ok(());
    }
    let sets = |f: fn(&Alteration) -> bool| changes.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "update users u set \
             name = coalesce(v.name, u.name), \
             is_admin = coalesce(v.is_admin, u.is_admin), \
             status = coalesce(v.status, u.status), \
             disabled_reason = case when v.set_reason then v.reason else u.disabled_reason end, \
             external_id = case when v.set_external_id then v.external_id else u.external_id end \
         from unnest($1::int8[], $2::text[], $3::bool[], $4::text[], $5::bool[], $6::text[], \
                     $7::bool[], $8::text[]) \
              as v(id, name, is_admin, status, set_reason, reason, set_external_id, external_id) \
         where u.id = v.id",
    )
    .bind(changes.iter().map(|c| c.id).collect::<Vec<_>>())
    .bind(
        changes
            .iter()
            .map(|c| c.name.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(changes.iter().map(|c| c.is_admin).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.status).collect::<Vec<_>>())
    .bind(sets(|c| c.disabled_reason.is_some()))
    .bind(
        changes
            .iter()
            .map(|c| c.disabled_reason.clone().flatten())
            .collect::<Vec<_>>(),
    )
    .bind(sets(|c| c.external_id.is_some()))
    .bind(
        changes
            .iter()
            .map(|c| c.external_id.clone().flatten())
            .collect::<Vec<_>>(),
    )
    .execute(tx)
    .await
    .map(|_| ())
}

/// The import's own audit event (its counts and file), and the time every
/// event of its transaction carries.
pub(in crate::write) async fn record_summary(
    tx: &mut PgConnection,
    label: &str,
    summary: &serde_json::Value,
) -> Result<OffsetDateTime, sqlx::Error> {
    sqlx::query_scalar("select now() from (select audit_record($3, 'import', null, $1, $2)) as r")
        .bind(label)
        .bind(summary)
        .bind(AuditAction::UsersImported)
        .fetch_one(tx)
        .await
}

/// Sets this transaction up for an import: the request pool's per-statement
/// limit lifted (a batch's statements are bounded by the import's own
/// timeout), and every batch's statements planned for the table as it is
/// then, not from a plan cached while it was a few batches smaller.
pub(in crate::write) async fn prepare(tx: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "select set_config('statement_timeout', '10min', true), \
                set_config('plan_cache_mode', 'force_custom_plan', true)",
    )
    .execute(tx)
    .await
    .map(|_| ())
}
