//! Wakes the dispatcher when deliveries are queued by others: LISTEN on the
//! outbox's channel, which the trigger notifies for changes made outside the
//! service (so the notification arrives with the commit), and which a command
//! notifies after its own commits. The service's own writes wake their
//! instance's dispatcher in process instead (migration 0011). Wake-ups are
//! coalesced: a burst of changes wakes the dispatcher once, and it claims them
//! all. While the listening connection is lost, the dispatcher still looks for
//! due deliveries every few seconds; on every reconnect it is woken, since
//! whatever was notified meanwhile was not heard.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::{self, deliveries::CHANNEL};

/// Listens before returning (when the database answers), so a delivery queued
/// once the dispatcher has started is heard; the rest runs in the background
/// until `stop`.
pub async fn listen(db: PgPool, wake: Arc<Notify>, stop: CancellationToken) {
    db::listen::listen(db, CHANNEL, "webhook deliveries", stop, move || {
        wake.notify_one();
        std::future::ready(())
    })
    .await;
}
