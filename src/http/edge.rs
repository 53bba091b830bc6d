//! The edge of the service: what every request and every response goes through,
//! as one layer.
//!
//! On the way in, the request gets its id (a client's own only when short and
//! plain). On the way out, an error is shaped for its client ([`ErrorShaping`]),
//! the security headers are set ([`headers::apply`]) and the request id is echoed,
//! and the request is counted by its route template ([`RequestTimer`]; applied
//! through `Router::layer`, this layer sees the route axum matched).
//!
//! One hand-written layer rather than a `from_fn` middleware per concern: each
//! of those clones and boxes the rest of the stack and moves its future on every
//! request, which on a small read cost about a sixth of the service's CPU
//! (bench/FINDINGS.md §9).

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use axum::{
    BoxError,
    body::{Body, HttpBody},
    extract::Request,
    http::{HeaderValue, Response as HttpResponse},
    response::Response,
};
use bytes::Bytes;
use tower::{Layer, Service};

use super::{
    REQUEST_ID,
    error_pages::{ErrorDialect, ErrorShaping, PastSessions},
    headers::{self, HeaderPolicy},
    request_id,
};
use crate::auth::session_store::DeploymentSessionStore;
use crate::metrics::RequestTimer;

/// Builds [`Edge`] around the rest of the stack.
#[derive(Clone)]
pub struct EdgeLayer {
    policy: HeaderPolicy,
    dialects: &'static [ErrorDialect],
    scripts: Option<Arc<DeploymentSessionStore>>,
}

impl EdgeLayer {
    /// The edge of the browsers' stack, which has the session layer further in.
    pub fn for_browsers(policy: HeaderPolicy, dialects: &'static [ErrorDialect]) -> Self {
        Self {
            policy,
            dialects,
            scripts: None,
        }
    }

    /// The edge of the scripts' stack, which has no session layer: handlers find
    /// a session that was never sent and is never saved (what a request without a
    /// cookie would find), and every response is marked as made past the
    /// sessions, as the browsers' stack marks it further in.
    pub fn for_scripts(
        policy: HeaderPolicy,
        dialects: &'static [ErrorDialect],
        sessions: DeploymentSessionStore,
    ) -> Self {
        Self {
            policy,
            dialects,
            scripts: Some(Arc::new(sessions)),
        }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            layer: self.clone(),
        }
    }
}

/// See the module's documentation.
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    layer: EdgeLayer,
}

impl<S, B> Service<Request> for Edge<S>
where
    S: Service<Request, Response = HttpResponse<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let timer = RequestTimer::start(&request);
        let id = request_id::assign(request.headers_mut());
        let is_static = headers::is_static(request.uri().path());
        let errors = ErrorShaping::of(&request, id.clone(), self.layer.dialects);
        if let Some(store) = &self.layer.scripts {
            request
                .extensions_mut()
                .insert(tower_sessions::Session::new(None, store.clone(), None));
        }
        EdgeFuture {
            inner: self.inner.call(request),
            after: Some(After {
                id,
                is_static,
                errors,
                policy: self.layer.policy,
                past_sessions: self.layer.scripts.is_some(),
                timer,
            }),
        }
    }
}

/// What the response side needs, kept from the request side.
struct After {
    id: HeaderValue,
    is_static: bool,
    errors: ErrorShaping,
    policy: HeaderPolicy,
    past_sessions: bool,
    timer: Option<RequestTimer>,
}

pin_project_lite::pin_project! {
    pub struct EdgeFuture<F> {
        #[pin]
        inner: F,
        after: Option<After>,
    }
}

impl<F, B> Future for EdgeFuture<F>
where
    F: Future<Output = Result<HttpResponse<B>, Infallible>>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        let Some(after) = this.after.take() else {
            // Polled again after it finished: a bug in the caller, answered
            // rather than panicked on.
            return Poll::Ready(Ok(Response::new(Body::empty())));
        };
        let mut response = response.map(Body::new);
        if after.past_sessions {
            response.extensions_mut().insert(PastSessions);
        }
        let mut response = after.errors.shape(response);
        headers::apply(after.policy, after.is_static, &mut response);
        response.headers_mut().entry(REQUEST_ID).or_insert(after.id);
        if let Some(timer) = after.timer {
            timer.finish(response.status());
        }
        Poll::Ready(Ok(response))
    }
}
