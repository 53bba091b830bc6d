//! Cache-aside for `GET /users` pages (SPEC §6).
//!
//! Pages are stored under a *generation* number: a reader reads the generation
//! before its SELECT and stores its page under that generation; every write bumps
//! the generation after its commit. A page read before a write can therefore only
//! ever be stored under an old generation, which no later reader asks for — so no
//! stale page is served after a write returns, across any number of instances.
//!
//! A hit costs two plain GETs (the generation, usually already read while
//! authenticating the request, then the page) and no serialisation: the page is
//! stored as its final JSON bytes.

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
    types::{Expiration, Value, scripts::Script},
};

use super::Breaker;
use crate::domain::ListQuery;

/// How long Redis is skipped after a failure before a probe tries it again.
const COOLDOWN: Duration = Duration::from_millis(500);

/// Returns the generation. A missing one (a fresh or flushed Redis) starts from
/// the server's clock in microseconds, so it never repeats a generation that
/// pages may still be stored under.
const GENERATION_SCRIPT: &str = r"
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

/// What a reader should do.
pub enum Lookup {
    /// The page, exactly as it was stored.
    Hit(Bytes),
    /// Not cached: read the database, then [`UserListCache::fill`] with this ticket.
    Miss(Ticket),
    /// Redis is unavailable (or a generation bump is still owed): use the database
    /// and do not store.
    Skip,
}

/// Where to store a page: the key under the generation read *before* the SELECT.
pub struct Ticket {
    key: String,
}

#[derive(Clone)]
pub struct UserListCache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Pool,
    generation_key: String,
    page_prefix: String,
    ttl_secs: i64,
    breaker: Breaker,
    /// Bumps owed: a write committed but its bump did not reach Redis. Nothing is
    /// served from the cache while this is not zero. A counter rather than a flag,
    /// so a bump that succeeds concurrently with another's failure cannot clear a
    /// debt it did not pay.
    bumps_owed: AtomicU64,
    generation: Script,
    bump: Script,
}

impl UserListCache {
    pub fn new(redis: Pool, key_prefix: &str, ttl: Duration) -> Self {
        // One hash tag for every key of this cache, so the script's keys share a
        // slot on Redis Cluster.
        Self {
            inner: Arc::new(Inner {
                redis,
                generation_key: format!("{key_prefix}{{users}}:generation"),
                page_prefix: format!("{key_prefix}{{users}}:page:"),
                ttl_secs: ttl.as_secs().max(1) as i64,
                breaker: Breaker::new(COOLDOWN),
                bumps_owed: AtomicU64::new(0),
                generation: Script::from_lua(GENERATION_SCRIPT),
                bump: Script::from_lua(BUMP_SCRIPT),
            }),
        }
    }

    /// Looks a page up under the current generation: the one this request already
    /// read (while authenticating its token), else a fresh read. Either way it was
    /// read before the page's SELECT, which is what keeps stale pages out.
    pub async fn lookup(&self, query: &ListQuery, generation: Option<Bytes>) -> Lookup {
        let inner = &self.inner;
        let generation = match generation {
            Some(generation) if self.ready().await => generation,
            Some(_) => return Lookup::Skip,
            None => match self.generation().await {
                Some(generation) => generation,
                None => return Lookup::Skip,
            },
        };
        let key = format!(
            "{}{}:{}",
            inner.page_prefix,
            String::from_utf8_lossy(&generation),
            query.canonical()
        );
        // A plain GET: the page comes back as stored, with no copy through Lua.
        let result: Result<Option<Bytes>, _> = inner.redis.get(&key).await;
        match result {
            Ok(Some(page)) => {
                inner.breaker.record_success();
                Lookup::Hit(page)
            }
            Ok(None) => {
                inner.breaker.record_success();
                Lookup::Miss(Ticket { key })
            }
            Err(e) => {
                inner.breaker.record_failure(&e);
                Lookup::Skip
            }
        }
    }

    /// The current generation, for other caches that must not outlive a write
    /// (token authentication); `None` when Redis cannot be trusted right now.
    pub async fn generation(&self) -> Option<Bytes> {
        let inner = &self.inner;
        if !self.ready().await {
            return None;
        }
        // A plain GET almost always; the script only when the generation is missing.
        let found: Result<Option<Bytes>, _> = inner.redis.get(&inner.generation_key).await;
        let result = match found {
            Ok(Some(generation)) => Ok(Value::Bytes(generation)),
            Ok(None) => {
                inner
                    .generation
                    .evalsha_with_reload(inner.redis.next(), vec![inner.generation_key.clone()], ())
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

    /// Stores a page read from the database under the ticket's generation.
    pub async fn fill(&self, ticket: Ticket, page: Bytes) {
        let inner = &self.inner;
        if !inner.breaker.allow() {
            return;
        }
        let result: Result<(), _> = inner
            .redis
            .set(
                ticket.key,
                page,
                Some(Expiration::EX(inner.ttl_secs)),
                None,
                false,
            )
            .await;
        match result {
            Ok(()) => inner.breaker.record_success(),
            Err(e) => inner.breaker.record_failure(&e),
        }
    }

    /// Called after every committed write to users or tokens: later readers miss
    /// every page stored so far, and cached token checks are made again. If Redis cannot be told, the bump is owed and this instance
    /// does not use the cache until it is paid.
    pub async fn invalidate(&self) {
        let owed_before = self.inner.bumps_owed.load(Ordering::Acquire);
        if !self.inner.breaker.allow() || !self.bump(owed_before).await {
            self.inner.bumps_owed.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// True when Redis is reachable and no bump is owed.
    async fn ready(&self) -> bool {
        if !self.inner.breaker.allow() {
            return false;
        }
        let owed = self.inner.bumps_owed.load(Ordering::Acquire);
        owed == 0 || (self.bump(owed).await && self.inner.bumps_owed.load(Ordering::Acquire) == 0)
    }

    /// Moves to a new generation; on success, clears the debt seen before it
    /// (unless more was owed meanwhile).
    async fn bump(&self, owed_before: u64) -> bool {
        let inner = &self.inner;
        let result: Result<i64, _> = inner
            .bump
            .evalsha_with_reload(inner.redis.next(), vec![inner.generation_key.clone()], ())
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

    /// Redis just answered someone else (the health check): stop skipping it now
    /// rather than at the next probe. Owed bumps are still paid before serving.
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
