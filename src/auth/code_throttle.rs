//! Throttling of wrong second-step codes, counted in Redis per admin (so across
//! instances) and apart from passwords: at most 5 attempts in 15 minutes, then
//! 429. Like the password throttle, an attempt is counted before its code is
//! checked, in one atomic step, so parallel guesses cannot slip past the limit;
//! a right code gives its attempt back.
//!
//! Keyed by the admin alone: only someone who knew the password reaches the
//! second step, so nobody else can use the limit to lock the admin out.

use fred::prelude::*;

use super::{AuthError, redis_counter::Counter};

const WINDOW_SECS: i64 = 15 * 60;
pub const LIMIT: i64 = 5;

pub struct CodeThrottle {
    counter: Counter,
    key_prefix: String,
}

fn unavailable(error: fred::error::Error) -> AuthError {
    tracing::warn!(error = %error, "Redis unavailable for code throttling");
    AuthError::Unavailable(
        "logging in is unavailable right now (the session store is down); try again shortly",
    )
}

impl CodeThrottle {
    pub fn new(redis: Pool, key_prefix: &str) -> Self {
        Self {
            counter: Counter::new(redis, WINDOW_SECS),
            key_prefix: key_prefix.to_owned(),
        }
    }

    fn key(&self, user_id: i64) -> String {
        format!("{}2fa-attempts:{user_id}", self.key_prefix)
    }

    /// Counts an attempt; 429 once the admin is over the limit.
    pub async fn attempt(&self, user_id: i64) -> Result<(), AuthError> {
        let answer = self
            .counter
            .count(self.key(user_id))
            .await
            .map_err(unavailable)?;
        let &[count, ttl] = answer.as_slice() else {
            return Err(AuthError::Internal(anyhow::anyhow!(
                "unexpected answer from the code throttle script: {answer:?}"
            )));
        };
        if count > LIMIT {
            return Err(AuthError::TooManyAttempts {
                retry_after_secs: ttl.clamp(1, WINDOW_SECS) as u64,
            });
        }
        Ok(())
    }

    /// A right code takes its own attempt back (wrong ones stay counted).
    pub async fn succeeded(&self, user_id: i64) -> Result<(), AuthError> {
        self.counter
            .give_back(self.key(user_id))
            .await
            .map_err(unavailable)
    }
}
