//! The cache generation and hot list pages kept in this process, so a cache hit
//! (and a bearer token already checked) costs no Redis round trip.
//!
//! # How the local generation is kept current
//!
//! Every bump of the generation runs one script in Redis that INCRs it and, in
//! the same atomic step, PUBLISHes the new value on `…{users}:bumped`. Each
//! instance holds one *invalidation connection* (RESP3, no automatic reconnect)
//! subscribed to that channel; it adopts each published value as its local
//! generation and answers with an acknowledgement on `…{users}:seen`.
//!
//! Trust is a **lease**. Every [`HEARTBEAT`] the invalidation connection runs a
//! script that registers the instance in the sorted set `…{users}:mirrors` with
//! a score of *Redis's clock at that moment + [`LEASE`]*; when it answers, the
//! instance trusts its local generation until *the moment it sent that script
//! (its own clock) + LEASE*. Since the script ran after it was sent, the local
//! deadline never ends later than the registered one.
//!
//! A bump returns the new generation, Redis's clock, and every instance whose
//! registration has not expired. The writer then waits until each of them has
//! acknowledged that generation (or a later one), or until that instance's
//! registration expires, before the write returns. Hence:
//!
//! * **No stale page after a write returns, on any instance.** Take an instance
//!   B serving from its local generation when a request arrives after a write
//!   on A returned. B trusts locally only under a lease obtained by a heartbeat
//!   whose registration was live when it reached Redis. If that registration was
//!   still live at A's bump, A waited for B's acknowledgement, which B sends
//!   only after adopting the new generation, or until the registration expired,
//!   after which B's own, earlier-ending lease has run out too. If it had
//!   expired by then, so had B's lease. A heartbeat sent after the bump comes
//!   back over the same connection after the bump's message, which B has then
//!   adopted; a new connection re-reads the generation before trusting
//!   anything (below). Either way B's local generation is the new one, or B does
//!   not use it.
//! * **A lost or reconnected invalidation connection trusts nothing** until it
//!   has subscribed again, renewed its lease on that connection, and re-read the
//!   generation from Redis: until then every request reads the generation from
//!   Redis, as before. A broadcast queue that overflowed (messages possibly
//!   lost) counts as a lost connection.
//! * The argument assumes the two machines' clocks run at the same rate over
//!   LEASE (half a second), not that they agree; no other window remains. The
//!   cost: a write waits for one acknowledgement round trip, and up to LEASE
//!   when an instance stopped answering without unregistering (killed, or its
//!   invalidation connection cut).
//!
//! Pages kept here are stored under the generation read before their SELECT,
//! exactly as in Redis (SPEC §6), in a cache bounded by `LOCAL_CACHE_MAX_BYTES`,
//! and also expire with the Redis TTL.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use fred::{
    prelude::*,
    types::{RespVersion, Value},
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// How long one heartbeat lets this instance trust its local generation.
pub const LEASE: Duration = Duration::from_millis(500);

/// How often the lease is renewed (four times per lease).
pub const HEARTBEAT: Duration = Duration::from_millis(125);

/// The longest wait between two attempts to reconnect the invalidation connection.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// Registers this instance until Redis's clock + ARGV[2] ms; returns that clock.
const HEARTBEAT_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
";

/// Redis's names for one generation's channels and registry.
#[derive(Clone, Debug)]
pub struct Names {
    pub generation: String,
    pub bumped: String,
    pub seen: String,
    pub mirrors: String,
}

impl Names {
    pub fn new(key_prefix: &str, hash_tag: &str) -> Self {
        let base = format!("{key_prefix}{{{hash_tag}}}");
        Self {
            generation: format!("{base}:generation"),
            bumped: format!("{base}:bumped"),
            seen: format!("{base}:seen"),
            mirrors: format!("{base}:mirrors"),
        }
    }
}

/// An acknowledgement: `instance` has adopted `generation` (or a later one).
#[derive(Clone, Debug)]
struct Ack {
    generation: u64,
    instance: Arc<str>,
}

/// The local generation, trusted only under a live lease.
#[derive(Clone)]
pub struct Mirror {
    inner: Arc<MirrorInner>,
}

struct MirrorInner {
    /// This instance's name in the registry (random per process).
    instance: Arc<str>,
    state: Mutex<Trust>,
    acks: broadcast::Sender<Ack>,
}

