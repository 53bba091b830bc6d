//! The client's address: the socket peer, unless `TRUSTED_PROXY` names a header
//! that a proxy we trust sets (then a forged header from anyone else is ignored
//! only if the proxy overwrites it, which is the operator's promise).

use std::{convert::Infallible, net::SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::{HeaderMap, request::Parts},
};

use crate::{config::TrustedProxy, state::AppState};

pub struct ClientIp(pub String);

impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let forwarded = match state.settings.trusted_proxy {
            None => None,
            // Our proxy appends the address it saw: the right-most entry of all
            // the lines (a proxy may add a line of its own rather than append).
            Some(TrustedProxy::XForwardedFor) => right_most(&parts.headers, "x-forwarded-for"),
            Some(TrustedProxy::XRealIp) => header("x-real-ip").map(|v| v.trim().to_owned()),
        };
        let ip = forwarded
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            .unwrap_or(peer);
        Ok(Self(ip))
    }
}

/// The last address of every `name` line joined in order with ','; `None` when
/// there is no line. (A client's odd bytes in an earlier line change nothing.)
fn right_most(headers: &HeaderMap, name: &str) -> Option<String> {
    let lines: Vec<_> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .collect();
    if lines.is_empty() {
        return None;
    }
    let joined = lines.join(",");
    joined.rsplit(',').next().map(|ip| ip.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_most_address_of_every_line_counts() {
        let mut headers = HeaderMap::new();
        assert_eq!(right_most(&headers, "x-forwarded-for"), None);
        headers.append(
            "x-forwarded-for",
            "198.51.100.1, 198.51.100.2".parse().unwrap(),
        );
        assert_eq!(
            right_most(&headers, "x-forwarded-for").as_deref(),
            Some("198.51.100.2")
        );
        headers.append("x-forwarded-for", " 203.0.113.9 ".parse().unwrap());
        assert_eq!(
            right_most(&headers, "x-forwarded-for").as_deref(),
            Some("203.0.113.9")
        );
    }
}
