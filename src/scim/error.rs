//! The SCIM face's one error type, answered in the SCIM error schema
//! (RFC 7644 §3.12): `status` as a string, `scimType` where one applies, and a
//! `detail` a person can act on.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::{ERROR_SCHEMA, ScimJson};
use crate::{http::error::AppError, write::WriteError};

/// RFC 7644's `scimType` values that this service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ScimType {
    InvalidFilter,
    InvalidSyntax,
    InvalidPath,
    InvalidValue,
    NoTarget,
    Mutability,
    Uniqueness,
    TooMany,
}

#[derive(Debug)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

pub type ScimResult<T> = Result<T, ScimError>;

impl ScimError {
    pub fn new(status: StatusCode, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, None, "no such resource")
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    schemas: [&'static str; 1],
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    scim_type: Option<ScimType>,
    detail: &'a str,
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            schemas: [ERROR_SCHEMA],
            status: self.status.as_u16().to_string(),
            scim_type: self.scim_type,
            detail: &self.detail,
        };
        let mut response = (self.status, ScimJson(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"useradmin\""),
            );
        }
        if self.status == StatusCode::FORBIDDEN {
            // Only bearer tokens reach SCIM: a 403 is a token's missing scope.
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
        }
        if let Some(retry_after) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

impl ScimError {
    fn retry_after(&self) -> Option<u64> {
        (self.status == StatusCode::TOO_MANY_REQUESTS).then_some(60)
    }
}

/// The rest of the service's errors, in SCIM's words. Internal errors are
/// logged by [`AppError`]'s own response and shown here only generically.
impl From<AppError> for ScimError {
    fn from(error: AppError) -> Self {
        let status = error.status();
        match error {
            AppError::Unauthenticated => Self::new(
                status,
                None,
                "authentication required: send Authorization: Bearer <token>",
            ),
            AppError::MissingPermission {
                permission: Some(permission),
                ..
            } => Self::new(
                status,
                None,
                format!("forbidden: this needs the permission {permission}"),
            ),
            AppError::Conflict { message, .. } if message.contains("already exists") => {
                Self::new(status, Some(ScimType::Uniqueness), message)
            }
            AppError::Conflict { message, .. } => Self::new(status, None, message),
            AppError::Validation(fields) => {
                let detail = fields
                    .iter()
                    .map(|(field, messages)| format!("{field} {}", messages.join("; ")))
                    .collect::<Vec<_>>()
                    .join(", ");
                Self::invalid_value(detail)
            }
            AppError::PreconditionFailed => Self::new(
                status,
                None,
                "the resource has changed since you read it (If-Match did not match)",
            ),
            AppError::TooManyRequests { .. } => {
                Self::new(status, Some(ScimType::TooMany), error_text(&status))
            }
            AppError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "SCIM request failed");
                Self::new(status, None, "internal error")
            }
            other => Self::new(status, None, other.to_string()),
        }
    }
}

fn error_text(status: &StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
}

impl From<WriteError> for ScimError {
    fn from(error: WriteError) -> Self {
        AppError::from(error).into()
    }
}

impl From<sqlx::Error> for ScimError {
    fn from(error: sqlx::Error) -> Self {
        AppError::from(error).into()
    }
}
