//! The client's address: the socket peer, unless `TRUSTED_PROXY` names a header
//! that a proxy we trust sets (then a forged header from anyone else is ignored
//! only if the proxy overwrites it, which is the operator's promise).

use std::{convert::Infallible, net::SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::request::Parts,
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
            // Our proxy appends the address it saw: the right-most entry.
            Some(TrustedProxy::XForwardedFor) => header("x-forwarded-for")
                .and_then(|v| v.rsplit(',').next().map(|ip| ip.trim().to_owned())),
            Some(TrustedProxy::XRealIp) => header("x-real-ip").map(|v| v.trim().to_owned()),
        };
        let ip = forwarded
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
            .unwrap_or(peer);
        Ok(Self(ip))
    }
}
