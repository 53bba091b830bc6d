//! Requests by route template, method and status class, with their duration.

use std::time::Instant;

use axum::{
    extract::MatchedPath,
    http::{Method, Request, StatusCode},
};
use metrics::{counter, histogram};

use super::{HTTP_DURATION, HTTP_REQUESTS, enabled};

/// The one route label every path that matched no route shares, so a scan of
/// made-up paths adds no series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// axum's name for the rest of a path under a nested service (`/static/…`).
const NEST_TAIL: &str = "{*__private__axum_nest_tail_param}";

/// Taken when a request comes in, recorded when its response goes out.
pub struct RequestTimer {
    route: String,
    method: &'static str,
    started: Instant,
}

impl RequestTimer {
    /// `None` when metrics are off. Must see the request after routing, where
    /// axum has put the matched route's template in its extensions.
    pub fn start<B>(request: &Request<B>) -> Option<Self> {
        if !enabled() {
            return None;
        }
        let route = match request.extensions().get::<MatchedPath>() {
            Some(path) => path.as_str().replace(NEST_TAIL, "{*path}"),
            None => UNMATCHED_ROUTE.to_owned(),
        };
        Some(Self {
            route,
            method: method_label(request.method()),
            started: Instant::now(),
        })
    }

    pub fn finish(self, status: StatusCode) {
        let seconds = self.started.elapsed().as_secs_f64();
        histogram!(HTTP_DURATION, "route" => self.route.clone(), "method" => self.method)
            .record(seconds);
        counter!(
            HTTP_REQUESTS,
            "route" => self.route,
            "method" => self.method,
            "status" => status_class(status)
        )
        .increment(1);
    }
}

/// The standard methods by name; anything else (a scanner's `FOO`) is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_small_fixed_sets() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"PROPFIND").unwrap()),
            "other"
        );
        assert_eq!(status_class(StatusCode::NOT_MODIFIED), "3xx");
        assert_eq!(status_class(StatusCode::UNPROCESSABLE_ENTITY), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }
}
