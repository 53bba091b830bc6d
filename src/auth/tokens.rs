//! API tokens: 256 random bits, shown once, stored as a SHA-256 hash. A fast hash
//! is right here: unlike a password, a random token cannot be guessed from a
//! dictionary, and the lookup runs on every request.

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// Tokens start with this, so a leaked one is easy to recognise in a scan.
const PREFIX: &str = "ua_";

/// A new token, to show once.
pub fn generate() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `token` could be one of ours. Anything else is refused without a
/// database lookup, so garbage costs nothing and is not worth throttling.
pub fn is_well_formed(token: &str) -> bool {
    token.strip_prefix(PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// What the database stores for a token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of an `Authorization: Bearer …` header, if the request has one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_recognisable() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with("ua_"));
        assert_eq!(a.len(), 3 + 43);
        assert_ne!(hash(&a), hash(&b));
        assert!(is_well_formed(&a));
        for garbage in [
            "",
            "ua_",
            "ua_short",
            "xx_AAAA",
            &format!("{a}x"),
            &a.replace('_', "+"),
        ] {
            assert!(!is_well_formed(garbage), "{garbage:?}");
        }
    }

    #[test]
    fn bearer_reads_the_scheme_case_insensitively() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "bearer ua_x".parse().unwrap());
        assert_eq!(bearer(&headers), Some("ua_x"));
        headers.insert(header::AUTHORIZATION, "Basic dXNlcg==".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer ".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
