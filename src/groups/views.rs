//! A group as the API and the pages show it.

use axum::{
    Json,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::db::groups::GroupRow;
use crate::http::conditional::etag;

/// `{"id","name","description","external_id","roles","member_count","version"}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupView {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// The id an identity provider knows the group by, if any.
    pub external_id: Option<String>,
    /// The names of the roles the group gives its members, in name order.
    pub roles: Vec<String>,
    pub member_count: i64,
    /// Moves on with every change; sent back as `If-Match`.
    pub version: i32,
}

impl From<GroupRow> for GroupView {
    fn from(row: GroupRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            description: row.description,
            external_id: row.external_id,
            roles: row.roles,
            member_count: row.member_count,
            version: row.version,
        }
    }
}

impl GroupView {
    pub fn roles_display(&self) -> String {
        if self.roles.is_empty() {
            "—".into()
        } else {
            self.roles.join(", ")
        }
    }

    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(name))
    }
}

impl IntoResponse for GroupView {
    /// The group with its `ETag`, for a client to send back in `If-Match`.
    fn into_response(self) -> Response {
        let tag = etag(self.version);
        let mut response = Json(self).into_response();
        response.headers_mut().insert(header::ETAG, tag);
        response
    }
}

/// `GET /groups`: the groups matching `q`, by name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupListView {
    pub data: Vec<GroupView>,
    /// How many groups match `q` (all groups without it).
    pub total: i64,
}

/// What adding one user came to.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberResult {
    pub id: i64,
    /// `done`, `not_found` (no such user) or `already_member`.
    pub result: crate::write::MemberOutcome,
}

/// `POST /groups/{id}/members`: one result per id, in the order sent.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MemberResultsView {
    pub results: Vec<MemberResult>,
}
