//! The body of a delivery, per Standard Webhooks:
//! `{"type": "user.updated", "timestamp": "…", "data": {"user": {…}, "changes": {…}}}`.
//!
//! The outbox keeps the subject as the audit trigger saw it (`to_jsonb` of its
//! row, without secrets); here it becomes what the API shows — the user of
//! `GET /users/{id}`, the token of `GET /tokens` — through the same view types,
//! so a receiver can treat a webhook and an API read alike. A subject whose row
//! was gone (a purge) stays `{"id": N}`. Rendering depends only on the stored
//! delivery, so every attempt sends the same bytes.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::db::{tokens::TokenRow, users::UserRow};
use crate::domain::UserStatus;
use crate::views::TokenView;
use crate::views::UserView;

/// The event type of a test delivery, whose payload is sent as stored.
pub const TEST_EVENT: &str = "webhook.test";

#[derive(Debug, thiserror::Error)]
#[error("cannot build the {event_type} payload: {reason}")]
pub struct PayloadError {
    event_type: String,
    reason: String,
}

/// The `webhook-id` header of a delivery: the same on every attempt, so a
/// receiver can drop a repeat.
pub fn message_id(id: Uuid) -> String {
    format!("msg_{}", id.simple())
}

/// The JSON body of a delivery.
pub fn body(
    event_type: &str,
    occurred_at: OffsetDateTime,
    stored: &Value,
) -> Result<Vec<u8>, PayloadError> {
    let fail = |reason: String| PayloadError {
        event_type: event_type.to_owned(),
        reason,
    };
    let data = if event_type == TEST_EVENT {
        Data::AsStored(stored)
    } else {
        shown(stored).map_err(fail)?
    };
    let envelope = Envelope {
        kind: event_type,
        timestamp: occurred_at.to_offset(UtcOffset::UTC),
        data,
    };
    serde_json::to_vec(&envelope).map_err(|e| fail(e.to_string()))
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
    data: Data<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Data<'a> {
    User {
        user: Subject<UserView>,
        changes: &'a Value,
    },
    Token {
        token: Subject<TokenView>,
        changes: &'a Value,
    },
    /// Groups and roles: the database writes them as the API shows them.
    AsStored(&'a Value),
}

/// A subject as the API shows it, or only its id when its row was gone.
#[derive(Serialize)]
#[serde(untagged)]
enum Subject<T> {
    Shown(T),
    Gone { id: i64 },
}

fn shown(stored: &Value) -> Result<Data<'_>, String> {
    static NO_CHANGES: Value = Value::Null;
    let fields = stored
        .as_object()
        .ok_or("the stored payload is not an object")?;
    let changes = fields.get("changes").unwrap_or(&NO_CHANGES);
    if let Some(user) = fields.get("user") {
        let user = subject::<StoredUser>(user)?.map(|user| UserView::from(UserRow::from(user)));
        return Ok(Data::User { user, changes });
    }
    if let Some(token) = fields.get("token") {
        let token =
            subject::<StoredToken>(token)?.map(|token| TokenView::from(TokenRow::from(token)));
        return Ok(Data::Token { token, changes });
    }
    if fields.contains_key("group") || fields.contains_key("role") {
        return Ok(Data::AsStored(stored));
    }
    Err("the stored payload has no user, token, group or role".into())
}

fn subject<T: DeserializeOwned>(stored: &Value) -> Result<Subject<T>, String> {
    if let Some(id) = gone_id(stored) {
        return Ok(Subject::Gone { id });
    }
    T::deserialize(stored)
        .map(Subject::Shown)
        .map_err(|e| e.to_string())
}

/// `{"id": N}` and nothing else: what the trigger stores for a row it could
/// not read.
fn gone_id(stored: &Value) -> Option<i64> {
    match stored.as_object().map(Map::len) {
        Some(1) => stored.get("id")?.as_i64(),
        _ => None,
    }
}

impl<T> Subject<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Subject<U> {
        match self {
            Self::Shown(shown) => Subject::Shown(f(shown)),
            Self::Gone { id } => Subject::Gone { id },
        }
    }
}

/// A user row as `to_jsonb` writes it. Times are normalised to UTC: the JSON
/// carries the offset of the writing session's time zone, the API shows UTC.
#[derive(Deserialize)]
struct StoredUser {
    id: i64,
    name: String,
    email: String,
    is_admin: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    version: i32,
    status: UserStatus,
    disabled_reason: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    disabled_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    deleted_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    last_login_at: Option<OffsetDateTime>,
    external_id: Option<String>,
    #[serde(default)]
    scim_profile: Option<serde_json::Value>,
    // What the user holds (0019); absent from payloads queued before it.
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    groups: Vec<crate::db::users::GroupRef>,
    #[serde(default)]
    permissions: Vec<String>,
}

impl From<StoredUser> for UserRow {
    fn from(user: StoredUser) -> Self {
        Self {
            id: user.id,
            name: user.name,
            email: user.email,
            is_admin: user.is_admin,
            created_at: utc(user.created_at),
            updated_at: utc(user.updated_at),
            version: user.version,
            status: user.status,
            disabled_reason: user.disabled_reason,
            disabled_at: user.disabled_at.map(utc),
            deleted_at: user.deleted_at.map(utc),
            last_login_at: user.last_login_at.map(utc),
            external_id: user.external_id,
            scim_profile: user.scim_profile,
            roles: user.roles,
            groups: sqlx::types::Json(user.groups),
            permissions: user.permissions,
        }
    }
}

