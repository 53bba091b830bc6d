//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::{
    auth::{PasswordHasher, throttle::LoginThrottle, token_cache::TokenCache},
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
    /// Failed-login counters, over `redis`.
    pub throttle: LoginThrottle,
    /// Bearer tokens already checked, trusted per cache generation.
    pub tokens: Arc<TokenCache>,
    pub hasher: PasswordHasher,
}
