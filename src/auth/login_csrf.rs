//! CSRF protection for the login form without server-side state: a
//! signed double-submit cookie. `GET /login` sets a cookie holding a random nonce
//! and its HMAC under the deployment's key, and puts the same token in the form;
//! `POST /login` needs both to be present, equal and genuinely signed. A forged
//! cookie (set by a neighbouring subdomain, say) fails the signature, and nothing
//! is written to Redis for an anonymous visitor.

use axum::http::{HeaderMap, HeaderValue, header};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tower_sessions::cookie::{Cookie, SameSite};

use super::AuthError;

/// The cookie's name.
pub const COOKIE: &str = "useradmin_login_csrf";

/// How long an opened login form stays usable.
const MAX_AGE_SECS: i64 = 2 * 60 * 60;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct LoginCsrf {
    key: Vec<u8>,
    secure_cookie: bool,
}

impl std::fmt::Debug for LoginCsrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginCsrf(..)")
    }
}

impl LoginCsrf {
    pub fn new(key: &[u8], secure_cookie: bool) -> Self {
        Self {
            key: key.to_vec(),
            secure_cookie,
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length")
    }

    fn sign(&self, nonce: &str) -> String {
        let mut mac = self.mac();
        mac.update(nonce.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn is_genuine(&self, token: &str) -> bool {
        let Some((nonce, signature)) = token.split_once('.') else {
            return false;
        };
        let Ok(signature) = hex::decode(signature) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(nonce.as_bytes());
        // Constant-time comparison, from the hmac crate.
        nonce.len() == 64 && mac.verify_slice(&signature).is_ok()
    }

    /// The token for a login form: the visitor's own while it is genuine (so two
    /// open tabs both work), else a new one to set as the cookie.
    pub fn token_for(&self, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
        if let Some(token) = cookie_value(headers).filter(|t| self.is_genuine(t)) {
            return (token, None);
        }
        let nonce = hex::encode(rand::random::<[u8; 32]>());
        let token = format!("{nonce}.{}", self.sign(&nonce));
        let cookie = Cookie::build((COOKIE, token.clone()))
            .path("/login")
            .http_only(true)
            .secure(self.secure_cookie)
            .same_site(SameSite::Strict)
            .max_age(time::Duration::seconds(MAX_AGE_SECS))
            .build();
        let header = HeaderValue::from_str(&cookie.to_string()).ok();
        (token, header)
    }

    /// Accepts a login POST only when its form token matches its cookie and was
    /// signed by this deployment.
    pub fn verify(&self, headers: &HeaderMap, submitted: &str) -> Result<(), AuthError> {
        match cookie_value(headers) {
            Some(cookie)
                if self.is_genuine(&cookie)
                    && constant_time_eq(cookie.as_bytes(), submitted.as_bytes()) =>
            {
                Ok(())
            }
            _ => Err(AuthError::Forbidden(
                "the login form has expired or did not come from this site (CSRF check failed); reload the page and try again".into(),
            )),
        }
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == COOKIE)
        .map(|cookie| cookie.value().to_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={token}")).unwrap(),
        );
        headers
    }

    #[test]
    fn a_fresh_token_is_set_as_a_cookie_and_then_reused() {
        let csrf = LoginCsrf::new(b"key", true);
        let (token, cookie) = csrf.token_for(&HeaderMap::new());
        let cookie = cookie.expect("a new visitor gets the cookie");
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("Secure"));
        let (again, none) = csrf.token_for(&with_cookie(&token));
        assert_eq!(again, token);
        assert!(none.is_none());
        assert!(csrf.verify(&with_cookie(&token), &token).is_ok());
    }

    #[test]
    fn forged_mismatched_or_missing_tokens_are_refused() {
        let csrf = LoginCsrf::new(b"key", false);
        let (token, _) = csrf.token_for(&HeaderMap::new());
        let other_key = LoginCsrf::new(b"another key", false);
        let (foreign, _) = other_key.token_for(&HeaderMap::new());
        assert!(csrf.verify(&with_cookie(&foreign), &foreign).is_err());
        assert!(csrf.verify(&with_cookie(&token), "").is_err());
        assert!(csrf.verify(&HeaderMap::new(), &token).is_err());
        let (second, _) = csrf.token_for(&HeaderMap::new());
        assert!(csrf.verify(&with_cookie(&token), &second).is_err());
        let unsigned = format!("{}.", "a".repeat(64));
        assert!(csrf.verify(&with_cookie(&unsigned), &unsigned).is_err());
    }
}