/// A token row as `to_jsonb` writes it (without its hash).
#[derive(Deserialize)]
struct StoredToken {
    id: i64,
    label: String,
    created_by: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
    /// Absent in events stored before tokens had scopes (0017).
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

impl From<StoredToken> for TokenRow {
    fn from(token: StoredToken) -> Self {
        Self {
            id: token.id,
            label: token.label,
            created_by: token.created_by,
            created_at: utc(token.created_at),
            last_used_at: token.last_used_at.map(utc),
            revoked_at: token.revoked_at.map(utc),
            scopes: token.scopes,
            expires_at: token.expires_at.map(utc),
        }
    }
}

fn utc(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn rendered(event_type: &str, stored: Value) -> Value {
        let at = datetime!(2026-12-01 07:29:33.5 +01:00);
        serde_json::from_slice(&body(event_type, at, &stored).unwrap()).unwrap()
    }

    #[test]
    fn a_user_event_shows_the_user_as_the_api_does() {
        let stored = json!({
            "user": {
                "id": 7, "name": "Ann", "email": "ann@example.com", "is_admin": false,
                "created_at": "2026-12-01T06:29:33.697593+00:00",
                "updated_at": "2026-12-01T08:29:33.1+02:00",
                "version": 2, "status": "active", "disabled_reason": null,
                "disabled_at": null, "deleted_at": null, "last_login_at": null,
                "external_id": null, "some_future_column": 1
            },
            "changes": {"name": ["Anne", "Ann"]}
        });
        let body = rendered("user.updated", stored);
        assert_eq!(body["type"], "user.updated");
        assert_eq!(body["timestamp"], "2026-12-01T06:29:33.5Z");
        assert_eq!(body["data"]["changes"], json!({"name": ["Anne", "Ann"]}));
        let user = &body["data"]["user"];
        assert_eq!(user["created_at"], "2026-12-01T06:29:33.697593Z");
        assert_eq!(user["updated_at"], "2026-12-01T06:29:33.1Z");
        assert_eq!(user["status"], "active");
        assert!(user.get("deleted_at").is_none(), "{user}");
        assert!(user.get("some_future_column").is_none(), "{user}");
        let keys: Vec<&String> = user.as_object().unwrap().keys().collect();
        let view = serde_json::to_value(UserView::from(UserRow::from(
            serde_json::from_value::<StoredUser>(
                json!({"id": 1, "name": "n", "email": "e@x.y", "is_admin": true,
                       "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
                       "version": 1, "status": "active", "disabled_reason": null,
                       "external_id": null}),
            )
            .unwrap(),
        )))
        .unwrap();
        assert_eq!(keys, view.as_object().unwrap().keys().collect::<Vec<_>>());
    }

    #[test]
    fn a_purged_user_is_its_id() {
        let body = rendered("user.purged", json!({"user": {"id": 9}, "changes": {}}));
        assert_eq!(body["data"], json!({"user": {"id": 9}, "changes": {}}));
    }

    #[test]
    fn a_token_event_shows_the_token_without_its_owner_or_hash() {
        let stored = json!({
            "token": {
                "id": 3, "label": "sync", "created_by": 1,
                "created_at": "2026-12-01T06:29:33+00:00", "last_used_at": null,
                "revoked_at": "2026-12-02T06:29:33+00:00"
            },
            "changes": {"revoked_at": [null, "2026-12-02T06:29:33+00:00"]}
        });
        let body = rendered("token.revoked", stored);
        // Stored before tokens had scopes (0017): both null.
        assert_eq!(
            body["data"]["token"],
            json!({"id": 3, "label": "sync", "created_at": "2026-12-01T06:29:33Z",
                   "last_used_at": null, "revoked_at": "2026-12-02T06:29:33Z",
                   "scopes": null, "expires_at": null})
        );
        let stored = json!({
            "token": {
                "id": 4, "label": "idp", "created_by": 1,
                "created_at": "2026-12-01T06:29:33+00:00", "last_used_at": null,
                "revoked_at": null, "scopes": ["scim.provision"],
                "expires_at": "2027-12-01T06:29:33+00:00"
            },
            "changes": {}
        });
        let token = &rendered("token.created", stored)["data"]["token"];
        assert_eq!(token["scopes"], json!(["scim.provision"]));
        assert_eq!(token["expires_at"], "2027-12-01T06:29:33Z");
    }

    #[test]
    fn a_test_event_is_sent_as_stored() {
        let stored = json!({"webhook": {"id": 4}, "test": true});
        assert_eq!(rendered(TEST_EVENT, stored.clone())["data"], stored);
    }

    #[test]
    fn every_attempt_sends_the_same_bytes() {
        let stored = json!({"user": {"id": 9}, "changes": {"b": 1, "a": [1, 2]}});
        let at = OffsetDateTime::now_utc();
        assert_eq!(
            body("user.deleted", at, &stored).unwrap(),
            body("user.deleted", at, &stored).unwrap()
        );
    }

    #[test]
    fn an_unreadable_payload_is_an_error_not_a_leak() {
        let error = body(
            "user.updated",
            OffsetDateTime::now_utc(),
            &json!({"user": {"id": 1, "password_hash": "x"}}),
        )
        .unwrap_err();
        assert!(error.to_string().contains("user.updated"), "{error}");
        assert!(body("user.updated", OffsetDateTime::now_utc(), &json!([])).is_err());
    }

    #[test]
    fn message_ids_have_no_dashes() {
        let id = Uuid::parse_str("0190c3a2-7e5b-7cc0-9a55-8b2f11d3e4f5").unwrap();
        assert_eq!(message_id(id), "msg_0190c3a27e5b7cc09a558b2f11d3e4f5");
    }
}
