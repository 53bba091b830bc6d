//! A client's `x-request-id` is kept only when it is a short, plain token:
//! at most 64 characters of `[A-Za-z0-9._-]`. Anything else is dropped before
//! the service makes a fresh UUID.

use axum::http::{HeaderMap, HeaderValue};

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
/// acceptable, then gives the request a fresh one if it has none; returns the id.
pub fn assign(headers: &mut HeaderMap) -> HeaderValue {
    let mut values = headers.get_all(&REQUEST_ID).iter();
    let kept = match (values.next(), values.next()) {
        (Some(value), None) if is_acceptable(value.as_bytes()) => Some(value.clone()),
        _ => None,
    };
    let id = kept.unwrap_or_else(|| {
        let fresh = uuid::Uuid::new_v4();
        HeaderValue::from_str(
            fresh
                .hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        )
        .expect("a UUID is a valid header value")
    });
    headers.insert(&REQUEST_ID, id.clone());
    id
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
