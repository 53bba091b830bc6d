//! Login throttling, counted in Redis so it holds across instances (SPEC §5): at
//! most 5 failures per (email, client address) and 20 per client address in 15
//! minutes. Keying by email alone would let anyone lock the real admin out.

use fred::{prelude::*, types::ExpireOptions};
use sha2::{Digest, Sha256};

use crate::error::AppError;

const WINDOW_SECS: i64 = 15 * 60;
const PER_ACCOUNT_AND_ADDRESS: i64 = 5;
const PER_ADDRESS: i64 = 20;

#[derive(Clone)]
pub struct LoginThrottle {
    redis: Pool,
    prefix: String,
}

fn unavailable(error: fred::error::Error) -> AppError {
    tracing::warn!(error = %error, "Redis unavailable for login throttling");
    AppError::Unavailable(
        "logging in is unavailable right now (the session store is down); try again shortly",
    )
}

impl LoginThrottle {
    pub fn new(redis: Pool, key_prefix: &str) -> Self {
        Self {
            redis,
            prefix: format!("{key_prefix}login-failures:"),
        }
    }

    fn keys(&self, email: &str, address: &str) -> (String, String) {
        // Emails are hashed (and folded to lower case, so letter case cannot dodge
        // the limit) to keep keys short and addresses out of Redis in clear.
        let email = hex::encode(Sha256::digest(email.trim().to_lowercase().as_bytes()));
        (
            format!("{}{address}:{email}", self.prefix),
            format!("{}{address}", self.prefix),
        )
    }

    /// Refuses with 429 when either limit is reached.
    pub async fn check(&self, email: &str, address: &str) -> Result<(), AppError> {
        let (pair, by_address) = self.keys(email, address);
        let counts: Vec<Option<i64>> = self
            .redis
            .mget(vec![pair.clone(), by_address.clone()])
            .await
            .map_err(unavailable)?;
        let over_pair = counts.first().copied().flatten().unwrap_or(0) >= PER_ACCOUNT_AND_ADDRESS;
        let over_address = counts.get(1).copied().flatten().unwrap_or(0) >= PER_ADDRESS;
        if !(over_pair || over_address) {
            return Ok(());
        }
        let key = if over_pair { pair } else { by_address };
        let ttl: i64 = self.redis.ttl(key).await.map_err(unavailable)?;
        Err(AppError::TooManyRequests {
            retry_after_secs: ttl.clamp(1, WINDOW_SECS) as u64,
        })
    }

    pub async fn record_failure(&self, email: &str, address: &str) -> Result<(), AppError> {
        let (pair, by_address) = self.keys(email, address);
        let pipeline = self.redis.next().pipeline();
        for key in [pair, by_address] {
            let _: () = pipeline.incr(&key).await.map_err(unavailable)?;
            let _: () = pipeline
                .expire(&key, WINDOW_SECS, Some(ExpireOptions::NX))
                .await
                .map_err(unavailable)?;
        }
        let _: Vec<Value> = pipeline.all().await.map_err(unavailable)?;
        Ok(())
    }

    /// A successful login clears the failures of that account from that address.
    pub async fn record_success(&self, email: &str, address: &str) -> Result<(), AppError> {
        let (pair, _) = self.keys(email, address);
        let _: i64 = self.redis.del(pair).await.map_err(unavailable)?;
        Ok(())
    }
}
