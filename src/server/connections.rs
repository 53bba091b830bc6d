//! The open connections: when each last moved a byte and whether a handler is
//! working for it. The accept loop needs both to close idle connections and to
//! stay under `MAX_CONNECTIONS` without turning new clients away.

use std::{
    collections::HashMap,
    io,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::Notify,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

/// Every open connection, shared by the accept loop and the connection tasks.
pub struct Registry {
    limit: usize,
    epoch: Instant,
    open: Mutex<Open>,
    /// Woken when a connection closes or a request finishes: either may let a
    /// waiting accept proceed, and the drain waits for the last close.
    changed: Arc<Notify>,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    connections: HashMap<u64, Arc<Activity>>,
}

impl Registry {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            epoch: Instant::now(),
            open: Mutex::default(),
            changed: Arc::default(),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn len(&self) -> usize {
        self.lock().connections.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A place for one more connection. At the limit, the connection idle longest
    /// is closed to make room, so a new client (a health probe, say) is served at
    /// once rather than after idle clients time out; when every connection has a
    /// request in flight, waits for one to finish rather than exceed the limit.
    pub async fn admit(self: &Arc<Self>) -> Slot {
        loop {
            // Registered before looking, so a close between the look and the
            // wait is not missed.
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            {
                let mut open = self.lock();
                if open.connections.len() < self.limit {
                    return self.insert(&mut open);
                }
                evict_idlest(&open);
            }
            changed.await;
        }
    }

    /// Closes the connection idle longest, to free a file descriptor when the
    /// process ran out of them despite the limit (other files, a limit set too
    /// high). True once it has closed; false at once when every connection is busy.
    pub async fn close_idlest(&self) -> bool {
        let changed = self.changed.notified();
        let mut changed = std::pin::pin!(changed);
        changed.as_mut().enable();
        let closing = evict_idlest(&self.lock());
        if closing {
            changed.await;
        }
        closing
    }

    /// Completes once every connection has closed.
    pub async fn closed(&self) {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if self.is_empty() {
                return;
            }
            changed.await;
        }
    }

    fn insert(self: &Arc<Self>, open: &mut Open) -> Slot {
        let id = open.next_id;
        open.next_id += 1;
        let activity = Arc::new(Activity {
            epoch: self.epoch,
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            evicted: CancellationToken::new(),
            changed: self.changed.clone(),
        });
        activity.touch();
        open.connections.insert(id, activity.clone());
        Slot {
            id,
            activity,
            registry: self.clone(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // The map stays consistent even if a holder panicked: every critical
        // section is a single insert, remove or scan.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Signals the connection idle longest with no request in flight to close,
/// unless one is already closing: its slot frees up in a moment, and closing a
/// second would cost a client for nothing. True when one is closing.
fn evict_idlest(open: &Open) -> bool {
    if open.connections.values().any(|a| a.evicted.is_cancelled()) {
        return true;
    }
    let idlest = open
        .connections
        .values()
        .filter(|a| a.in_flight.load(Ordering::Acquire) == 0)
        .min_by_key(|a| a.last.load(Ordering::Relaxed));
    if let Some(victim) = idlest {
        tracing::debug!(
            idle_ms = victim.idle_for().as_millis() as u64,
            "connection limit reached; closing the connection idle longest"
        );
        victim.evicted.cancel();
        return true;
    }
    false
}

/// One connection's place in the registry; dropping it (when the connection's
/// task ends) frees the place.
pub struct Slot {
    id: u64,
    activity: Arc<Activity>,
    registry: Arc<Registry>,
}

impl Slot {
    pub fn activity(&self) -> Arc<Activity> {
        self.activity.clone()
    }

    /// Completes when the registry needs this connection's place.
    pub async fn evicted(&self) {
        self.activity.evicted.cancelled().await;
    }

    /// Completes once no byte has moved for `limit` and no handler is working.
    /// A handler in progress is left alone: the request timeout bounds it.
    pub async fn idle(&self, limit: Duration) {
        loop {
            let idle = self.activity.idle_for();
            if idle < limit {
                tokio::time::sleep(limit - idle).await;
            } else if self.activity.in_flight.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(limit / 10).await;
            } else {
                return;
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.lock().connections.remove(&self.id);
        self.registry.changed.notify_waiters();
    }
}

/// What the registry knows about one connection, updated from its IO and its
/// requests without taking the registry's lock.
pub struct Activity {
    epoch: Instant,
    /// Milliseconds since `epoch` at the last byte read or written.
    last: AtomicU64,
    in_flight: AtomicUsize,
    evicted: CancellationToken,
    changed: Arc<Notify>,
}

impl Activity {
    fn touch(&self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }

    /// Marks a request as in flight until the returned guard is dropped.
    pub fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self.clone())
    }
}

/// A request being handled on a connection: it is not idle meanwhile.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        // The response is about to be written: its bytes get a full idle period.
        self.0.touch();
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Now idle, so it may be closed to let a waiting connection in.
            self.0.changed.notify_waiters();
        }
    }
}

/// A socket that records when it last read or wrote a byte.
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_limit_the_idlest_connection_without_a_request_makes_room() {
        let registry = Registry::new(2);
        let oldest = registry.admit().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let quiet = registry.admit().await;
        // The oldest is busy now, so the quiet one has to go.
        let request = oldest.activity().begin_request();

        let admitting = tokio::spawn({
            let registry = registry.clone();
            async move { registry.admit().await }
        });
        quiet.evicted().await;
        assert!(!oldest.activity.evicted.is_cancelled());
        drop(quiet);
        let third = admitting.await.expect("admitted");
        assert_eq!(registry.len(), 2);

        // Both busy: the next one waits for a request to finish.
        let _second_request = third.activity().begin_request();
        let waiting = tokio::spawn({
            let registry = registry.clone();
            async move { registry.admit().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(request);
        oldest.evicted().await;
        drop(oldest);
        let _fourth = waiting.await.expect("admitted");
        assert_eq!(registry.len(), 2);
    }

    #[tokio::test]
    async fn idle_waits_for_silence_and_for_the_handler() {
        let registry = Registry::new(1);
        let slot = registry.admit().await;
        let request = slot.activity().begin_request();
        let limit = Duration::from_millis(100);
        assert!(
            tokio::time::timeout(limit * 3, slot.idle(limit))
                .await
                .is_err(),
            "not idle while a handler works"
        );
        drop(request);
        let started = Instant::now();
        slot.idle(limit).await;
        assert!(started.elapsed() >= limit - Duration::from_millis(5));
    }
}
