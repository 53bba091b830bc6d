//! Builds the service from settings and runs it until told to stop.

mod api_doc;
pub mod metrics;
pub mod router;

use std::{future::Future, net::SocketAddr, sync::Arc};

use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{
        PasswordHasher, login_csrf::LoginCsrf, session_store::DeploymentSessionStore,
        throttle::Throttle,
    },
    cache::{Generation, UserListCache, changes},
    config::{Settings, redacted_url},
    db, redis, server,
    state::{AppState, Services},
    webhooks::Dispatcher,
    write::Writer,
    write::bootstrap,
};

pub use crate::server::{DRAIN_LIMIT, HEADER_READ_TIMEOUT};

/// A service bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// Sends the webhook outbox; stopped before the pool closes, since it
    /// records and releases what it holds.
    webhooks: Dispatcher,
    /// `METRICS_BIND`'s listener, when it is set.
    metrics: Option<metrics::MetricsListener>,
    /// Ends the background tasks (hearing changes made in the database, the
    /// periodic jobs, the webhook dispatcher) when the application is dropped,
    /// served or not.
    _hearing_changes: tokio_util::sync::DropGuard,
}

/// The key that signs the login form's CSRF tokens: SECRET_KEY when set, else
/// one made once and kept in the database.
async fn signing_key(pool: &sqlx::PgPool, settings: &Settings) -> anyhow::Result<Vec<u8>> {
    Ok(match &settings.secret_key {
        Some(key) => key.expose_secret().as_bytes().to_vec(),
        None => {
            db::secrets::get_or_create(pool, "signing_key", || rand::random::<[u8; 32]>().to_vec())
                .await?
        }
    })
}

/// Starts what runs beside the requests until `hearing_changes` is cancelled:
/// the generation's mirror, hearing changes made in the database, the periodic
/// jobs and the webhook dispatcher (returned, to be stopped in order).
async fn start_background(
    state: &AppState,
    deliveries_wake: Arc<tokio::sync::Notify>,
    hearing_changes: &CancellationToken,
) -> anyhow::Result<Dispatcher> {
    // The generation in memory, over a Redis connection of its own.
    let mut mirror_config = redis::config(&state.settings)?;
    mirror_config.fail_fast = true;
    state
        .generation
        .start_mirror(mirror_config, hearing_changes.child_token());
    let stale = changes::Stale {
        generation: state.generation.clone(),
        tokens: state.tokens.clone(),
    };
    changes::listen(state.db.clone(), stale, hearing_changes.clone()).await;
    crate::jobs::start(
        crate::jobs::Upkeep {
            db: state.db.clone(),
            writer: state.writer.clone(),
            user_restore: state.settings.user_restore,
            audit_retention: state.settings.audit_retention,
        },
        hearing_changes.clone(),
    );
    Ok(Dispatcher::start(
        state.db.clone(),
        state.settings.webhook_allow_private,
        deliveries_wake,
        hearing_changes.child_token(),
    )
    .await?)
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
        let pool = db::pool(&settings)?;
        let deployment = db::secrets::get_or_create(&pool, "deployment_id", || {
            rand::random::<[u8; 16]>().to_vec()
        })
        .await?;
        let signing_key = signing_key(&pool, &settings).await?;
        let generation = Generation::new(redis.clone(), &settings.redis_key_prefix, "users");
        let hasher = PasswordHasher::default();
        let deliveries_wake = Arc::new(tokio::sync::Notify::new());
        let state = AppState::new(Services {
            sessions: DeploymentSessionStore::new(
                redis.clone(),
                &settings.redis_key_prefix,
                &deployment,
            ),
            login_csrf: LoginCsrf::new(&signing_key, settings.cookie_secure),
            writer: Writer::new(pool.clone(), hasher.clone(), generation.clone())
                .with_dispatcher(deliveries_wake.clone()),
            db: pool,
            user_cache: UserListCache::new(
                generation.clone(),
                redis.clone(),
                &settings.redis_key_prefix,
                settings.cache_ttl,
            )
            .with_local_pages(settings.local_cache_max_bytes),
            generation,
            throttle: Throttle::new(redis.clone(), &settings.redis_key_prefix),
            tokens: Arc::default(),
            redis,
            hasher,
            openapi: api_doc::document()?,
            access: router::access_table(),
            settings: Arc::new(settings),
        });
        bootstrap::ensure_first_admin(&state.writer, &state.settings.admin).await?;
        let address = state.settings.listen_address();
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
        let metrics = match state.settings.metrics_bind {
            Some(address) => Some(metrics::MetricsListener::bind(address).await?),
            None => None,
        };
        let hearing_changes = CancellationToken::new();
        let webhooks = start_background(&state, deliveries_wake, &hearing_changes).await?;
        Ok(Self {
            listener,
            state,
            webhooks,
            metrics,
            _hearing_changes: hearing_changes.drop_guard(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where the metrics listener listens, when `METRICS_BIND` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
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
        let app = router::app(self.state.clone());
        let stop = CancellationToken::new();
        let stopping = stop.clone();
        // Webhook deliveries in flight finish alongside the requests.
        let stopping_webhooks = self.webhooks.stop_token();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            stopping.cancel();
            stopping_webhooks.cancel();
        });
        tracing::info!(%address, "listening");
        let metrics = self.metrics.map(|listener| {
            if let Ok(address) = listener.local_addr() {
                tracing::info!(%address, "serving metrics");
            }
            listener.serve(self.state.clone(), stop.child_token())
        });
        let max_connections = self.state.settings.max_connections;
        server::serve(self.listener, app, max_connections, stop).await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        self.webhooks.shutdown().await;
        self.state.db.close().await;
        tracing::info!("stopped");
        Ok(())
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
