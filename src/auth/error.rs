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
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}
