//! Small extractors that turn request parts into domain values.

use axum::{
    extract::{FromRequestParts, Path},
    http::{header, request::Parts},
};

use crate::{
    domain::{UserId, UserIdError},
    error::AppError,
};

/// The `{id}` of a `/users/{id}` route: a malformed id answers 400, an id no user
/// can have (0, negative) answers 404.
pub struct UserIdPath(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for UserIdPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::BadRequest("user id must be a positive integer".into()))?;
        match UserId::parse(&raw) {
            Ok(id) => Ok(Self(id)),
            Err(UserIdError::OutOfRange) => Err(AppError::NotFound),
            Err(e @ UserIdError::Malformed) => Err(AppError::BadRequest(e.to_string())),
        }
    }
}

/// The versions an `If-Match` header accepts. `None`: no header, or `*` (any
/// version of an existing user). Entity tags that are not ours never match.
pub struct IfMatch(pub Option<Vec<i32>>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(header::IF_MATCH).iter().peekable();
        if values.peek().is_none() {
            return Ok(Self(None));
        }
        let mut versions = Vec::new();
        for value in values {
            let text = value
                .to_str()
                .map_err(|_| AppError::BadRequest("If-Match is not readable text".into()))?;
            for tag in text.split(',').map(str::trim) {
                if tag == "*" {
                    return Ok(Self(None));
                }
                let tag = tag.strip_prefix("W/").unwrap_or(tag);
                let tag = tag.trim_matches('"');
                if let Ok(version) = tag.parse::<i32>() {
                    versions.push(version);
                }
            }
        }
        Ok(Self(Some(versions)))
    }
}

/// The entity tag of a user at `version`.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}
