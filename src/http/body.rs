//! Request bodies, read by their `Content-Type`: JSON or an HTML form. The answer's
//! format is chosen elsewhere (by `Accept`), so a script may post a form and still
//! get JSON back.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use serde::de::DeserializeOwned;

use crate::http::error::AppError;

/// Bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// A body of type `T`: malformed JSON answers 400, a well-formed body of the wrong
/// shape (unknown field, wrong type) 422, another media type 415.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let kind = match media_type(req.headers()).as_deref() {
            Some("application/json") => Kind::Json,
            Some(t) if t.starts_with("application/") && t.ends_with("+json") => Kind::Json,
            Some("application/x-www-form-urlencoded") => Kind::Form,
            _ => return Err(AppError::UnsupportedMediaType),
        };
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest("the request body could not be read".into())
            }
        })?;
        match kind {
            Kind::Json => serde_json::from_slice(&bytes).map(Body).map_err(|e| {
                use serde_json::error::Category;
                match e.classify() {
                    Category::Data => AppError::Unprocessable(format!("invalid body: {e}")),
                    Category::Syntax | Category::Eof | Category::Io => {
                        AppError::BadRequest(format!("malformed JSON: {e}"))
                    }
                }
            }),
            Kind::Form => {
                if !form_is_utf8(&bytes) {
                    return Err(AppError::BadRequest("the form body is not UTF-8".into()));
                }
                serde_urlencoded::from_bytes(&bytes)
                    .map(Body)
                    .map_err(|e| AppError::Unprocessable(format!("invalid form: {e}")))
            }
        }
    }
}

/// A body's media type, without parameters, in lower case.
pub fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

enum Kind {
    Json,
    Form,
}

/// The form decoder replaces invalid UTF-8 with U+FFFD; refuse such a body rather
/// than store something other than what was sent.
fn form_is_utf8(body: &[u8]) -> bool {
    body.split(|&b| b == b'&').all(|pair| {
        let unplussed: Vec<u8> = pair
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&unplussed)
            .decode_utf8()
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::form_is_utf8;

    #[test]
    fn forms_with_invalid_utf8_are_detected() {
        assert!(form_is_utf8(b"name=Zo%C3%AB+B&email=a%40b.c"));
        assert!(!form_is_utf8(b"name=%FF%FE"));
        assert!(!form_is_utf8(b"name=ok&e%C3=x"));
    }
}
