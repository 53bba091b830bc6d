//! A small circuit breaker in front of Redis. While Redis is down, requests skip it
//! instead of each waiting for a command timeout; a probe every `cooldown` finds
//! out when it is back. It logs once per change of state, not once per request.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

#[derive(Debug)]
pub struct Breaker {
    epoch: Instant,
    cooldown: Duration,
    open: AtomicBool,
    /// While open: milliseconds since `epoch` before which Redis is skipped.
    retry_at_ms: AtomicU64,
    /// When it last opened (ms since `epoch`).
    opened_at_ms: AtomicU64,
}

impl Breaker {
    pub fn new(cooldown: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            cooldown,
            open: AtomicBool::new(false),
            retry_at_ms: AtomicU64::new(0),
            opened_at_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether to try Redis now. While open, one caller per cooldown gets through
    /// as a probe.
    pub fn allow(&self) -> bool {
        if !self.open.load(Ordering::Acquire) {
            return true;
        }
        let now = self.now_ms();
        let retry_at = self.retry_at_ms.load(Ordering::Acquire);
        now >= retry_at
            && self
                .retry_at_ms
                .compare_exchange(
                    retry_at,
                    now + self.cooldown.as_millis() as u64,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Since when Redis has been failing, while the breaker is open.
    pub fn open_since(&self) -> Option<Instant> {
        self.is_open()
            .then(|| self.epoch + Duration::from_millis(self.opened_at_ms.load(Ordering::Acquire)))
    }

    pub fn record_success(&self) {
        if self.open.swap(false, Ordering::AcqRel) {
            tracing::info!("Redis answers again: the user-list cache is back in use");
        }
    }

    pub fn record_failure(&self, error: &dyn std::fmt::Display) {
        self.retry_at_ms.store(
            self.now_ms() + self.cooldown.as_millis() as u64,
            Ordering::Release,
        );
        if !self.open.swap(true, Ordering::AcqRel) {
            self.opened_at_ms.store(self.now_ms(), Ordering::Release);
            tracing::warn!(
                error = %error,
                "Redis is unavailable: serving the user list from PostgreSQL until it is back"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_on_failure_and_lets_one_probe_through_per_cooldown() {
        let breaker = Breaker::new(Duration::from_millis(50));
        assert!(breaker.allow());
        breaker.record_failure(&"connection refused");
        assert!(breaker.is_open());
        assert!(!breaker.allow(), "skipped during the cooldown");
        std::thread::sleep(Duration::from_millis(60));
        assert!(breaker.allow(), "one probe after the cooldown");
        assert!(!breaker.allow(), "only one");
        breaker.record_success();
        assert!(!breaker.is_open());
        assert!(breaker.allow());
    }
}
