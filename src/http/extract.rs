//! Small extractors that turn request parts into domain values.

use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};

use crate::{
    domain::{UserId, UserIdError},
    http::error::AppError,
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
