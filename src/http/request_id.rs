//! A client's `x-request-id` is kept only when it is a short, plain token:
//! at most 64 characters of `[A-Za-z0-9._-]`. Anything else is dropped before
//! `SetRequestIdLayer`, which then makes a fresh UUID.

use axum::{extract::Request, middleware::Next, response::Response};

use super::REQUEST_ID;

/// The longest client request id that is kept.
pub const MAX_LEN: usize = 64;

pub fn is_acceptable(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Removes every incoming `x-request-id` unless there is exactly one and it is
/// acceptable.
pub async fn drop_invalid(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let mut values = headers.get_all(&REQUEST_ID).iter();
    let keep = match (values.next(), values.next()) {
        (Some(value), None) => is_acceptable(value.as_bytes()),
        (None, _) => true,
        _ => false,
    };
    if !keep {
        headers.remove(&REQUEST_ID);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_ids_are_acceptable() {
        assert!(is_acceptable(b"abc-DEF_0.9"));
        assert!(is_acceptable("a".repeat(64).as_bytes()));
        for bad in [
            "".to_owned(),
            "a".repeat(65),
            "a b".into(),
            "a/b".into(),
            "a\tb".into(),
            "zoë".into(),
        ] {
            assert!(!is_acceptable(bad.as_bytes()), "{bad:?}");
        }
    }
}