#[derive(Default)]
struct Trust {
    /// The generation adopted from Redis on this connection; `None` until re-read.
    generation: Option<u64>,
    /// Its decimal text, as Redis stores it (the page keys' part).
    text: Bytes,
    /// Trusted until then (a lease), `None` while the connection is not healthy.
    until: Option<Instant>,
    /// Redis's id of the invalidation connection (for tests that cut it).
    connection: Option<i64>,
}

/// Live registrations returned by a bump: instance → its registration's
/// remaining time.
pub type Registrations = Vec<(Arc<str>, Duration)>;

impl Default for Mirror {
    fn default() -> Self {
        Self::new()
    }
}

impl Mirror {
    pub fn new() -> Self {
        let instance: Arc<str> = hex::encode(rand::random::<[u8; 12]>()).into();
        Self {
            inner: Arc::new(MirrorInner {
                instance,
                state: Mutex::new(Trust::default()),
                acks: broadcast::channel(1024).0,
            }),
        }
    }

    fn trust(&self) -> std::sync::MutexGuard<'_, Trust> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The generation, when it may be used without asking Redis.
    pub fn current(&self) -> Option<Bytes> {
        let trust = self.trust();
        match (trust.generation, trust.until) {
            (Some(_), Some(until)) if Instant::now() < until => Some(trust.text.clone()),
            _ => None,
        }
    }

    /// Whether the local generation is trusted right now (for tests and `/health`).
    pub fn is_trusted(&self) -> bool {
        self.current().is_some()
    }

    fn distrust(&self) {
        *self.trust() = Trust::default();
    }

    fn renew(&self, until: Instant) {
        self.trust().until = Some(until);
    }

    /// A generation re-read, or published by a bump, on the current connection:
    /// adopted when newer. Called only once the connection is subscribed, so
    /// every later bump still arrives.
    fn adopt(&self, generation: u64) {
        let mut trust = self.trust();
        let newest = trust.generation.unwrap_or(0).max(generation);
        if trust.generation != Some(newest) {
            trust.generation = Some(newest);
            trust.text = Bytes::from(newest.to_string());
        }
    }

    /// Redis's client id of the invalidation connection, while there is one.
    pub fn connection_id(&self) -> Option<i64> {
        self.trust().connection
    }

    /// Subscribes to acknowledgements; call before the bump whose are awaited.
    pub fn acks(&self) -> AckWatch {
        AckWatch(self.inner.acks.subscribe())
    }

    /// Keeps the invalidation connection until `stop`.
    pub fn start(&self, config: Config, names: Names, stop: CancellationToken) {
        tokio::spawn(run(self.clone(), config, names, stop));
    }
}

/// Acknowledgements heard since [`Mirror::acks`].
pub struct AckWatch(broadcast::Receiver<Ack>);

impl AckWatch {
    /// Waits until every registered instance acknowledged `generation`, or its
    /// registration ran out.
    pub async fn wait(mut self, generation: u64, live: Registrations) {
        let start = Instant::now();
        let mut pending: HashMap<Arc<str>, Instant> = live
            .into_iter()
            .map(|(instance, left)| (instance, start + left))
            .collect();
        loop {
            let now = Instant::now();
            pending.retain(|_, until| *until > now);
            let Some(next) = pending.values().min().copied() else {
                return;
            };
            tokio::select! {
                () = tokio::time::sleep_until(next.into()) => {}
                heard = self.0.recv() => match heard {
                    Ok(ack) if ack.generation >= generation => {
                        pending.remove(&ack.instance);
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    // No more acknowledgements: wait the registrations out.
                    Err(broadcast::error::RecvError::Closed) => {
                        tokio::time::sleep_until(
                            pending.values().max().copied().unwrap_or(now).into(),
                        )
                        .await;
                        return;
                    }
                }
            }
        }
    }
}

/// Parses a bump script's answer: `[generation, now_ms, id, score, id, score…]`.
pub fn parse_bump(value: Value) -> Option<(u64, Registrations)> {
    let Value::Array(items) = value else {
        return None;
    };
    let mut items = items.into_iter();
    let generation = as_u64(items.next()?)?;
    let now = as_u64(items.next()?)?;
    let mut live = Vec::new();
    while let (Some(id), Some(score)) = (items.next(), items.next()) {
        let id = id.as_string()?;
        let until = as_u64(score)?;
        live.push((
            Arc::from(id),
            Duration::from_millis(until.saturating_sub(now)),
        ));
    }
    Some((generation, live))
}

fn as_u64(value: Value) -> Option<u64> {
    match value {
        Value::Integer(n) => u64::try_from(n).ok(),
        Value::Double(f) if f >= 0.0 => Some(f as u64),
        other => other.as_string()?.parse::<f64>().ok().map(|f| f as u64),
    }
}

async fn run(mirror: Mirror, config: Config, names: Names, stop: CancellationToken) {
    let mut delay = Duration::ZERO;
    loop {
        mirror.distrust();
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
        let client = match connect(config.clone()).await {
            Ok(client) => client,
            Err(e) => {
                tracing::debug!(error = %e, "invalidation connection: cannot connect");
                delay = (delay * 2).clamp(Duration::from_millis(50), MAX_RETRY_DELAY);
                continue;
            }
        };
        let result = serve(&mirror, &client.0, &names, &stop, client.1).await;
        mirror.distrust();
        let _ = tokio::time::timeout(Duration::from_millis(200), client.0.quit()).await;
        match result {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "lost the Redis invalidation connection: list pages and token checks ask Redis until it is back"
                );
                delay = Duration::from_millis(50);
            }
        }
    }
    // Unregister, so writes do not wait for this instance's lease to run out.
    if let Ok(client) = connect(config).await {
        let _: Result<(), _> = client
            .0
            .zrem(&names.mirrors, mirror.inner.instance.as_ref())
            .await;
        let _ = client.0.quit().await;
    }
}

