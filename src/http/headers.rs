//! Response headers the service sets on everything it answers: the
//! security headers of HTML pages, HSTS when cookies are Secure, `Vary: Accept`
//! where the answer depends on `Accept`, and `no-store` on JSON.

use axum::{
    http::{HeaderMap, HeaderValue, header},
    response::Response,
};

/// What [`apply`] needs from the settings.
#[derive(Debug, Clone, Copy)]
pub struct HeaderPolicy {
    /// Send `Strict-Transport-Security` (when cookies are `Secure`, the service
    /// is only ever meant to be reached over HTTPS).
    pub hsts: bool,
}

const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000");

/// Whether `path` is under `/static`, whose files are the same whatever `Accept` says.
pub fn is_static(path: &str) -> bool {
    path == "/static" || path.starts_with("/static/")
}

/// The security headers of every HTML page (CSP, framing, sniffing, referrer); pages are never cached (they show
/// personal data and a CSRF token), nor is JSON (user data, tokens).
pub fn apply(policy: HeaderPolicy, is_static: bool, response: &mut Response) {
    // Errors are rendered per `Accept` everywhere, /static included.
    let negotiated =
        !is_static || response.status().is_client_error() || response.status().is_server_error();
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if policy.hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    if negotiated {
        add_vary_accept(headers);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if content_type.starts_with(b"text/html") {
        set_page_headers(headers);
    } else if content_type.starts_with(b"application/json") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Adds `Accept` to `Vary`, keeping what is there (compression's `accept-encoding`).
fn add_vary_accept(headers: &mut HeaderMap) {
    let mut values = headers.get_all(header::VARY).iter();
    let added = match (values.next(), values.next()) {
        (None, _) => HeaderValue::from_static("Accept"),
        // What the compression layer leaves on almost every response:
        // answered without building the list.
        (Some(only), None) if only.as_bytes().eq_ignore_ascii_case(b"accept-encoding") => {
            HeaderValue::from_static("accept-encoding, Accept")
        }
        _ => return add_to_vary_list(headers),
    };
    headers.insert(header::VARY, added);
}

fn add_to_vary_list(headers: &mut HeaderMap) {
    let existing = headers.get_all(header::VARY).iter();
    let existing: Vec<String> = existing
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if existing
        .iter()
        .any(|v| v == "*" || v.eq_ignore_ascii_case("accept"))
    {
        return;
    }
    let mut value = existing.join(", ");
    if !value.is_empty() {
        value.push_str(", ");
    }
    value.push_str("Accept");
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(header::VARY, value);
    }
}

fn set_page_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            // data: images: the stylesheet's inline SVG icons (search, checkmarks).
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vary(values: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::VARY, HeaderValue::from_str(v).unwrap());
        }
        add_vary_accept(&mut headers);
        let all: Vec<_> = headers
            .get_all(header::VARY)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        all.join(" | ")
    }

    #[test]
    fn accept_joins_whatever_vary_already_says() {
        assert_eq!(vary(&[]), "Accept");
        assert_eq!(vary(&["accept-encoding"]), "accept-encoding, Accept");
        assert_eq!(
            vary(&["accept-encoding", "origin"]),
            "accept-encoding, origin, Accept"
        );
        assert_eq!(vary(&["accept"]), "accept");
        assert_eq!(vary(&["*"]), "*");
    }
}
