//! What the service counts for its operators (SPEC §15), recorded through the
//! `metrics` facade and rendered in the Prometheus text format by
//! `metrics-exporter-prometheus` on a listener of its own (`startup::metrics`).
//!
//! Every metric is named and described here, and recorded through the small
//! functions below, so a label can only take the values they allow: a route
//! template, a method, a status class, a fixed outcome. No label carries an id,
//! an email, a token or a raw path (an unmatched path is [`UNMATCHED_ROUTE`]).
//!
//! Nothing is recorded until [`install`] has run (`METRICS_BIND` set): without
//! it the functions return at one relaxed atomic load, so a process without a
//! metrics listener pays nothing, and tests that run many services in one
//! process share no counters by accident.

pub mod http;

use std::sync::{
    OnceLock,
    atomic::{AtomicBool, Ordering},
};

use metrics::{Counter, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use http::{RequestTimer, UNMATCHED_ROUTE};

pub const HTTP_REQUESTS: &str = "useradmin_http_requests_total";
pub const HTTP_DURATION: &str = "useradmin_http_request_duration_seconds";
pub const DB_POOL_CONNECTIONS: &str = "useradmin_db_pool_connections";
pub const DB_POOL_IDLE: &str = "useradmin_db_pool_idle_connections";
pub const DB_POOL_MAX: &str = "useradmin_db_pool_max_connections";
pub const DB_POOL_TIMEOUTS: &str = "useradmin_db_pool_acquire_timeouts_total";
pub const CACHE_READS: &str = "useradmin_cache_reads_total";
pub const REDIS_BREAKER_OPEN: &str = "useradmin_redis_breaker_open";
pub const LOGINS: &str = "useradmin_logins_total";
pub const TWO_FACTOR_FAILURES: &str = "useradmin_two_factor_failures_total";
pub const WEBHOOK_OUTBOX_DEPTH: &str = "useradmin_webhook_outbox_depth";
pub const WEBHOOK_OUTBOX_OLDEST: &str = "useradmin_webhook_outbox_oldest_pending_seconds";
pub const WEBHOOK_DELIVERIES: &str = "useradmin_webhook_deliveries_total";
pub const TRANSFER_ROWS: &str = "useradmin_transfer_rows_total";
pub const AUDIT_PURGED: &str = "useradmin_audit_events_purged_total";
pub const SCRAPE_ERRORS: &str = "useradmin_metrics_scrape_errors_total";

/// Request durations, in seconds: from a cached read (a millisecond) to the
/// request timeout (8 s).
const DURATION_BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static ENABLED: AtomicBool = AtomicBool::new(false);
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
/// The user list's reads by source, kept: a cached page is the service's
/// fastest answer, and a registry lookup per read would show on it.
static CACHE_READ_COUNTERS: OnceLock<[Counter; 3]> = OnceLock::new();

/// True once [`install`] has run in this process.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Installs the process's recorder (once; later calls return the same handle)
/// and describes every metric, so a scrape shows each one's `# HELP` and
/// `# TYPE` from the start.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &DURATION_BUCKETS)?
        .install_recorder()?;
    let handle = HANDLE.get_or_init(|| handle).clone();
    describe();
    start_at_zero();
    ENABLED.store(true, Ordering::Relaxed);
    Ok(handle)
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status class"
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route template and method"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Open PostgreSQL connections in the request pool"
    );
    describe_gauge!(
        DB_POOL_IDLE,
        "Idle PostgreSQL connections in the request pool"
    );
    describe_gauge!(
        DB_POOL_MAX,
        "The request pool's connection limit (DATABASE_MAX_CONNECTIONS)"
    );
    describe_counter!(
        DB_POOL_TIMEOUTS,
        "Requests that waited out the pool's acquire timeout (answered 503); sqlx keeps \
         its wait queue to itself, so this and connections == max with no idle one \
         are how waiting shows"
    );
    describe_counter!(
        CACHE_READS,
        "User-list reads by where the page came from: process memory, Redis or the database"
    );
    describe_gauge!(
        REDIS_BREAKER_OPEN,
        "1 while the Redis circuit breaker is open (the cache is bypassed), else 0"
    );
    describe_counter!(
        LOGINS,
        "Password logins by result: success, failure, throttled"
    );
    describe_counter!(TWO_FACTOR_FAILURES, "Wrong or reused second-factor codes");
    describe_gauge!(
        WEBHOOK_OUTBOX_DEPTH,
        "Webhook deliveries waiting to be sent or retried"
    );
    describe_gauge!(
        WEBHOOK_OUTBOX_OLDEST,
        "Age of the oldest webhook delivery still waiting, 0 when none waits"
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook delivery attempts by result: delivered, failed (retried), gave_up"
    );
    describe_counter!(TRANSFER_ROWS, "Rows imported or exported, by direction");
    describe_counter!(AUDIT_PURGED, "Audit events removed by the retention job");
    describe_counter!(
        SCRAPE_ERRORS,
        "Scrapes whose database-backed gauges could not be read (left at their last value)"
    );
}

