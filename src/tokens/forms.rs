use serde::Deserialize;

/// `POST /tokens`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    /// What the token is for: 1 to 100 characters, without control characters.
    #[schema(min_length = 1)]
    #[serde(default)]
    pub label: String,
}
