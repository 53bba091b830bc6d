use serde::Serialize;
use time::OffsetDateTime;

use crate::db::audit::AuditRow;
use crate::views::display;
use crate::views::iso;

/// Who made a change: the admin's email or the token's label at the time.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditActorView {
    /// `admin`, `token`, `cli`, `sql` or `system`.
    pub kind: String,
    pub id: Option<i64>,
    pub label: String,
}

/// What a change was made to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditSubjectView {
    /// `user` or `token`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<i64>,
    pub label: String,
}

/// One event of the audit trail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEventView {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: AuditActorView,
    /// `session`, `token`, `cli`, `import`, `scim`, `sql` or `system`.
    pub via: String,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    /// `user.created`, `user.updated`, `token.revoked`, `login.failed`, …
    pub action: String,
    pub subject: AuditSubjectView,
    /// `{"field": [old, new]}` of the fields that changed; a password or a
    /// secret as `"changed"`.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
}

impl From<AuditRow> for AuditEventView {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            at: row.at,
            actor: AuditActorView {
                kind: row.actor_kind,
                id: row.actor_id,
                label: row.actor_label,
            },
            via: row.via,
            request_id: row.request_id,
            client_ip: row.client_ip,
            action: row.action,
            subject: AuditSubjectView {
                kind: row.subject_type,
                id: row.subject_id,
                label: row.subject_label,
            },
            changes: row.changes,
        }
    }
}

/// One page of `GET /audit`, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPageView {
    pub data: Vec<AuditEventView>,
    /// Send as `after` (with the same filters) for older events.
    pub next: Option<String>,
}

/// One changed field, for the pages: old and new side by side.
pub struct ChangeLine {
    pub field: String,
    /// `None` when the field had no value (created) or is not shown ("changed").
    pub old: Option<String>,
    pub new: Option<String>,
    /// A password or a secret: only that it changed.
    pub concealed: bool,
}

impl AuditEventView {
    pub fn at_iso(&self) -> String {
        iso(self.at)
    }
    pub fn at_display(&self) -> String {
        display(self.at)
    }

    /// Where the subject is shown, while it exists.
    pub fn subject_href(&self) -> Option<String> {
        match (self.subject.kind.as_str(), self.subject.id) {
            ("user", Some(id)) => Some(format!("/users/{id}")),
            ("token", Some(_)) => Some("/tokens".into()),
            ("group", Some(id)) => Some(format!("/groups/{id}")),
            ("role", Some(id)) => Some(format!("/roles/{id}")),
            _ => None,
        }
    }

    /// The actor as a line of text: `admin a@b.c`, `token nightly sync`, `sql:postgres`.
    pub fn actor_display(&self) -> String {
        match self.actor.kind.as_str() {
            "sql" => format!("sql:{}", self.actor.label),
            kind => format!("{kind} {}", self.actor.label),
        }
    }

    pub fn change_lines(&self) -> Vec<ChangeLine> {
        let Some(fields) = self.changes.as_object() else {
            return Vec::new();
        };
        // A time (an expiry, a deletion) as the pages show times, not as
        // the database wrote it into the JSON.
        let text = |value: &serde_json::Value| match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(
                OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .map(display)
                    .unwrap_or_else(|_| s.clone()),
            ),
            other => Some(other.to_string()),
        };
        fields
            .iter()
            .map(
                |(field, change)| match change.as_array().map(Vec::as_slice) {
                    Some([old, new]) => ChangeLine {
                        field: field.clone(),
                        old: text(old),
                        new: text(new),
                        concealed: false,
                    },
                    _ => ChangeLine {
                        field: field.clone(),
                        old: None,
                        new: text(change),
                        concealed: true,
                    },
                },
            )
            .collect()
    }
}
