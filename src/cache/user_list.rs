//! Cache-aside for `GET /users` pages, stored under the cache
//! [`Generation`]: a page read before a write can only ever be stored under an
//! old generation, which no later reader asks for — so no stale page is served
//! after a write returns, across any number of instances.
//!
//! A hit costs two plain GETs (the generation, usually already read while
//! authenticating the request, then the page) and no serialisation: the page is
//! stored as its final JSON bytes. Hot pages are also kept in this process
//! ([`LocalPages`]) under the same keys, so while the generation is kept in memory
//! too ([`super::Mirror`]) a hit costs no Redis round trip at all.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use fred::{prelude::*, types::Expiration};

use super::{Generation, LocalPages};
use crate::domain::ListQuery;
use crate::metrics::{self, CacheSource};

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
    generation: Generation,
    redis: Pool,
    page_prefix: String,
    ttl_secs: i64,
    local: Arc<LocalPages>,
}

impl UserListCache {
    pub fn new(generation: Generation, redis: Pool, key_prefix: &str, ttl: Duration) -> Self {
        Self {
            generation,
            redis,
            // The generation's hash tag, so both share a slot on Redis Cluster.
            page_prefix: format!("{key_prefix}{{users}}:page:"),
            ttl_secs: ttl.as_secs().max(1) as i64,
            local: Arc::new(LocalPages::new(0, ttl)),
        }
    }

    /// Also keeps up to `max_bytes` of pages in this process.
    pub fn with_local_pages(mut self, max_bytes: u64) -> Self {
        self.local = Arc::new(LocalPages::new(
            max_bytes,
            Duration::from_secs(self.ttl_secs as u64),
        ));
        self
    }

    /// Pages kept in this process, and their bytes.
    pub fn local_usage(&self) -> (usize, u64) {
        self.local.usage()
    }

    /// Looks a page up under the current generation: the one this request already
    /// read (while authenticating its token), else a fresh read. Either way it was
    /// read before the page's SELECT, which is what keeps stale pages out.
    pub async fn lookup(&self, query: &ListQuery, generation: Option<Bytes>) -> Lookup {
        let lookup = self.find(query, generation).await;
        if !matches!(lookup, Lookup::Hit(_)) {
            metrics::cache_read(CacheSource::Database);
        }
        lookup
    }

    async fn find(&self, query: &ListQuery, generation: Option<Bytes>) -> Lookup {
        let generation = match generation {
            Some(generation) if self.generation.ready().await => generation,
            Some(_) => return Lookup::Skip,
            None => match self.generation.current().await {
                Some(generation) => generation,
                None => return Lookup::Skip,
            },
        };
        let key = format!(
            "{}{}:{}",
            self.page_prefix,
            String::from_utf8_lossy(&generation),
            query.canonical()
        );
        if let Some(page) = self.local.get(&key) {
            metrics::cache_read(CacheSource::Process);
            return Lookup::Hit(page);
        }
        let breaker = self.generation.breaker();
        // A plain GET: the page comes back as stored, with no copy through Lua.
        let result: Result<Option<Bytes>, _> = self.redis.get(&key).await;
        match result {
            Ok(Some(page)) => {
                breaker.record_success();
                metrics::cache_read(CacheSource::Redis);
                self.local.put(key, page.clone());
                Lookup::Hit(page)
            }
            Ok(None) => {
                breaker.record_success();
                Lookup::Miss(Ticket { key })
            }
            Err(e) => {
                breaker.record_failure(&e);
                Lookup::Skip
            }
        }
    }

    /// Stores a page read from the database under the ticket's generation.
    pub async fn fill(&self, ticket: Ticket, page: Bytes) {
        let breaker = self.generation.breaker();
        if !breaker.allow() {
            return;
        }
        self.local.put(ticket.key.clone(), page.clone());
        let result: Result<(), _> = self
            .redis
            .set(
                ticket.key,
                page,
                Some(Expiration::EX(self.ttl_secs)),
                None,
                false,
            )
            .await;
        match result {
            Ok(()) => breaker.record_success(),
            Err(e) => breaker.record_failure(&e),
        }
    }
}
