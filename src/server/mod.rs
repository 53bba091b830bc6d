//! The accept loop. Hand-rolled on hyper-util rather than `axum::serve` for what
//! axum does not offer: a header-read timeout, closing connections that go quiet,
//! and a cap on open connections that makes room for new clients instead of
//! refusing them.

pub mod connections;

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::{Pin, pin},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{body::Body, extract::ConnectInfo, http::Request, response::Response};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto::{self, Builder},
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::http::App;
use connections::{Activity, Registry, Slot, Tracked};

/// After a shutdown signal, in-flight requests get this long to finish: above the
/// request timeout, below the 15 s stop grace period of docker-compose.yml and the
/// Kubernetes Deployment.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// How long a client may take to send a request head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection that moves no byte for this long, with no handler working for
/// it, is closed: otherwise idle sockets pile up until the file limit is reached
/// and nobody else can connect.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle connection gets to say goodbye (an HTTP/2 GOAWAY) before it
/// is dropped; a client that does not read must not hold it longer.
const GOODBYE_LIMIT: Duration = Duration::from_secs(1);

/// Pause after a failed accept. Running out of file descriptors fails every
/// accept at once, so retrying at full speed would only burn a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// At most one accept-error line this often; the rest are counted.
const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(1);

type Connection = auto::Connection<'static, TokioIo<Tracked<TcpStream>>, Handler, TokioExecutor>;

/// Serves `app` on `listener` until `stop` is cancelled, with at most
/// `max_connections` connections open; then stops accepting and lets open
/// connections finish their requests for at most [`DRAIN_LIMIT`].
pub async fn serve(
    listener: TcpListener,
    app: App,
    max_connections: usize,
    stop: CancellationToken,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    // No HTTP/2 keep-alive pings: their acknowledgements are traffic, and would
    // keep an otherwise idle HTTP/2 connection open for ever. The idle timeout
    // below covers HTTP/2 as it covers HTTP/1.
    builder.http2().timer(TokioTimer::new());
    let registry = Registry::new(max_connections);
    let mut accept_errors = AcceptErrors::default();
    tracing::info!(max_connections = registry.limit(), "accepting connections");
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    if let Some(suppressed) = accept_errors.due(Instant::now()) {
                        tracing::warn!(error = %e, suppressed, "cannot accept a connection");
                    }
                    if !(out_of_descriptors(&e) && free_a_descriptor(&registry).await) {
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let slot = tokio::select! {
            slot = registry.admit() => slot,
            () = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = Handler {
            app: app.clone(),
            peer,
            activity: slot.activity(),
        };
        let io = TokioIo::new(Tracked::new(stream, slot.activity()));
        let connection = builder.serve_connection(io, handler).into_owned();
        tokio::spawn(drive(connection, slot, stop.clone()));
    }
    // New connections are refused from here on; open ones finish their request.
    drop(listener);
    tokio::select! {
        () = registry.closed() => {}
        () = tokio::time::sleep(DRAIN_LIMIT) => {
            tracing::warn!(
                open = registry.len(),
                "drain limit reached; closing remaining connections"
            );
        }
    }
}

/// Runs one connection until it ends, goes idle, is evicted to make room, or the
/// server shuts down (then it finishes its requests first).
async fn drive(connection: Connection, slot: Slot, stop: CancellationToken) {
    let mut connection = pin!(connection);
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = stop.cancelled(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            () = slot.idle(IDLE_TIMEOUT) => {
                tracing::debug!("closing an idle connection");
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(GOODBYE_LIMIT, connection.as_mut()).await;
                return;
            }
            // Dropped at once: the accept loop is waiting for this place.
            () = slot.evicted() => return,
        }
    }
}

/// Closes the idlest connection so the next accept can succeed at once,
/// instead of every accept failing until some client hangs up.
async fn free_a_descriptor(registry: &Registry) -> bool {
    tokio::time::timeout(ACCEPT_BACKOFF, registry.close_idlest())
        .await
        .unwrap_or(false)
}

fn out_of_descriptors(error: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = error;
        false
    }
}

/// Rate limit for accept-error lines: while the process is out of file
/// descriptors every accept fails, and one line per retry would flood the log.
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    /// `Some(errors left unlogged since the last line)` when a line is due.
    fn due(&mut self, now: Instant) -> Option<u64> {
        match self.last_logged {
            Some(last) if now.duration_since(last) < ACCEPT_ERROR_LOG_INTERVAL => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last_logged = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// The router as seen from one connection: adds the peer address for
/// `ConnectInfo`, and marks the connection busy while a handler works.
#[derive(Clone)]
struct Handler {
    app: App,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for Handler {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.begin_request();
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let request = request.map(Body::new);
        let response = self.app.stack_for(&request).clone().oneshot(request);
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_are_logged_at_most_once_a_second() {
        let mut errors = AcceptErrors::default();
        let start = Instant::now();
        assert_eq!(errors.due(start), Some(0));
        let mut logged = 0;
        for i in 1..=40 {
            // 40 failures 50 ms apart: two seconds of them.
            if errors.due(start + ACCEPT_BACKOFF * i).is_some() {
                logged += 1;
            }
        }
        assert_eq!(logged, 2);
        assert_eq!(errors.suppressed, 0);
        assert_eq!(errors.due(start + Duration::from_millis(2010)), None);
        assert_eq!(errors.due(start + Duration::from_millis(3000)), Some(1));
    }
}
