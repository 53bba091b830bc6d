//! Hears every change to users and tokens, whoever made it.
//!
//! The database's triggers (migration 0005) notify `useradmin_changes` on every
//! statement that changes users or tokens — from this service, the command line,
//! or raw SQL in Adminer. Each instance listens; on a notification it moves the
//! list-cache generation on and forgets the token checks it trusted, so readers
//! see a raw edit within moments. While the listening connection is lost nothing
//! is heard, so the instance does the same on every reconnect.

use std::{sync::Arc, time::Duration};

use sqlx::{PgPool, postgres::PgListener};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Generation;
use crate::cache::token_cache::TokenCache;

/// The channel the triggers notify.
pub const CHANNEL: &str = "useradmin_changes";

/// The longest wait between two attempts to listen again.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// What a change makes stale in this instance.
#[derive(Clone)]
pub struct Stale {
    pub generation: Generation,
    pub tokens: Arc<TokenCache>,
}

impl Stale {
    async fn forget(&self) {
        self.tokens.clear();
        self.generation.bump().await;
    }
}

/// Starts listening. The first subscription is made before this returns (when
/// the database answers), so a started instance already hears changes; the rest
/// runs in the background until `stop`.
pub async fn listen(db: PgPool, stale: Stale, stop: CancellationToken) -> JoinHandle<()> {
    let first = match subscribe(&db).await {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for changes yet; retrying");
            None
        }
    };
    tokio::spawn(run(db, stale, stop, first))
}

async fn subscribe(db: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(db).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn run(db: PgPool, stale: Stale, stop: CancellationToken, first: Option<PgListener>) {
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
                match subscribe(&db).await {
                    Ok(current) => {
                        tracing::info!("listening for changes again");
                        // Whatever changed while nobody listened is unknown.
                        stale.forget().await;
                        delay = Duration::ZERO;
                        current
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot listen for changes yet");
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
                Ok(Some(_)) => stale.forget().await,
                // `None`: the connection was lost. Listen again on a fresh one,
                // which also forgets what may have been missed. A closed pool is
                // the process shutting down: nothing to warn about.
                Ok(None) | Err(_) if db.is_closed() || stop.is_cancelled() => return,
                Ok(None) | Err(_) => {
                    tracing::warn!("lost the connection that listens for changes; reconnecting");
                    break;
                }
            }
        }
    }
}
