//! The one place that decides whether a request gets HTML or JSON: from `Accept`,
//! never from `Content-Type`. A client gets HTML only when it prefers `text/html`
//! over JSON; curl's `*/*`, no `Accept` at all, and anything unclear get JSON.

use std::convert::Infallible;

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
}

impl Format {
    pub fn is_html(self) -> bool {
        self == Self::Html
    }

    pub fn from_headers(headers: &HeaderMap) -> Self {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Self::Json;
        };
        let mut html: Option<f32> = None;
        let mut json: Option<f32> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media_type = parts.next().unwrap_or_default().trim();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let is = |name: &str| media_type.eq_ignore_ascii_case(name);
            let slot = if is("text/html") || is("application/xhtml+xml") {
                &mut html
            } else if is("application/json") {
                &mut json
            } else {
                continue;
            };
            *slot = Some(slot.map_or(quality, |q| q.max(quality)));
        }
        match (html, json) {
            (Some(h), Some(j)) if h > j => Self::Html,
            (Some(h), None) if h > 0.0 => Self::Html,
            _ => Self::Json,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Format {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(accept: Option<&str>) -> Format {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT, accept.parse().unwrap());
        }
        Format::from_headers(&headers)
    }

    #[test]
    fn browsers_get_html() {
        let chrome = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8";
        assert_eq!(format(Some(chrome)), Format::Html);
        assert_eq!(format(Some("text/html")), Format::Html);
    }

    #[test]
    fn scripts_get_json() {
        assert_eq!(format(None), Format::Json);
        assert_eq!(format(Some("*/*")), Format::Json);
        assert_eq!(format(Some("application/json")), Format::Json);
        assert_eq!(
            format(Some("text/html;q=0.5, application/json")),
            Format::Json
        );
        assert_eq!(format(Some("text/html;q=0")), Format::Json);
        assert_eq!(format(Some("garbage;;;q=x")), Format::Json);
    }
}
