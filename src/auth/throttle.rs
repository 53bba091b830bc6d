//! Throttling of credential guessing, counted in Redis so it holds across
//! instances.
//!
//! Logins: at most 5 attempts per (account, client address) and 20 per client
//! address in 15 minutes. An attempt is counted *before* its password is checked,
//! in one atomic step, so a burst of parallel guesses cannot slip past the limit
//! while the first ones are still being verified. The address is counted first:
//! once it is over its limit, no key is made for the emails it tries, so an
//! anonymous client cannot grow Redis without bound. IPv6 clients are counted
//! per /64 ([`counted_address`]), for logins and bearer tokens alike. A successful login takes its
//! own attempt back. Keying by account alone would let anyone lock the real admin
//! out, hence the address in the key.
//!
//! Bearer tokens: a client address whose tokens failed 60 times within a minute
//! gets 429 without a database lookup.

use std::net::{IpAddr, Ipv6Addr};

use fred::prelude::*;
use sha2::{Digest, Sha256};

use super::{
    AuthError,
    redis_counter::{Counter, CountingScript},
};

const LOGIN_WINDOW_SECS: i64 = 15 * 60;
const PER_ACCOUNT_AND_ADDRESS: i64 = 5;
const PER_ADDRESS: i64 = 20;

const TOKEN_WINDOW_SECS: i64 = 60;
const TOKEN_FAILURES_PER_ADDRESS: i64 = 60;

/// Counts one attempt: first on the address's key (KEYS[2]); only while the
/// address is within its limit (ARGV[2]) on the (account, address) key
/// (KEYS[1]), so an address over its limit creates no key per email it tries.
/// Answers both counts (0 for an account not counted) and both remaining
/// lifetimes. The window starts with the first attempt and does not slide.
const ATTEMPT_SCRIPT: &str = r"
local address = count(KEYS[2], ARGV[1])
if address > tonumber(ARGV[2]) then
  return {0, address, -2, redis.call('TTL', KEYS[2])}
end
local pair = count(KEYS[1], ARGV[1])
return {pair, address, redis.call('TTL', KEYS[1]), redis.call('TTL', KEYS[2])}
";

/// A successful login: its (account, address) key (KEYS[1]) goes, and its
/// attempt is given back to the address (KEYS[2]) if that is still counted.
const SUCCESS_SCRIPT: &str = r"
redis.call('DEL', KEYS[1])
return give_back(KEYS[2])
";

#[derive(Clone)]
pub struct Throttle {
    redis: Pool,
    prefix: String,
    attempt: CountingScript,
    success: CountingScript,
    token_failures: Counter,
}

fn unavailable(error: fred::error::Error) -> AuthError {
    tracing::warn!(error = %error, "Redis unavailable for login throttling");
    AuthError::Unavailable(
        "logging in is unavailable right now (the session store is down); try again shortly",
    )
}

impl Throttle {
    pub fn new(redis: Pool, key_prefix: &str) -> Self {
        Self {
            token_failures: Counter::new(redis.clone(), TOKEN_WINDOW_SECS),
            redis,
            prefix: key_prefix.to_owned(),
            attempt: CountingScript::new(ATTEMPT_SCRIPT),
            success: CountingScript::new(SUCCESS_SCRIPT),
        }
    }

    /// The keys of one (account, address) pair and of the address alone. The
    /// account is hashed to keep keys short and addresses out of Redis in clear;
    /// the hash tag keeps both keys in one slot on Redis Cluster.
    fn login_keys(&self, account: &LoginKey, address: &str) -> (String, String) {
        let address = counted_address(address);
        let account = hex::encode(Sha256::digest(account.0.as_bytes()));
        (
            format!("{}login-attempts:{{{address}}}:{account}", self.prefix),
            format!("{}login-attempts:{{{address}}}", self.prefix),
        )
    }

    /// Counts a login attempt; 429 when it goes over either limit.
    pub async fn login_attempt(&self, account: &LoginKey, address: &str) -> Result<(), AuthError> {
        let (pair, by_address) = self.login_keys(account, address);
        let answer: Vec<i64> = self
            .attempt
            .run(
                &self.redis,
                vec![pair, by_address],
                vec![LOGIN_WINDOW_SECS, PER_ADDRESS],
            )
            .await
            .map_err(unavailable)?;
        let &[pair_count, address_count, pair_ttl, address_ttl] = answer.as_slice() else {
            return Err(AuthError::Internal(anyhow::anyhow!(
                "unexpected answer from the throttle script: {answer:?}"
            )));
        };
        let ttl = if pair_count > PER_ACCOUNT_AND_ADDRESS {
            pair_ttl
        } else if address_count > PER_ADDRESS {
            address_ttl
        } else {
            return Ok(());
        };
        Err(AuthError::TooManyAttempts {
            retry_after_secs: ttl.clamp(1, LOGIN_WINDOW_SECS) as u64,
        })
    }

    /// A successful login clears that account's attempts from that address and
    /// gives back its place in the address's allowance (without making the
    /// address's key again, with no expiry, if its window has ended).
    pub async fn login_succeeded(
        &self,
        account: &LoginKey,
        address: &str,
    ) -> Result<(), AuthError> {
        let (pair, by_address) = self.login_keys(account, address);
        let _: i64 = self
            .success
            .run(&self.redis, vec![pair, by_address], Vec::new())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn token_key(&self, address: &str) -> String {
        format!("{}token-failures:{}", self.prefix, counted_address(address))
    }

    /// 429 when this address's tokens failed too often. Without Redis every
    /// request is let through: PostgreSQL still decides.
    pub async fn token_check(&self, address: &str) -> Result<(), AuthError> {
        let key = self.token_key(address);
        let count: Result<Option<i64>, _> = self.redis.get(&key).await;
        if count.ok().flatten().unwrap_or(0) < TOKEN_FAILURES_PER_ADDRESS {
            return Ok(());
        }
        let ttl: i64 = self.redis.ttl(&key).await.unwrap_or(TOKEN_WINDOW_SECS);
        Err(AuthError::TooManyAttempts {
            retry_after_secs: ttl.clamp(1, TOKEN_WINDOW_SECS) as u64,
        })
    }

    pub async fn token_failed(&self, address: &str) {
        // Without Redis the failure goes uncounted, as the check lets it through.
        let _ = self.token_failures.count(self.token_key(address)).await;
    }
}

/// The client a counter is kept for: an IPv4 address as it is, an IPv6 client
/// by its /64 (one subscriber or host is usually given a whole /64, so counting
/// single addresses would hand it 2^64 allowances), an IPv4 address mapped into
/// IPv6 as the IPv4 address. Anything that is no address (a test's "unknown")
/// is kept as it is.
pub fn counted_address(address: &str) -> String {
    match address.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(network))
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => address.to_owned(),
    }
}

/// An email as the login lookup compares it: PostgreSQL's `lower()` of the
/// trimmed input (see `db::users::login_key`), so a spelling that would log in as
/// an account always counts against that account's attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginKey(String);

impl LoginKey {
    /// Only `db::users::login_key` makes one, from the database's own folding.
    pub fn from_database(folded: String) -> Self {
        Self(folded)
    }
}

#[cfg(test)]
mod tests {
    use super::counted_address;

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(counted_address("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(
            counted_address("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(
            counted_address("2001:db8:1:3::1"),
            counted_address("2001:db8:1:2::1")
        );
        assert_eq!(counted_address("::ffff:198.51.100.7"), "198.51.100.7");
        assert_eq!(counted_address("198.51.100.7"), "198.51.100.7");
        assert_eq!(counted_address("unknown"), "unknown");
    }
}
