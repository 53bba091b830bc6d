//! Standard Webhooks signatures: `v1,` + base64 of HMAC-SHA256 over
//! `"{msg_id}.{timestamp}.{body}"`, keyed with the base64 part of a `whsec_`
//! secret. Following the specification exactly is the point: a receiver's
//! existing Standard Webhooks (or Svix) library must accept what we send.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What every secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// The only signature version the specification defines for symmetric keys.
const VERSION: &str = "v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("a webhook secret starts with `whsec_` followed by base64")]
    MalformedSecret,
    #[error("no signature matches")]
    NoMatch,
}

/// A new secret: `whsec_` + base64 of 32 random bytes (SHA-256's output
/// size, the key length HMAC-SHA256 is designed for).
pub fn new_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` header for one attempt.
pub fn sign(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SignatureError> {
    let mac = mac(secret, msg_id, timestamp, body)?;
    Ok(format!(
        "{VERSION},{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Checks a `webhook-signature` header (space-separated `version,signature`
/// pairs, any one of which may match) in constant time. Freshness of the
/// timestamp is the caller's decision: a receiver compares it with its clock.
pub fn verify(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> Result<(), SignatureError> {
    let expected = mac(secret, msg_id, timestamp, body)?;
    let matches = header
        .split(' ')
        .filter_map(|pair| pair.split_once(','))
        .filter(|(version, _)| *version == VERSION)
        .filter_map(|(_, signature)| STANDARD.decode(signature).ok())
        .any(|signature| expected.clone().verify_slice(&signature).is_ok());
    if matches {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

fn mac(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<HmacSha256, SignatureError> {
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .filter(|key| !key.is_empty())
        .ok_or(SignatureError::MalformedSecret)?;
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example published with the Standard Webhooks specification (and the
    // test suites of its reference libraries).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_specification_example() {
        assert_eq!(sign(SECRET, MSG_ID, TIMESTAMP, BODY).unwrap(), SIGNATURE);
    }

    #[test]
    fn verifies_the_specification_example_among_other_signatures() {
        verify(SECRET, MSG_ID, TIMESTAMP, BODY, SIGNATURE).unwrap();
        let several = format!("v1,bm9wZQ== v2,whatever {SIGNATURE}");
        verify(SECRET, MSG_ID, TIMESTAMP, BODY, &several).unwrap();
    }

    #[test]
    fn refuses_any_change_to_what_was_signed() {
        let refused = |id: &str, timestamp: i64, body: &[u8]| {
            verify(SECRET, id, timestamp, body, SIGNATURE) == Err(SignatureError::NoMatch)
        };
        assert!(refused("msg_other", TIMESTAMP, BODY));
        assert!(refused(MSG_ID, TIMESTAMP + 1, BODY));
        assert!(refused(MSG_ID, TIMESTAMP, br#"{"test": 2432232315}"#));
        assert_eq!(
            verify(
                SECRET,
                MSG_ID,
                TIMESTAMP,
                BODY,
                "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
            ),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn refuses_malformed_secrets() {
        for secret in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_",
            "whsec_not base64!",
        ] {
            assert_eq!(
                sign(secret, MSG_ID, TIMESTAMP, BODY),
                Err(SignatureError::MalformedSecret),
                "{secret}"
            );
        }
    }

    #[test]
    fn new_secrets_are_32_random_bytes_that_sign() {
        let secret = new_secret();
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
        assert_ne!(secret, new_secret());
        let signature = sign(&secret, MSG_ID, TIMESTAMP, BODY).unwrap();
        verify(&secret, MSG_ID, TIMESTAMP, BODY, &signature).unwrap();
    }
}
