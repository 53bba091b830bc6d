//! Conditional requests: the `ETag` a user is served with and the `If-Match` a
//! write may carry, in one place.

use axum::{
    extract::FromRequestParts,
    http::{HeaderValue, header, request::Parts},
};

use crate::{domain::ExpectedVersion, http::error::AppError};

/// The entity tag of a record at `version`.
pub fn etag(version: i32) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits and quotes are valid")
}

/// The versions an `If-Match` header accepts. No header, or `*`: any version of
/// an existing record. Entity tags that are not ours never match.
pub struct IfMatch(pub ExpectedVersion);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(header::IF_MATCH).iter().peekable();
        if values.peek().is_none() {
            return Ok(Self(ExpectedVersion::Any));
        }
        let mut versions = Vec::new();
        for value in values {
            let text = value
                .to_str()
                .map_err(|_| AppError::BadRequest("If-Match is not readable text".into()))?;
            for tag in text.split(',').map(str::trim) {
                if tag == "*" {
                    return Ok(Self(ExpectedVersion::Any));
                }
                let tag = tag.strip_prefix("W/").unwrap_or(tag);
                let tag = tag.trim_matches('"');
                if let Ok(version) = tag.parse::<i32>() {
                    versions.push(version);
                }
            }
        }
        Ok(Self(ExpectedVersion::OneOf(versions)))
    }
}

impl axum::response::IntoResponse for crate::views::UserView {
    /// The user with its `ETag`, so a client can send it back in `If-Match`.
    fn into_response(self) -> axum::response::Response {
        let tag = etag(self.version);
        let mut response = axum::Json(self).into_response();
        response.headers_mut().insert(axum::http::header::ETAG, tag);
        response
    }
}
