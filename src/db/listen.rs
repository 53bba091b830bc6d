//! LISTEN on a channel for as long as the process runs: the first subscription
//! is made before [`listen`] returns (when the database answers), the rest in
//! the background until `stop`. A lost connection is replaced by a fresh one,
//! with a growing wait between attempts; since whatever was notified while
//! nobody listened was not heard, the listener is told on every reconnect as on
//! a notification.

use std::{future::Future, time::Duration};

use sqlx::{PgPool, postgres::PgListener};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The longest wait between two attempts to listen again.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Listens on `channel` and calls `heard` for every notification and after
/// every reconnect. `what` names what is listened for in the logs ("changes").
pub async fn listen<F, Fut>(
    db: PgPool,
    channel: &'static str,
    what: &'static str,
    stop: CancellationToken,
    heard: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let first = match subscribe(&db, channel).await {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for {what} yet; retrying");
            None
        }
    };
    tokio::spawn(run(db, channel, what, stop, heard, first))
}

async fn subscribe(db: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(db).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

async fn run<F, Fut>(
    db: PgPool,
    channel: &'static str,
    what: &'static str,
    stop: CancellationToken,
    heard: F,
    first: Option<PgListener>,
) where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut listener = first;
    let mut delay = Duration::ZERO;
    loop {
        let mut current = match listener.take() {
            Some(current) => current,
            None => {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
                match subscribe(&db, channel).await {
                    Ok(current) => {
                        tracing::info!("listening for {what} again");
                        // Whatever was notified while nobody listened is unknown.
                        heard().await;
                        delay = Duration::ZERO;
                        current
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot listen for {what} yet");
                        delay = (delay * 2).clamp(Duration::from_millis(100), MAX_RETRY_DELAY);
                        continue;
                    }
                }
            }
        };
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => return,
                received = current.try_recv() => received,
            };
            match received {
                Ok(Some(_)) => heard().await,
                // `None`: the connection was lost. Listen again on a fresh one.
                // A closed pool is the process shutting down: nothing to warn about.
                Ok(None) | Err(_) if db.is_closed() || stop.is_cancelled() => return,
                Ok(None) | Err(_) => {
                    tracing::warn!("lost the connection that listens for {what}; reconnecting");
                    break;
                }
            }
        }
    }
}
