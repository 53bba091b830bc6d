//! Recording delivered attempts in batches. Attempts hand their 2xx answers to
//! one task, which writes whatever has queued up since its last statement in
//! one `UPDATE`: under a steady stream of changes that is one transaction per
//! handful of deliveries rather than one per delivery, and one pooled
//! connection rather than one per attempt in flight.
//!
//! Nobody waits for a record: a delivery stays claimed until it is written,
//! and one whose record is lost (the instance died first) is sent again once
//! its claim expires, with the same `webhook-id` — at least once, as before.

use sqlx::PgPool;
use tokio::{sync::mpsc, task::JoinHandle};

use crate::db::deliveries::bookkeeping::{self, Success};

/// The most answers written by one statement.
const BATCH: usize = 256;

/// Where attempts leave their 2xx answers.
#[derive(Clone)]
pub struct Successes {
    queue: mpsc::UnboundedSender<Success>,
}

impl Successes {
    /// Queues an answer for the next batch.
    pub fn record(&self, success: Success) {
        if self.queue.send(success).is_err() {
            // Only after the recorder ended, which it does once every sender is
            // gone: unreachable while an attempt holds one.
            tracing::warn!(
                delivery_id = success.id,
                "a webhook delivery was not recorded; it will be sent again"
            );
        }
    }
}

/// Starts the recording task. It ends, having written everything queued,
/// once every [`Successes`] handle is dropped.
pub fn start(db: PgPool) -> (Successes, JoinHandle<()>) {
    let (queue, mut answers) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while answers.recv_many(&mut batch, BATCH).await > 0 {
            if let Err(e) = bookkeeping::record_successes(&db, &batch).await {
                tracing::warn!(
                    deliveries = batch.len(),
                    error = %e,
                    "cannot record delivered webhooks; they will be sent again"
                );
            }
            batch.clear();
        }
    });
    (Successes { queue }, task)
}
