//! The dispatcher: a task in every instance that sends the outbox's due
//! deliveries. It claims a batch (each delivery goes to one instance: `FOR
//! UPDATE SKIP LOCKED`), sends up to [`CONCURRENCY`] at once, records each
//! outcome, and sleeps until a notification (a new delivery), the next retry's
//! time, or [`IDLE`] — whichever comes first. The idle look also catches claims
//! left by an instance that died, once they expire.
//!
//! On shutdown it stops claiming, gives what is in flight [`GRACE`] to finish,
//! and releases the claims of the rest, so another instance sends them at once
//! rather than after the claim expires. A receiver may then get a delivery
//! twice, with the same `webhook-id`: at least once, never lost.

use std::{collections::HashMap, sync::Arc, time::Duration};

use bytes::Bytes;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::{
    sync::Notify,
    task::{self, JoinError, JoinHandle, JoinSet},
};
use tokio_util::sync::CancellationToken;

use super::{
    backoff, payload,
    recorder::{self, Successes},
    sender::{Message, Outcome, Sender},
    wake,
};
use crate::auth::webhook_signature as signature;
use crate::db::deliveries::{
    self, ClaimedDelivery,
    bookkeeping::{self, Failure, Success},
};
use crate::metrics::{self, DeliveryResult};

/// How many deliveries an instance sends at once.
pub const CONCURRENCY: usize = 16;

/// The longest sleep between two looks for due deliveries.
pub const IDLE: Duration = Duration::from_secs(5);

/// The shortest: a delivery that is due but another instance is claiming at
/// this moment must not make the loop spin.
const SHORTEST_SLEEP: Duration = Duration::from_millis(50);

/// How long the loop waits after a notification before it claims, so the
/// deliveries of a burst of changes are claimed together.
const GATHER: Duration = Duration::from_millis(10);

/// How long in-flight attempts may finish once the instance is stopping.
pub const GRACE: Duration = Duration::from_secs(5);

/// The running dispatcher of an instance.
pub struct Dispatcher {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Dispatcher {
    /// Starts listening for new deliveries, then the dispatching loop. Runs
    /// until `stop` is cancelled (or [`Dispatcher::shutdown`]); `allow_private`
    /// is `WEBHOOK_ALLOW_PRIVATE`; `wake` is also the process's writer's
    /// ([`crate::write::Writer::with_dispatcher`]).
    pub async fn start(
        db: PgPool,
        allow_private: bool,
        wake: Arc<Notify>,
        stop: CancellationToken,
    ) -> Result<Self, rustls::Error> {
        let sender = Sender::new(allow_private)?;
        wake::listen(db.clone(), wake.clone(), stop.clone()).await;
        let (successes, recording) = recorder::start(db.clone());
        let dispatching = Dispatching {
            db,
            sender,
            successes,
            wake,
            stop: stop.clone(),
        };
        let task = tokio::spawn(async move {
            dispatching.run().await;
            // Every attempt has ended and dropped its handle: what they queued
            // is written before the pool closes.
            if let Err(e) = recording.await {
                tracing::error!(error = %e, "the webhook recorder ended abnormally");
            }
        });
        Ok(Self { stop, task })
    }

    /// The token that stops this dispatcher.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops the dispatcher and waits until in-flight attempts are finished or
    /// released (at most [`GRACE`] and a round trip to the database). Call it
    /// before closing the pool, which recording and releasing need.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the webhook dispatcher ended abnormally");
        }
    }
}

struct Dispatching {
    db: PgPool,
    sender: Sender,
    successes: Successes,
    wake: Arc<Notify>,
    stop: CancellationToken,
}

/// The attempts in flight, and the delivery each is for.
#[derive(Default)]
struct InFlight {
    tasks: JoinSet<()>,
    deliveries: HashMap<task::Id, i64>,
}

