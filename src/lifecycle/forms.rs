use serde::Deserialize;

/// `POST /users/{id}/disable`.
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct DisableInput {
    /// Why the account is disabled: at most 500 characters; may be empty.
    #[serde(default)]
    pub reason: String,
    /// The version the confirmation page was shown at (instead of `If-Match`).
    pub version: Option<i32>,
    /// The form's CSRF token (checked during authentication).
    #[schema(write_only)]
    pub csrf_token: Option<String>,
}

/// `POST /users/bulk`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInput {
    /// `disable`, `enable`, `delete`, `restore`, `promote` or `demote`.
    #[schema(pattern = "^(disable|enable|delete|restore|promote|demote)$")]
    pub action: String,
    /// At most 1,000 user ids.
    #[schema(max_items = 1000)]
    pub ids: Vec<i64>,
    /// With `disable`: why.
    pub reason: Option<String>,
}
