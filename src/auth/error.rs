//! What authentication's own checks answer; the HTTP layer turns it into a
//! response (`impl From<AuthError> for AppError`).

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Over a throttle's limit; the counter's window ends in this many seconds.
    #[error("too many attempts; try again later")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Redis, which keeps the counters and sessions, did not answer.
    #[error("{0}")]
    Unavailable(&'static str),
    /// A check a genuine client passes failed (a forged or expired form).
    #[error("{0}")]
    Forbidden(String),
    /// The route needs a permission the request does not hold (`None`: the
    /// route declared nothing, so nobody may call it). `token`: the request
    /// came with a bearer token, whose scopes may be what is missing.
    #[error("forbidden")]
    MissingPermission {
        permission: Option<crate::domain::Permission>,
        token: bool,
    },
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}