impl Dispatching {
    async fn run(self) {
        let this = Arc::new(self);
        let mut in_flight = InFlight::default();
        loop {
            while let Some(done) = in_flight.tasks.try_join_next_with_id() {
                in_flight.finished(done);
            }
            let free = CONCURRENCY.saturating_sub(in_flight.tasks.len());
            let mut sleep = IDLE;
            if free > 0 {
                match bookkeeping::claim(&this.db, free as i64).await {
                    Ok(batch) => {
                        // Nothing due now: sleep until the next retry is. (After a
                        // partial batch, the next notification or failed attempt
                        // wakes the loop, which then looks again.)
                        if batch.is_empty() {
                            sleep = this.until_next_due().await;
                        }
                        for delivery in batch {
                            let id = delivery.id;
                            let handle = in_flight.tasks.spawn(this.clone().attempt(delivery));
                            in_flight.deliveries.insert(handle.id(), id);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot claim webhook deliveries; trying again soon");
                    }
                }
            }
            let saturated = in_flight.tasks.len() >= CONCURRENCY;
            tokio::select! {
                () = this.stop.cancelled() => break,
                () = this.wake.notified() => {
                    // Changes come in bursts: wait a moment so one claim takes
                    // the burst rather than one round trip per delivery.
                    tokio::time::sleep(GATHER).await;
                }
                Some(done) = in_flight.tasks.join_next_with_id(), if saturated => {
                    in_flight.finished(done);
                }
                () = tokio::time::sleep(sleep), if !saturated => {}
            }
        }
        this.drain(in_flight).await;
    }

    async fn until_next_due(&self) -> Duration {
        match deliveries::next_due(&self.db).await {
            Ok(Some(due)) => due.clamp(SHORTEST_SLEEP, IDLE),
            Ok(None) => IDLE,
            Err(e) => {
                tracing::debug!(error = %e, "cannot tell when the next webhook delivery is due");
                IDLE
            }
        }
    }

    /// One attempt at a claimed delivery, recorded.
    async fn attempt(self: Arc<Self>, delivery: ClaimedDelivery) {
        let (outcome, duration) = match self.message(&delivery) {
            Ok(message) => {
                let attempt = self.sender.post(&delivery.url, &message).await;
                (attempt.outcome, attempt.duration)
            }
            Err(error) => (
                Outcome::Failed {
                    status: None,
                    error,
                },
                Duration::ZERO,
            ),
        };
        let duration_ms = i32::try_from(duration.as_millis()).unwrap_or(i32::MAX);
        let recorded = match &outcome {
            Outcome::Delivered { status } => {
                tracing::debug!(
                    delivery_id = delivery.id,
                    webhook_id = delivery.webhook_id,
                    event = %delivery.event_type,
                    status,
                    duration_ms,
                    "webhook delivered"
                );
                metrics::webhook_delivery(DeliveryResult::Delivered);
                self.successes.record(Success {
                    id: delivery.id,
                    attempt: delivery.attempts,
                    response_code: i32::from(*status),
                    duration_ms,
                });
                Ok(())
            }
            Outcome::Failed { status, error } => {
                let failure = Failure {
                    response_code: status.map(i32::from),
                    error,
                    duration_ms,
                    retry_after: backoff::wait_after(delivery.attempts),
                };
                let recorded =
                    bookkeeping::record_failure(&self.db, delivery.id, delivery.attempts, &failure)
                        .await;
                if let Ok(gave_up) = recorded {
                    log_failure(&delivery, &failure, gave_up);
                    metrics::webhook_delivery(if gave_up {
                        DeliveryResult::GaveUp
                    } else {
                        DeliveryResult::Failed
                    });
                }
                // The retry's time may come before the loop's next look.
                self.wake.notify_one();
                recorded.map(|_| ())
            }
        };
        if let Err(e) = recorded {
            // The claim expires and the delivery is sent again: at least once.
            tracing::warn!(
                delivery_id = delivery.id,
                error = %e,
                "cannot record a webhook attempt; it will be sent again"
            );
        }
    }

    /// The signed message of this attempt; the body is the same on every
    /// attempt, the timestamp and so the signature are the attempt's own.
    fn message(&self, delivery: &ClaimedDelivery) -> Result<Message, String> {
        let body = payload::body(
            &delivery.event_type,
            delivery.occurred_at,
            &delivery.payload,
        )
        .map_err(|e| e.to_string())?;
        let id = payload::message_id(delivery.message_id);
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let signature = signature::sign(&delivery.secret, &id, timestamp, &body)
            .map_err(|e| format!("cannot sign: {e}"))?;
        Ok(Message {
            id,
            timestamp,
            signature,
            body: Bytes::from(body),
        })
    }

    /// Lets in-flight attempts finish for at most [`GRACE`], then releases the
    /// claims of those that did not.
    async fn drain(&self, mut in_flight: InFlight) {
        if !in_flight.tasks.is_empty() {
            tracing::info!(
                in_flight = in_flight.tasks.len(),
                "finishing webhook deliveries in flight"
            );
        }
        let grace = tokio::time::sleep(GRACE);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                () = &mut grace => break,
                done = in_flight.tasks.join_next_with_id() => match done {
                    Some(done) => in_flight.finished(done),
                    None => break,
                }
            }
        }
        in_flight.tasks.abort_all();
        while let Some(done) = in_flight.tasks.join_next_with_id().await {
            in_flight.finished(done);
        }
        let unfinished: Vec<i64> = in_flight.deliveries.into_values().collect();
        if unfinished.is_empty() {
            return;
        }
        match bookkeeping::release(&self.db, &unfinished).await {
            Ok(released) => tracing::info!(released, "released unfinished webhook deliveries"),
            Err(e) => tracing::warn!(
                error = %e,
                "cannot release unfinished webhook deliveries; they are sent again within a minute"
            ),
        }
    }
}

impl InFlight {
    /// Forgets a finished attempt. One cut short by shutdown stays listed, so
    /// its claim is released.
    fn finished(&mut self, done: Result<(task::Id, ()), JoinError>) {
        match done {
            Ok((id, ())) => {
                self.deliveries.remove(&id);
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                let delivery_id = self.deliveries.remove(&e.id());
                tracing::error!(
                    ?delivery_id,
                    error = %e,
                    "a webhook attempt panicked; it is sent again once its claim expires"
                );
            }
        }
    }
}

fn log_failure(delivery: &ClaimedDelivery, failure: &Failure<'_>, gave_up: bool) {
    if gave_up {
        tracing::warn!(
            delivery_id = delivery.id,
            webhook_id = delivery.webhook_id,
            event = %delivery.event_type,
            attempts = delivery.attempts,
            error = failure.error,
            "webhook delivery failed for good after 24 hours of attempts"
        );
    } else {
        tracing::info!(
            delivery_id = delivery.id,
            webhook_id = delivery.webhook_id,
            event = %delivery.event_type,
            attempt = delivery.attempts,
            error = failure.error,
            retry_in_s = failure.retry_after.as_secs(),
            "webhook attempt failed; retrying later"
        );
    }
}
