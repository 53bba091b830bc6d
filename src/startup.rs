//! Builds the service from settings and runs it until told to stop.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, body::Body, extract::ConnectInfo, http::Request};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::{
    auth::{PasswordHasher, bootstrap, throttle::LoginThrottle},
    cache::UserListCache,
    config::{Settings, redacted_url},
    db, http, redis,
    state::AppState,
};

/// After a shutdown signal, in-flight requests get this long to finish (SPEC §7:
/// above the request timeout, below compose's stop_grace_period).
pub const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// How long a client may take to send a request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A service bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Prepares the database (migrations, first admin), connects Redis in the
    /// background and binds the listener (port 0 picks a free one, for tests).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        tracing::info!(
            database = %redacted_url(&settings.database_url),
            redis = %redacted_url(&settings.redis_url),
            "starting"
        );
        db::prepare(&settings).await?;
        let redis = redis::connect(&settings)?;
        let state = AppState {
            db: db::pool(&settings)?,
            user_cache: UserListCache::new(
                redis.clone(),
                &settings.redis_key_prefix,
                settings.cache_ttl,
            ),
            throttle: LoginThrottle::new(redis.clone(), &settings.redis_key_prefix),
            tokens: Arc::default(),
            redis,
            hasher: PasswordHasher::default(),
            settings: Arc::new(settings),
        };
        if bootstrap::ensure_first_admin(&state.db, &state.hasher, &state.settings.admin).await? {
            state.user_cache.invalidate().await;
        }
        let address = state.settings.listen_address();
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting connections and
    /// lets in-flight requests finish for at most [`DRAIN_LIMIT`].
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let address = self.local_addr();
        let app = http::router(self.state.clone());
        let stop = CancellationToken::new();
        let stopping = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            stopping.cancel();
        });
        tracing::info!(%address, "listening");
        serve(self.listener, app, stop).await;
        self.state.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The accept loop. Hand-rolled on hyper-util rather than `axum::serve` for one
/// setting axum does not expose: a header-read timeout, so a client that sends
/// its request head slowly (or never) cannot hold a connection forever.
async fn serve(listener: TcpListener, app: Router, stop: CancellationToken) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let connections = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let router = app.clone();
        let service = tower::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request.map(Body::new))
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    // New connections are refused from here on; open ones finish their request.
    drop(listener);
    tokio::select! {
        () = connections.shutdown() => {}
        () = tokio::time::sleep(DRAIN_LIMIT) => {
            tracing::warn!("drain limit reached; closing remaining connections");
        }
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
