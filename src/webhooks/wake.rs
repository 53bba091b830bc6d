//! Wakes the dispatcher when deliveries are queued by others: LISTEN on the
//! outbox's channel, which the trigger notifies for changes made outside the
//! service (so the notification arrives with the commit), and which a command
//! notifies after its own commits. The service's own writes wake their
//! instance's dispatcher in process instead (migration 0011). Wake-ups are
//! coalesced: a burst of changes wakes the dispatcher once, and it claims them
//! all. While the listening connection is lost, the dispatcher still looks for
//! due deliveries every few seconds; on every reconnect it is woken, since
//! whatever was notified meanwhile was not heard.

use std::{sync::Arc, time::Duration};

use sqlx::{PgPool, postgres::PgListener};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::deliveries::CHANNEL;

/// The longest wait between two attempts to listen again.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Listens before returning (when the database answers), so a delivery queued
/// once the dispatcher has started is heard; the rest runs in the background
/// until `stop`.
pub async fn listen(db: PgPool, wake: Arc<Notify>, stop: CancellationToken) {
    let first = match subscribe(&db).await {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for webhook deliveries yet; retrying");
            None
        }
    };
    tokio::spawn(run(db, wake, stop, first));
}

async fn subscribe(db: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(db).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn run(db: PgPool, wake: Arc<Notify>, stop: CancellationToken, first: Option<PgListener>) {
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
                        tracing::info!("listening for webhook deliveries again");
                        wake.notify_one();
                        delay = Duration::ZERO;
                        current
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "cannot listen for webhook deliveries yet");
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
                Ok(Some(_)) => wake.notify_one(),
                // The connection was lost; a closed pool is the process stopping.
                Ok(None) | Err(_) if db.is_closed() || stop.is_cancelled() => return,
                Ok(None) | Err(_) => {
                    tracing::warn!(
                        "lost the connection that listens for webhook deliveries; reconnecting"
                    );
                    break;
                }
            }
        }
    }
}
