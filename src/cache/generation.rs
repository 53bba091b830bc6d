//! The cache generation: one number in Redis that every write to users or tokens
//! moves on after its commit. Whatever is cached under an older number
//! — list pages, trusted token checks — is never used again, on any instance.
//!
//! A reader reads the generation *before* its database read and stores what it
//! read under that generation, so a read that raced a write can only ever be
//! stored where nobody looks.
//!
//! When Redis cannot be told (down, or too slow), the bump is owed: this instance
//! uses nothing cached until it has paid it. While Redis is failing a circuit
//! breaker skips it, probing once per cooldown.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use fred::{
    prelude::*,
    types::{Value, scripts::Script},
};

use super::Breaker;

/// How long Redis is skipped after a failure before a probe tries it again.
const COOLDOWN: Duration = Duration::from_millis(500);

/// Returns the generation. A missing one (a fresh or flushed Redis) starts from
/// the server's clock in microseconds, so it never repeats a generation that
/// entries may still be stored under.
const READ_SCRIPT: &str = r"
local gen = redis.call('GET', KEYS[1])
if not gen then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', t[2]), 'NX')
  gen = redis.call('GET', KEYS[1])
end
return gen
";

/// Moves to the next generation (starting from the clock, as above, if missing).
const BUMP_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', t[2]))
end
return redis.call('INCR', KEYS[1])
";

#[derive(Clone)]
pub struct Generation {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Pool,
    key: String,
    breaker: Breaker,
    /// Bumps owed: a write committed but its bump did not reach Redis. A counter
    /// rather than a flag, so a bump that succeeds concurrently with another's
    /// failure cannot clear a debt it did not pay.
    bumps_owed: AtomicU64,
    read: Script,
    bump: Script,
}

impl Generation {
    /// `hash_tag` keeps the generation in the Redis Cluster slot of the entries
    /// stored under it.
    pub fn new(redis: Pool, key_prefix: &str, hash_tag: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                redis,
                key: format!("{key_prefix}{{{hash_tag}}}:generation"),
                breaker: Breaker::new(COOLDOWN),
                bumps_owed: AtomicU64::new(0),
                read: Script::from_lua(READ_SCRIPT),
                bump: Script::from_lua(BUMP_SCRIPT),
            }),
        }
    }

    /// The current generation; `None` when Redis cannot be trusted right now
    /// (unreachable, or a bump is still owed), in which case nothing cached may
    /// be used.
    pub async fn current(&self) -> Option<Bytes> {
        if !self.ready().await {
            return None;
        }
        let inner = &self.inner;
        // A plain GET almost always; the script only when the generation is missing.
        let found: Result<Option<Bytes>, _> = inner.redis.get(&inner.key).await;
        let result = match found {
            Ok(Some(generation)) => Ok(Value::Bytes(generation)),
            Ok(None) => {
                inner
                    .read
                    .evalsha_with_reload(inner.redis.next(), vec![inner.key.clone()], ())
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(value) => {
                inner.breaker.record_success();
                value_bytes(value)
            }
            Err(e) => {
                inner.breaker.record_failure(&e);
                None
            }
        }
    }

    /// Called after every committed write to users or tokens, and on every
    /// change heard from the database. If Redis cannot be told, the bump is owed.
    pub async fn bump(&self) {
        let owed_before = self.inner.bumps_owed.load(Ordering::Acquire);
        if !self.inner.breaker.allow() || !self.try_bump(owed_before).await {
            self.inner.bumps_owed.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// True when the generation read with [`Self::current`] may still be trusted
    /// for a following command: Redis reachable and no bump owed.
    pub async fn ready(&self) -> bool {
        if !self.inner.breaker.allow() {
            return false;
        }
        let owed = self.inner.bumps_owed.load(Ordering::Acquire);
        owed == 0
            || (self.try_bump(owed).await && self.inner.bumps_owed.load(Ordering::Acquire) == 0)
    }

    /// Moves to a new generation; on success, clears the debt seen before it
    /// (unless more was owed meanwhile).
    async fn try_bump(&self, owed_before: u64) -> bool {
        let inner = &self.inner;
        let result: Result<i64, _> = inner
            .bump
            .evalsha_with_reload(inner.redis.next(), vec![inner.key.clone()], ())
            .await;
        match result {
            Ok(_) => {
                if owed_before > 0 {
                    let _ = inner.bumps_owed.compare_exchange(
                        owed_before,
                        0,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                }
                inner.breaker.record_success();
                true
            }
            Err(e) => {
                inner.breaker.record_failure(&e);
                false
            }
        }
    }

    /// The breaker in front of Redis, shared with the caches stored under this
    /// generation.
    pub fn breaker(&self) -> &Breaker {
        &self.inner.breaker
    }

    /// Redis answered someone else (the health check): stop skipping it now
    /// rather than at the next probe.
    pub fn redis_answered(&self) {
        self.inner.breaker.record_success();
    }

    /// Whether Redis is currently being skipped (for `/health` and tests).
    pub fn is_bypassed(&self) -> bool {
        self.inner.breaker.is_open() || self.inner.bumps_owed.load(Ordering::Acquire) > 0
    }
}

fn value_bytes(value: Value) -> Option<Bytes> {
    match value {
        Value::Bytes(bytes) => Some(bytes),
        Value::String(text) => Some(text.into_inner()),
        Value::Integer(n) => Some(Bytes::from(n.to_string())),
        _ => None,
    }
}
