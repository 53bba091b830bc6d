//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::{
    auth::{
        PasswordHasher, login_csrf::LoginCsrf, session_store::DeploymentSessionStore,
        throttle::Throttle, token_cache::TokenCache,
    },
    cache::UserListCache,
    config::Settings,
};

#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    /// The one Redis pool: sessions, throttling and the list cache.
    pub redis: fred::prelude::Pool,
    pub settings: Arc<Settings>,
    /// Pages of `GET /users`, over `redis`.
    pub user_cache: UserListCache,
    /// Login and bearer-token attempt counters, over `redis`.
    pub throttle: Throttle,
    /// Login sessions, over `redis`, bound to this deployment.
    pub sessions: DeploymentSessionStore,
    /// The login form's stateless CSRF check.
    pub login_csrf: LoginCsrf,
    /// Bearer tokens already checked, trusted per cache generation.
    pub tokens: Arc<TokenCache>,
    pub hasher: PasswordHasher,
}
