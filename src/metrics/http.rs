//! Requests by route template, method and status class, with their duration.
//!
//! The series handles are looked up once per route, method and status class
//! and then kept in a small per-thread table keyed by the route template: a
//! request costs a hash of its template and two atomic updates, not the
//! recorder's key building and registry lookup (which cost the cached list 5%
//! in an A/B run).

use std::{cell::RefCell, collections::HashMap, time::Instant};

use axum::{
    extract::MatchedPath,
    http::{Method, Request, StatusCode},
};
use metrics::{Counter, Histogram, counter, histogram};

use super::{HTTP_DURATION, HTTP_REQUESTS, enabled};

/// The one route label every path that matched no route shares, so a scan of
/// made-up paths adds no series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// axum's name for the rest of a path under a nested service (`/static/…`).
const NEST_TAIL: &str = "{*__private__axum_nest_tail_param}";

/// The standard methods by name; anything else (a scanner's `FOO`) is `other`.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other",
];

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Taken when a request comes in, recorded when its response goes out.
pub struct RequestTimer {
    route: Option<MatchedPath>,
    method: usize,
    started: Instant,
}

impl RequestTimer {
    /// `None` when metrics are off. Must see the request after routing, where
    /// axum has put the matched route's template in its extensions.
    pub fn start<B>(request: &Request<B>) -> Option<Self> {
        if !enabled() {
            return None;
        }
        Some(Self {
            route: request.extensions().get::<MatchedPath>().cloned(),
            method: method_index(request.method()),
            started: Instant::now(),
        })
    }

    pub fn finish(self, status: StatusCode) {
        let seconds = self.started.elapsed().as_secs_f64();
        let route = self
            .route
            .as_ref()
            .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
        SERIES.with_borrow_mut(|series| {
            if !series.contains_key(route) {
                series.insert(route.into(), RouteSeries::default());
            }
            if let Some(entry) = series.get_mut(route) {
                entry.record(route, self.method, status_class(status), seconds);
            }
        });
    }
}

thread_local! {
    /// Per route template (as axum matched it): its series, made on first use.
    static SERIES: RefCell<HashMap<Box<str>, RouteSeries>> = RefCell::new(HashMap::new());
}

#[derive(Default)]
struct RouteSeries {
    methods: [Option<MethodSeries>; METHODS.len()],
}

struct MethodSeries {
    duration: Histogram,
    requests: [Option<Counter>; STATUS_CLASSES.len()],
}

impl RouteSeries {
    fn record(&mut self, route: &str, method: usize, class: usize, seconds: f64) {
        let series = self.methods[method].get_or_insert_with(|| MethodSeries {
            duration: histogram!(
                HTTP_DURATION,
                "route" => route_label(route),
                "method" => METHODS[method]
            ),
            requests: Default::default(),
        });
        series.duration.record(seconds);
        series.requests[class]
            .get_or_insert_with(|| {
                counter!(
                    HTTP_REQUESTS,
                    "route" => route_label(route),
                    "method" => METHODS[method],
                    "status" => STATUS_CLASSES[class]
                )
            })
            .increment(1);
    }
}

fn route_label(route: &str) -> String {
    route.replace(NEST_TAIL, "{*path}")
}

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

fn status_class(status: StatusCode) -> usize {
    match status.as_u16() {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_small_fixed_sets() {
        assert_eq!(METHODS[method_index(&Method::GET)], "GET");
        assert_eq!(
            METHODS[method_index(&Method::from_bytes(b"PROPFIND").unwrap())],
            "other"
        );
        assert_eq!(
            STATUS_CLASSES[status_class(StatusCode::NOT_MODIFIED)],
            "3xx"
        );
        assert_eq!(
            STATUS_CLASSES[status_class(StatusCode::UNPROCESSABLE_ENTITY)],
            "4xx"
        );
        assert_eq!(
            STATUS_CLASSES[status_class(StatusCode::SERVICE_UNAVAILABLE)],
            "5xx"
        );
        assert_eq!(
            route_label("/static/{*__private__axum_nest_tail_param}"),
            "/static/{*path}"
        );
    }
}
