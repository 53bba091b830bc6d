//! SQL for `audit_events`: reading the trail. The few events the service
//! records itself (logins, logouts) are `write::sql::audit`; every change to
//! users and tokens is recorded by the database's triggers (migration 0006).

use sqlx::{PgPool, Postgres, QueryBuilder};
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
        Some(AuditActorFilter::AdminEmail(email)) => {
            // Whoever has (or, deleted, had) the email, by id: the index on
            // (actor_kind, actor_id) answers, and their events under an
            // earlier email count too.
            sql.push(
                " and actor_kind = 'admin' and actor_id in \
                 (select id from users where lower(email) = ",
            )
            .push_bind(email.clone())
            .push(")");
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