type Connected = (Client, fred::types::ConnectHandle);

async fn connect(mut config: Config) -> Result<Connected, Error> {
    // RESP3: the subscribed connection also runs the heartbeat.
    config.version = RespVersion::RESP3;
    config.fail_fast = true;
    let client = crate::redis::builder(config, LEASE).build()?;
    let handle = client.init().await?;
    Ok((client, handle))
}

/// Serves one connection until it is lost (`Err`) or `stop` (`Ok`).
async fn serve(
    mirror: &Mirror,
    client: &Client,
    names: &Names,
    stop: &CancellationToken,
    mut connection: fred::types::ConnectHandle,
) -> Result<(), Error> {
    let mut messages = client.message_rx();
    client
        .subscribe(vec![names.bumped.clone(), names.seen.clone()])
        .await?;
    // A lease on this connection, then the generation: anything bumped after the
    // read arrives as a message.
    let asked = heartbeat(mirror, client, names).await?;
    mirror.renew(asked + LEASE);
    let read: Option<String> = client.get(&names.generation).await?;
    // Missing: the first reader or bump through Redis creates and publishes it;
    // nothing is trusted here until then.
    if let Some(Ok(generation)) = read.as_deref().map(str::parse::<u64>) {
        mirror.adopt(generation);
    }
    let id: Option<i64> = client
        .custom(
            fred::types::CustomCommand::new_static(
                "CLIENT",
                fred::types::ClusterHash::Random,
                false,
            ),
            vec!["ID"],
        )
        .await
        .ok();
    mirror.trust().connection = id;
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            ended = &mut connection => {
                return Err(match ended {
                    Ok(Err(e)) => e,
                    _ => Error::new(fred::error::ErrorKind::IO, "connection closed"),
                });
            }
            _ = beat.tick() => {
                let asked = heartbeat(mirror, client, names).await?;
                // Messages that came over the connection before the heartbeat's
                // answer are already queued: take them in before the new lease.
                loop {
                    match messages.try_recv() {
                        Ok(message) => handle(mirror, client, names, message).await?,
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(broadcast::error::TryRecvError::Lagged(n)) => return Err(lost(n)),
                        Err(broadcast::error::TryRecvError::Closed) => return Err(closed()),
                    }
                }
                mirror.renew(asked + LEASE);
            }
            message = messages.recv() => match message {
                Ok(message) => handle(mirror, client, names, message).await?,
                Err(broadcast::error::RecvError::Lagged(n)) => return Err(lost(n)),
                Err(broadcast::error::RecvError::Closed) => return Err(closed()),
            }
        }
    }
}

fn lost(n: u64) -> Error {
    Error::new(
        fred::error::ErrorKind::Unknown,
        format!("{n} invalidation messages lost"),
    )
}

fn closed() -> Error {
    Error::new(fred::error::ErrorKind::IO, "connection closed")
}

