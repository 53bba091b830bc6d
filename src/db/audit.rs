//! SQL for `audit_events`: reading the trail, and the few events the service
//! writes itself (logins, logouts). Every change to users and tokens is recorded
//! by the database's triggers (migration 0006), not here.

use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;

use crate::domain::{AuditAction, AuditActorFilter, AuditQuery};

/// One event as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor_kind: String,
    pub actor_id: Option<i64>,
    pub actor_label: String,
    pub via: String,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<i64>,
    pub subject_label: String,
    pub changes: serde_json::Value,
}

/// An event the service records itself (the database records changes), in a
/// transaction that told the database who acts.
pub struct ServiceEvent<'a> {
    pub action: AuditAction,
    pub subject_type: &'a str,
    pub subject_id: Option<i64>,
    pub subject_label: &'a str,
    pub changes: serde_json::Value,
}

pub async fn record(tx: &mut PgConnection, event: ServiceEvent<'_>) -> Result<(), sqlx::Error> {
    sqlx::query("select audit_record($1, $2, $3, $4, $5)")
        .bind(event.action)
        .bind(event.subject_type)
        .bind(event.subject_id)
        .bind(event.subject_label)
        .bind(event.changes)
        .execute(tx)
        .await
        .map(|_| ())
}

/// One page of events, newest first, and whether older ones follow.
pub async fn page(db: &PgPool, query: &AuditQuery) -> Result<(Vec<AuditRow>, bool), sqlx::Error> {
    let mut sql: QueryBuilder<Postgres> = QueryBuilder::new(
        "select id, at, actor_kind, actor_id, actor_label, via, request_id, client_ip, action, \
         subject_type, subject_id, subject_label, changes from audit_events where true",
    );
    if let Some((kind, id)) = &query.subject {
        sql.push(" and subject_type = ")
            .push_bind(kind.clone())
            .push(" and subject_id = ")
            .push_bind(*id);
    }
    match &query.actor {
        Some(AuditActorFilter::Admin(id)) => {
            sql.push(" and actor_kind = 'admin' and actor_id = ")
                .push_bind(*id);
        }
        Some(AuditActorFilter::Token(id)) => {
            sql.push(" and actor_kind = 'token' and actor_id = ")
                .push_bind(*id);
        }
        Some(AuditActorFilter::Cli) => {
            sql.push(" and actor_kind = 'cli'");
        }
        Some(AuditActorFilter::Sql) => {
            sql.push(" and actor_kind = 'sql'");
        }
        None => {}
    }
    if let Some(action) = &query.action {
        sql.push(" and action like ")
            .push_bind(format!("{}%", super::escape_like(action)));
    }
    if let Some(since) = query.since {
        sql.push(" and at >= ").push_bind(since);
    }
    if let Some(until) = query.until {
        sql.push(" and at < ").push_bind(until);
    }
    if let Some(before) = query.before_id {
        sql.push(" and id < ").push_bind(before);
    }
    sql.push(" order by id desc limit ")
        .push_bind(i64::from(query.limit) + 1);
    let mut rows: Vec<AuditRow> = sql.build_query_as().fetch_all(db).await?;
    let more = rows.len() > query.limit as usize;
    rows.truncate(query.limit as usize);
    Ok((rows, more))
}

/// Deletes events older than `before` through the one function allowed to;
/// only if no other instance is purging right now (an advisory lock held for
/// this transaction). `None` when another instance holds it.
pub async fn purge_older_than(
    db: &PgPool,
    before: OffsetDateTime,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let ours: bool =
        sqlx::query_scalar("select pg_try_advisory_xact_lock(hashtext('useradmin:audit-purge'))")
            .fetch_one(&mut *tx)
            .await?;
    if !ours {
        return Ok(None);
    }
    let purged: i64 = sqlx::query_scalar("select audit_purge($1)")
        .bind(before)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(purged))
}