/// Every counter with a fixed set of labels shows from the first scrape, at
/// zero: `rate()` and alerts then see "none yet" rather than "no data".
fn start_at_zero() {
    let cache_reads = CacheSource::ALL.map(|source| {
        let reads = counter!(CACHE_READS, "cache" => "user_list", "source" => source.label());
        reads.absolute(0);
        reads
    });
    let _ = CACHE_READ_COUNTERS.set(cache_reads);
    for result in LoginResult::ALL {
        counter!(LOGINS, "result" => result.label()).absolute(0);
    }
    for result in DeliveryResult::ALL {
        counter!(WEBHOOK_DELIVERIES, "result" => result.label()).absolute(0);
    }
    for direction in Direction::ALL {
        counter!(TRANSFER_ROWS, "direction" => direction.label()).absolute(0);
    }
    for counter in [
        TWO_FACTOR_FAILURES,
        AUDIT_PURGED,
        DB_POOL_TIMEOUTS,
        SCRAPE_ERRORS,
    ] {
        counter!(counter).absolute(0);
    }
}

/// Renders every metric in the Prometheus text format.
pub fn render(handle: &PrometheusHandle) -> String {
    handle.run_upkeep();
    handle.render()
}

/// Where a user-list page came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSource {
    Process,
    Redis,
    Database,
}

impl CacheSource {
    const ALL: [Self; 3] = [Self::Process, Self::Redis, Self::Database];

    fn label(self) -> &'static str {
        match self {
            Self::Process => "process",
            Self::Redis => "redis",
            Self::Database => "database",
        }
    }
}

pub fn cache_read(source: CacheSource) {
    if let Some(counters) = CACHE_READ_COUNTERS.get() {
        counters[source as usize].increment(1);
    }
}

/// How a password login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    Success,
    Failure,
    Throttled,
}

impl LoginResult {
    const ALL: [Self; 3] = [Self::Success, Self::Failure, Self::Throttled];

    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Throttled => "throttled",
        }
    }
}

pub fn login(result: LoginResult) {
    if enabled() {
        counter!(LOGINS, "result" => result.label()).increment(1);
    }
}

pub fn two_factor_failure() {
    if enabled() {
        counter!(TWO_FACTOR_FAILURES).increment(1);
    }
}

/// How a webhook delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    Delivered,
    /// Failed; another attempt is scheduled.
    Failed,
    /// Failed for the last time.
    GaveUp,
}

impl DeliveryResult {
    const ALL: [Self; 3] = [Self::Delivered, Self::Failed, Self::GaveUp];

    fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::GaveUp => "gave_up",
        }
    }
}

pub fn webhook_delivery(result: DeliveryResult) {
    if enabled() {
        counter!(WEBHOOK_DELIVERIES, "result" => result.label()).increment(1);
    }
}

/// Which way rows crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Import,
    Export,
}

impl Direction {
    const ALL: [Self; 2] = [Self::Import, Self::Export];

    fn label(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Export => "export",
        }
    }
}

pub fn transfer_rows(direction: Direction, rows: u64) {
    if enabled() && rows > 0 {
        counter!(TRANSFER_ROWS, "direction" => direction.label()).increment(rows);
    }
}

pub fn audit_purged(events: u64) {
    if enabled() {
        counter!(AUDIT_PURGED).increment(events);
    }
}

pub fn pool_timeout() {
    if enabled() {
        counter!(DB_POOL_TIMEOUTS).increment(1);
    }
}

pub fn scrape_error() {
    if enabled() {
        counter!(SCRAPE_ERRORS).increment(1);
    }
}

/// The request pool as a scrape finds it.
pub struct PoolReading {
    pub connections: u32,
    pub idle: usize,
    pub max: u32,
}

pub fn pool(reading: &PoolReading) {
    gauge!(DB_POOL_CONNECTIONS).set(f64::from(reading.connections));
    gauge!(DB_POOL_IDLE).set(reading.idle as f64);
    gauge!(DB_POOL_MAX).set(f64::from(reading.max));
}

pub fn redis_breaker(open: bool) {
    gauge!(REDIS_BREAKER_OPEN).set(if open { 1.0 } else { 0.0 });
}

pub fn webhook_outbox(depth: i64, oldest_seconds: f64) {
    gauge!(WEBHOOK_OUTBOX_DEPTH).set(depth as f64);
    gauge!(WEBHOOK_OUTBOX_OLDEST).set(oldest_seconds);
}
