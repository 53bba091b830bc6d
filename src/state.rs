//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use bytes::Bytes;
use sqlx::PgPool;

use crate::{
    auth::{
        PasswordHasher, access::AccessTable, login_csrf::LoginCsrf,
        session_store::DeploymentSessionStore, throttle::Throttle,
    },
    cache::{Generation, UserListCache, token_cache::TokenCache},
    config::Settings,
    write::Writer,
};

/// Cloned by every extractor and middleware that takes the state, so one
/// reference count rather than a copy of each field (several own `String`s).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// `/openapi.json`'s handler takes the document alone.
impl FromRef<AppState> for Bytes {
    fn from_ref(state: &AppState) -> Bytes {
        state.openapi.clone()
    }
}

pub struct Services {
    pub db: PgPool,
    /// The one Redis pool: sessions, throttling and the list cache.
    pub redis: fred::prelude::Pool,
    pub settings: Arc<Settings>,
    /// The one write path: every change to users and tokens.
    pub writer: Writer,
    /// The cache generation every write moves on, over `redis`.
    pub generation: Generation,
    /// Pages of `GET /users`, stored under `generation`.
    pub user_cache: UserListCache,
    /// Bearer tokens already checked, trusted under `generation`.
    pub tokens: Arc<TokenCache>,
    /// Login and bearer-token attempt counters, over `redis`.
    pub throttle: Throttle,
    /// Login sessions, over `redis`, bound to this deployment.
    pub sessions: DeploymentSessionStore,
    /// The login form's stateless CSRF check.
    pub login_csrf: LoginCsrf,
    pub hasher: PasswordHasher,
    /// What every route needs, as the features declared it; the guard checks it.
    pub access: AccessTable,
    /// `/openapi.json`, serialised once at start.
    pub openapi: Bytes,
}
