//! The one way the throttles count in Redis: a counter per key whose window
//! starts with its first count (INCR, and EXPIRE when that made it 1, in one
//! atomic script, so no counter is ever left without an expiry), and a give-back
//! that takes a count away without creating a key (with no expiry) that has gone.
//!
//! The Lua functions below are prepended to every counting script, so a script
//! that counts more than one key at once (the login throttle's) still counts
//! each one the same way.

use fred::{
    prelude::*,
    types::{FromValue, scripts::Script},
};

/// `count(key, window)`: the key's count after this one; `give_back(key)`: the
/// count after taking one back, 0 for a key that is not there.
const FUNCTIONS: &str = r"
local function count(key, window)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, window) end
  return n
end
local function give_back(key)
  if redis.call('EXISTS', key) == 1 then return redis.call('DECR', key) end
  return 0
end
";

/// Counts KEYS[1] in a window of ARGV[1] seconds: its count and remaining lifetime.
const COUNT_ONE: &str = "return {count(KEYS[1], ARGV[1]), redis.call('TTL', KEYS[1])}";

/// Takes one count back from KEYS[1].
const GIVE_BACK_ONE: &str = "return give_back(KEYS[1])";

/// A Lua script with [`FUNCTIONS`] in scope.
#[derive(Clone)]
pub(super) struct CountingScript(Script);

impl CountingScript {
    pub(super) fn new(body: &str) -> Self {
        Self(Script::from_lua(format!("{FUNCTIONS}{body}")))
    }

    pub(super) async fn run<R: FromValue>(
        &self,
        redis: &Pool,
        keys: Vec<String>,
        args: Vec<i64>,
    ) -> Result<R, fred::error::Error> {
        self.0.evalsha_with_reload(redis.next(), keys, args).await
    }
}

/// Counters of one key each, in a window of fixed length.
#[derive(Clone)]
pub(super) struct Counter {
    redis: Pool,
    window_secs: i64,
    count: CountingScript,
    give_back: CountingScript,
}

impl Counter {
    pub(super) fn new(redis: Pool, window_secs: i64) -> Self {
        Self {
            redis,
            window_secs,
            count: CountingScript::new(COUNT_ONE),
            give_back: CountingScript::new(GIVE_BACK_ONE),
        }
    }

    /// Counts one more on `key`: its count and the window's remaining seconds.
    pub(super) async fn count(&self, key: String) -> Result<Vec<i64>, fred::error::Error> {
        self.count
            .run(&self.redis, vec![key], vec![self.window_secs])
            .await
    }

    /// Takes one count back from `key`, if it is still counted.
    pub(super) async fn give_back(&self, key: String) -> Result<(), fred::error::Error> {
        let _: i64 = self
            .give_back
            .run(&self.redis, vec![key], Vec::new())
            .await?;
        Ok(())
    }
}
