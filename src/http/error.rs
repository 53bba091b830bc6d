//! The one error type of the HTTP layer and the one place that turns errors into
//! responses. What a client can fix gets a clear message; anything else is logged
//! with its cause chain (inside the request's span, so with its request id) and
//! answered with a generic message.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::{
    auth::AuthError,
    db,
    domain::{FieldErrors, Permission},
    write::WriteError,
};

pub use crate::write::LAST_ADMIN;

/// What a JSON client of a page for browsers (`/login`, the forms) is told.
pub const HTML_ONLY: &str = "this is a page for browsers: send `Accept: text/html` to get it. \
Scripts do not log in: they send `Authorization: Bearer <token>` (create one with \
`useradmin token create --name NAME`) to the JSON API described at /openapi.json";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    /// See [`AuthError::MissingPermission`].
    #[error("forbidden")]
    MissingPermission {
        permission: Option<Permission>,
        token: bool,
    },
    #[error("not found")]
    NotFound,
    /// A page for browsers asked for as JSON: it says how to get the page, and
    /// what scripts use instead.
    #[error("{}", HTML_ONLY)]
    HtmlOnly,
    #[error("{message}")]
    Conflict {
        message: String,
        fields: Option<FieldErrors>,
    },
    #[error("the resource has changed since you read it (If-Match did not match)")]
    PreconditionFailed,
    #[error("request body is larger than 64 KiB")]
    PayloadTooLarge,
    /// A file over the limit of its own route (the import's), named in the message.
    #[error("{0}")]
    FileTooLarge(String),
    #[error("send the body as application/json or application/x-www-form-urlencoded")]
    UnsupportedMediaType,
    /// A route that takes other media types than JSON and forms, naming them.
    #[error("{0}")]
    UnsupportedMediaTypeOf(String),
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("{0}")]
    Unprocessable(String),
    #[error("too many attempts; try again later")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

/// The JSON error body: `{"error": …}`, with `fields` for validation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<FieldErrors>,
    /// With a 403: the permission the request lacked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<Permission>,
}

/// Attached to every error response, so the layer that renders HTML for browsers
/// can show the same message without parsing the JSON body.
#[derive(Debug, Clone)]
pub struct ErrorDetails {
    pub message: String,
    pub fields: Option<FieldErrors>,
    /// What the error is about, for the page to link to (the user who holds
    /// an email); the JSON body does not carry it.
    pub link: Option<ErrorLink>,
}

/// A link on an error page to what the error is about.
#[derive(Debug, Clone)]
pub struct ErrorLink {
    pub href: String,
    pub text: String,
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::MissingPermission { .. } => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::HtmlOnly => StatusCode::NOT_ACCEPTABLE,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge | Self::FileTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType | Self::UnsupportedMediaTypeOf(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::Validation(_) | Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
            fields: None,
        }
    }

    fn email_taken() -> Self {
        Self::Conflict {
            message: "a user with this email already exists".into(),
            fields: Some(FieldErrors::single(
                "email",
                "is already used by another user",
            )),
        }
    }

    /// The error's response, with a page message of its own and a link to what
    /// it is about; the JSON body stays as it is.
    pub fn with_page(self, message: String, link: Option<ErrorLink>) -> Response {
        let mut response = self.into_response();
        if let Some(details) = response.extensions_mut().get_mut::<ErrorDetails>() {
            details.message = message;
            details.link = link;
        }
        response
    }

    pub fn last_admin() -> Self {
        Self::conflict(LAST_ADMIN)
    }

    pub fn database_unavailable() -> Self {
        Self::Unavailable("the database is unavailable; try again shortly")
    }
}

impl From<AuthError> for AppError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::TooManyAttempts { retry_after_secs } => {
                Self::TooManyRequests { retry_after_secs }
            }
            AuthError::Unavailable(message) => Self::Unavailable(message),
            AuthError::Forbidden(message) => Self::Forbidden(message),
            AuthError::MissingPermission { permission, token } => {
                Self::MissingPermission { permission, token }
            }
            AuthError::Internal(error) => Self::Internal(error),
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        if db::is_unavailable(&error) {
            if matches!(error, sqlx::Error::PoolTimedOut) {
                crate::metrics::pool_timeout();
            }
            tracing::warn!(error = %error, "database unavailable");
            return Self::database_unavailable();
        }
        match db::violated_unique_constraint(&error) {
            Some("users_email_key") => Self::email_taken(),
            _ => Self::Internal(error.into()),
        }
    }
}

impl From<WriteError> for AppError {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::NotFound => Self::NotFound,
            WriteError::VersionMismatch => Self::PreconditionFailed,
            WriteError::LastAdmin => Self::last_admin(),
            WriteError::EmailTaken => Self::email_taken(),
            WriteError::ExternalIdTaken => Self::Conflict {
                message: "a user with this external id already exists".into(),
                fields: Some(FieldErrors::single(
                    "external_id",
                    "is already used by another user",
                )),
            },
            WriteError::Escalation(permission) => Self::MissingPermission {
                permission: Some(permission),
                token: false,
            },
            WriteError::Taken { field, message } => Self::Conflict {
                message: message.into(),
                fields: Some(FieldErrors::single(field, "is already used")),
            },
            WriteError::Conflict(message) => Self::conflict(message),
            WriteError::Invalid(fields) => Self::Validation(fields),
            WriteError::Database(error) => error.into(),
            WriteError::Hashing(error) => Self::Internal(error),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            Self::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            // Busy or briefly away: worth another try soon.
            Self::Unavailable(_) => Some(1),
            _ => None,
        };
        if let Self::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let (permission, insufficient_scope) = match &self {
            Self::MissingPermission { permission, token } => (*permission, *token),
            _ => (None, false),
        };
        let (message, fields) = match self {
            Self::Validation(fields) => ("validation failed".to_owned(), Some(fields)),
            Self::Conflict { message, fields } => (message, fields),
            other => (other.to_string(), None),
        };
        let details = ErrorDetails {
            // The pages say in plain words what the JSON names.
            message: match (status, permission) {
                (StatusCode::FORBIDDEN, Some(permission)) => {
                    format!("You need the permission {permission} to do this.")
                }
                _ => message.clone(),
            },
            fields: fields.clone(),
            link: None,
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: message,
                fields,
                permission,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"useradmin\""),
            );
        }
        if insufficient_scope {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
            );
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(details);
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;
