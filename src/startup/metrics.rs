//! The metrics listener (SPEC §15): `GET /metrics` in the Prometheus text
//! format on `METRICS_BIND`, an address of its own, never the public port.
//! Gauges that describe a state (the pool, the Redis breaker, the webhook
//! outbox) are read when a scrape asks for them; counters are recorded where
//! things happen (`crate::metrics`).

use std::{net::SocketAddr, time::Duration};

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{db, metrics, state::AppState};

/// The outbox's gauges come from a query; a scrape never waits longer for it.
const OUTBOX_READ_LIMIT: Duration = Duration::from_secs(2);

/// Histogram samples are drained into their buckets at least this often, so
/// memory stays flat when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics listener, bound and not yet serving.
pub struct MetricsListener {
    listener: TcpListener,
    handle: PrometheusHandle,
}

#[derive(Clone)]
struct Scrape {
    state: AppState,
    handle: PrometheusHandle,
}

impl MetricsListener {
    /// Installs the recorder and binds `address`.
    pub async fn bind(address: SocketAddr) -> anyhow::Result<Self> {
        let handle = metrics::install()?;
        let listener = TcpListener::bind(address).await.map_err(|e| {
            anyhow::anyhow!("cannot listen for metrics on {address} (METRICS_BIND): {e}")
        })?;
        Ok(Self { listener, handle })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves scrapes until `stop` is cancelled.
    pub fn serve(self, state: AppState, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let upkeep = self.handle.clone();
        let upkeep_stop = stop.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            loop {
                tokio::select! {
                    () = upkeep_stop.cancelled() => break,
                    _ = every.tick() => upkeep.run_upkeep(),
                }
            }
        });
        let app = Router::new()
            .route("/metrics", get(scrape))
            .with_state(Scrape {
                state,
                handle: self.handle,
            });
        tokio::spawn(async move {
            let served = axum::serve(self.listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        })
    }
}

async fn scrape(State(scrape): State<Scrape>) -> impl IntoResponse {
    read_gauges(&scrape.state).await;
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        metrics::render(&scrape.handle),
    )
}

/// The gauges that describe the service as it is now.
async fn read_gauges(state: &AppState) {
    metrics::pool(&metrics::PoolReading {
        connections: state.db.size(),
        idle: state.db.num_idle(),
        max: state.settings.db_max_connections,
    });
    metrics::redis_breaker(state.generation.breaker().is_open());
    match tokio::time::timeout(OUTBOX_READ_LIMIT, db::deliveries::outbox(&state.db)).await {
        Ok(Ok((depth, oldest))) => metrics::webhook_outbox(depth, oldest),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "cannot read the webhook outbox for metrics");
            metrics::scrape_error();
        }
        Err(_) => metrics::scrape_error(),
    }
}