/// A bump: adopted, then acknowledged. An acknowledgement: handed to the writers
/// waiting for it.
async fn handle(
    mirror: &Mirror,
    client: &Client,
    names: &Names,
    message: fred::types::Message,
) -> Result<(), Error> {
    let text = message.value.as_string().unwrap_or_default();
    if *message.channel == *names.bumped {
        let Ok(generation) = text.parse::<u64>() else {
            tracing::warn!(%text, "an unreadable generation was published");
            return Ok(());
        };
        mirror.adopt(generation);
        let _: i64 = client
            .publish(
                names.seen.as_str(),
                format!("{generation} {}", mirror.inner.instance),
            )
            .await?;
    } else if *message.channel == *names.seen
        && let Some((generation, instance)) = text.split_once(' ')
        && let Ok(generation) = generation.parse::<u64>()
    {
        let _ = mirror.inner.acks.send(Ack {
            generation,
            instance: Arc::from(instance),
        });
    }
    Ok(())
}

/// Registers this instance; returns when it asked, from which the lease runs.
async fn heartbeat(mirror: &Mirror, client: &Client, names: &Names) -> Result<Instant, Error> {
    let asked = Instant::now();
    let _: i64 = client
        .eval(
            HEARTBEAT_SCRIPT,
            vec![names.mirrors.clone()],
            vec![
                mirror.inner.instance.to_string(),
                LEASE.as_millis().to_string(),
            ],
        )
        .await?;
    Ok(asked)
}

/// Hot pages of the user list, each under the generation it was read in.
pub struct LocalPages {
    pages: Option<quick_cache::sync::Cache<String, (Bytes, Instant), PageWeight>>,
    ttl: Duration,
}

#[derive(Clone)]
struct PageWeight;

impl quick_cache::Weighter<String, (Bytes, Instant)> for PageWeight {
    fn weight(&self, key: &String, value: &(Bytes, Instant)) -> u64 {
        // The page, its key, and the entry's own bookkeeping.
        (key.len() + value.0.len() + 64) as u64
    }
}

impl LocalPages {
    /// At most `max_bytes` of pages (0: none kept), each for at most `ttl`.
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        let pages = (max_bytes > 0).then(|| {
            let options = quick_cache::OptionsBuilder::new()
                .estimated_items_capacity(1024)
                .weight_capacity(max_bytes)
                // Few shards, so one large page (a 1,000-user list) fits in one.
                .shards(2)
                .build()
                .expect("valid cache options");
            quick_cache::sync::Cache::with_options(
                options,
                PageWeight,
                Default::default(),
                Default::default(),
            )
        });
        Self { pages, ttl }
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let (page, stored) = self.pages.as_ref()?.get(key)?;
        (stored.elapsed() < self.ttl).then_some(page)
    }

    pub fn put(&self, key: String, page: Bytes) {
        if let Some(pages) = &self.pages {
            pages.insert(key, (page, Instant::now()));
        }
    }

    /// Pages kept, and their weight in bytes (for tests).
    pub fn usage(&self) -> (usize, u64) {
        self.pages
            .as_ref()
            .map_or((0, 0), |pages| (pages.len(), pages.weight()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_trusts_only_a_reread_generation_under_a_live_lease() {
        let mirror = Mirror::new();
        assert!(mirror.current().is_none());
        mirror.renew(Instant::now() + LEASE);
        assert!(mirror.current().is_none(), "nothing read yet");
        mirror.adopt(7);
        mirror.adopt(5);
        assert_eq!(mirror.current().as_deref(), Some(&b"7"[..]));
        mirror.adopt(9);
        assert_eq!(mirror.current().as_deref(), Some(&b"9"[..]));
        mirror.renew(Instant::now() - Duration::from_millis(1));
        assert!(mirror.current().is_none(), "lease ran out");
        mirror.renew(Instant::now() + LEASE);
        mirror.distrust();
        assert!(mirror.current().is_none());
    }

    #[test]
    fn local_pages_stay_within_their_bound() {
        let pages = LocalPages::new(64 * 1024, Duration::from_secs(60));
        for i in 0..200 {
            pages.put(format!("1:q={i}"), Bytes::from(vec![b'x'; 4096]));
        }
        let (_, weight) = pages.usage();
        assert!(weight <= 64 * 1024, "{weight}");
        let none = LocalPages::new(0, Duration::from_secs(60));
        none.put("k".into(), Bytes::from_static(b"v"));
        assert!(none.get("k").is_none());
    }
}
