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
//!
//! Each bump also publishes the new generation, and the writer waits until
//! every instance has taken it in (or stopped being trusted): instances keep the
//! generation in memory while their invalidation connection is healthy, and read
//! it from Redis otherwise ([`super::local`] has the argument).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use fred::{
    prelude::*,
    types::{Value, scripts::Script},
};

use super::{
    Breaker,
    local::{LEASE, Mirror, Names, parse_bump},
};

/// How long Redis is skipped after a failure before a probe tries it again.
const COOLDOWN: Duration = Duration::from_millis(500);

/// Returns the generation. A missing one (a fresh or flushed Redis) starts from
/// the server's clock in microseconds, so it never repeats a generation that
/// entries may still be stored under; it is published (ARGV[1]) when made here.
const READ_SCRIPT: &str = r"
local gen = redis.call('GET', KEYS[1])
if not gen then
  local t = redis.call('TIME')
  if redis.call('SET', KEYS[1], t[1] .. string.format('%06d', t[2]), 'NX') then
    redis.call('PUBLISH', ARGV[1], redis.call('GET', KEYS[1]))
  end
  gen = redis.call('GET', KEYS[1])
end
return gen
";

/// Moves to the next generation (starting from the clock, as above, if missing)
/// and publishes it (ARGV[1]) in the same step. Returns it, Redis's clock in
/// milliseconds, and every instance still registered in KEYS[2] with the time
/// its registration ends: those the writer waits for.
const BUMP_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', t[2]))
end
local gen = redis.call('INCR', KEYS[1])
-- As stored: Lua's own number formatting would turn it into a float.
redis.call('PUBLISH', ARGV[1], redis.call('GET', KEYS[1]))
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local answer = {gen, now}
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES')
for i = 1, #live do
  answer[#answer + 1] = live[i]
end
return answer
";

#[derive(Clone)]
pub struct Generation {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Pool,
    key: String,
    names: Names,
    /// The generation kept in memory while the invalidation connection is healthy.
    mirror: Mirror,
    breaker: Breaker,
    /// Bumps owed: a write committed but its bump did not reach Redis. A counter
    /// rather than a flag, so a bump that succeeds concurrently with another's
    /// failure cannot clear a debt it did not pay.
    bumps_owed: AtomicU64,
    /// Bumps asked for (one per committed write), and the highest request a
    /// finished bump covered. Concurrent writers share one bump, as concurrent
    /// commits share one flush in the database: a bump that starts after a
    /// write committed covers it.
    requested: AtomicU64,
    covered: AtomicU64,
    /// One bump at a time; the writers queued behind it are usually covered by
    /// the next one.
    bumping: tokio::sync::Mutex<()>,
    read: Script,
    bump: Script,
}

impl Inner {
    fn failed(&self, error: &fred::error::Error) {
        self.breaker.record_failure(error);
    }

    fn succeeded(&self) {
        self.breaker.record_success();
    }

    /// A write whose bump could not reach Redis returns only once every other
    /// instance's lease on its in-memory generation has run out: leases are
    /// renewed through Redis, so none outlives the moment Redis was lost by
    /// more than [`LEASE`]. Only writes in the first half second of an outage
    /// wait.
    async fn outlast_leases(&self) {
        let since = self.breaker.open_since().unwrap_or_else(Instant::now);
        tokio::time::sleep_until((since + LEASE).into()).await;
    }
}

impl Generation {
    /// `hash_tag` keeps the generation in the Redis Cluster slot of the entries
    /// stored under it.
    pub fn new(redis: Pool, key_prefix: &str, hash_tag: &str) -> Self {
        let names = Names::new(key_prefix, hash_tag);
        Self {
            inner: Arc::new(Inner {
                redis,
                key: names.generation.clone(),
                names,
                mirror: Mirror::new(),
                breaker: Breaker::new(COOLDOWN),
                bumps_owed: AtomicU64::new(0),
                requested: AtomicU64::new(0),
                covered: AtomicU64::new(0),
                bumping: tokio::sync::Mutex::new(()),
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
        if let Some(generation) = inner.mirror.current() {
            return Some(generation);
        }
        // A plain GET almost always; the script only when the generation is missing.
        let found: Result<Option<Bytes>, _> = inner.redis.get(&inner.key).await;
        let result = match found {
            Ok(Some(generation)) => Ok(Value::Bytes(generation)),
            Ok(None) => {
                inner
                    .read
                    .evalsha_with_reload(
                        inner.redis.next(),
                        vec![inner.key.clone()],
                        vec![inner.names.bumped.clone()],
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(value) => {
                inner.succeeded();
                value_bytes(value)
            }
            Err(e) => {
                inner.failed(&e);
                None
            }
        }
    }

    /// Called after every committed write to users or tokens, and on every
    /// change heard from the database. If Redis cannot be told, the bump is owed.
    pub async fn bump(&self) {
        let inner = &self.inner;
        let ticket = inner.requested.fetch_add(1, Ordering::AcqRel) + 1;
        let turn = inner.bumping.lock().await;
        if inner.covered.load(Ordering::Acquire) >= ticket {
            return;
        }
        // Every request made so far was made after its write committed, so the
        // bump that starts now covers them all.
        let covers = inner.requested.load(Ordering::Acquire);
        let owed_before = inner.bumps_owed.load(Ordering::Acquire);
        if inner.breaker.allow() && self.try_bump(owed_before).await {
            inner.covered.fetch_max(covers, Ordering::AcqRel);
            return;
        }
        // The writers queued behind find Redis failing for themselves; none
        // waits out the leases behind another.
        drop(turn);
        inner.bumps_owed.fetch_add(1, Ordering::AcqRel);
        inner.outlast_leases().await;
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
        // Listening before the bump, so no acknowledgement is missed.
        let acks = inner.mirror.acks();
        let result: Result<Value, _> = inner
            .bump
            .evalsha_with_reload(
                inner.redis.next(),
                vec![inner.key.clone(), inner.names.mirrors.clone()],
                vec![inner.names.bumped.clone()],
            )
            .await;
        match result {
            Ok(answer) => {
                // Not returned (so not trusted to be seen) until every instance
                // took it in or stopped trusting its own copy.
                if let Some((generation, live)) = parse_bump(answer) {
                    acks.wait(generation, live).await;
                }
                if owed_before > 0 {
                    let _ = inner.bumps_owed.compare_exchange(
                        owed_before,
                        0,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                }
                inner.succeeded();
                true
            }
            Err(e) => {
                inner.failed(&e);
                false
            }
        }
    }

    /// Keeps the generation in memory from now on, over a connection of its own
    /// to Redis (`config`), until `stop`.
    pub fn start_mirror(&self, config: Config, stop: tokio_util::sync::CancellationToken) {
        self.inner
            .mirror
            .start(config, self.inner.names.clone(), stop);
    }

    /// The in-memory generation (for tests).
    pub fn mirror(&self) -> &Mirror {
        &self.inner.mirror
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
