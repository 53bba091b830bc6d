//! The service's routes: every feature's router, registered here and nowhere
//! else. A new feature adds one line to the list it belongs to.

use axum::Router;

use crate::{
    audit, health, http, lifecycle, login, scim, state::AppState, tokens, transfer, two_factor,
    users, webhooks,
};

use super::api_doc;

/// Parts of the service whose errors keep a schema of their own.
static ERROR_DIALECTS: [http::error_pages::ErrorDialect; 1] = [scim::routes::ERROR_DIALECT];

pub fn features(state: &AppState) -> http::Features {
    http::Features {
        public: Router::new()
            .merge(health::root::router())
            .merge(health::routes::router())
            .merge(api_doc::router())
            .merge(login::routes::public_router())
            // Their handlers decide whom they serve (a half-logged-in session, too).
            .merge(two_factor::routes::public_router())
            .nest(scim::routes::PREFIX, scim::routes::router()),
        protected: Router::new()
            .merge(users::routes::router())
            .merge(tokens::routes::router())
            .merge(audit::routes::router())
            .merge(lifecycle::routes::router())
            .merge(transfer::export_routes::router())
            .merge(transfer::import_routes::router())
            .merge(webhooks::routes::router())
            .merge(login::routes::router())
            .merge(two_factor::routes::router()),
        uploads: transfer::import_routes::upload_router(state),
        dialects: &ERROR_DIALECTS,
    }
}

/// The service's two stacks (browsers and scripts) over every feature.
pub fn app(state: AppState) -> http::App {
    let features = features(&state);
    http::router(state, features)
}
