//! The service's routes: every feature's router, registered here and nowhere
//! else. A new feature adds one line to the list it belongs to. Each route
//! declares what it needs ([`http::routes::Access`]); [`access_table`] gathers
//! those declarations into the one table the guard checks.

use crate::{
    audit, groups, health, http,
    http::routes::{AccessTable, Entry, Routes},
    lifecycle, login, roles, scim,
    state::AppState,
    tokens, transfer, two_factor, users, webhooks,
};

use super::api_doc;

/// Parts of the service whose errors keep a schema of their own.
static ERROR_DIALECTS: [http::error_pages::ErrorDialect; 1] = [scim::routes::ERROR_DIALECT];

/// Every feature's routes, before layers.
struct AllRoutes {
    public: Routes,
    protected: Routes,
    uploads: Routes,
}

fn all_routes() -> AllRoutes {
    AllRoutes {
        public: Routes::new()
            .merge(health::root::router())
            .merge(health::routes::router())
            .merge(api_doc::router())
            .merge(login::routes::public_router())
            // Their handlers decide whom they serve (a half-logged-in session, too).
            .merge(two_factor::routes::public_router())
            .nest(scim::routes::PREFIX, scim::routes::router()),
        protected: Routes::new()
            .merge(users::routes::router())
            .merge(tokens::routes::router())
            .merge(audit::routes::router())
            .merge(lifecycle::routes::router())
            .merge(transfer::export_routes::router())
            .merge(transfer::import_routes::router())
            .merge(webhooks::routes::router())
            .merge(groups::routes::router())
            .merge(login::routes::router())
            .merge(two_factor::routes::router())
            .merge(roles::routes::router()),
        uploads: transfer::import_routes::upload_routes(),
    }
}

/// Every route's declared access, as the features declared it.
pub fn access_entries() -> Vec<Entry> {
    let routes = all_routes();
    [routes.public, routes.protected, routes.uploads]
        .into_iter()
        .flat_map(|routes| routes.into_parts().1)
        .collect()
}

/// The table the guard checks every authenticated request against.
pub fn access_table() -> AccessTable {
    AccessTable::new(access_entries())
}

pub fn features(state: &AppState) -> http::Features {
    let routes = all_routes();
    http::Features {
        public: routes.public.into_router(),
        protected: routes.protected.into_router(),
        uploads: transfer::import_routes::upload_router(state, routes.uploads),
        dialects: &ERROR_DIALECTS,
    }
}

/// The service's two stacks (browsers and scripts) over every feature.
pub fn app(state: AppState) -> http::App {
    let features = features(&state);
    http::router(state, features)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Permission;
    use crate::http::routes::Access;

    /// What SPEC §14 says each route family needs; `None`: not a family it names.
    fn spec_access(method: &axum::http::Method, path: &str) -> Option<Access> {
        use Permission as P;
        let read = *method == axum::http::Method::GET;
        let p = |permission| Some(Access::Permission(permission));
        let lifecycle = ["/disable", "/enable", "/restore", "/delete"];
        if path.starts_with("/account/") || path == "/logout" {
            return Some(Access::Login);
        }
        if path.starts_with("/scim/v2/") {
            return p(P::ScimProvision);
        }
        if path == "/audit" {
            return p(P::AuditRead);
        }
        if path.starts_with("/tokens") {
            return p(P::TokensManage);
        }
        if path.starts_with("/webhooks") {
            return p(P::WebhooksManage);
        }
        if path.starts_with("/roles") || path.starts_with("/groups") {
            return read.then_some(Access::Permission(P::UsersRead));
        }
        if !path.starts_with("/users") {
            return None;
        }
        if path.ends_with("/2fa/reset") {
            return p(P::CredentialsReset);
        }
        if path == "/users/bulk"
            || lifecycle.iter().any(|end| path.ends_with(end))
            || (*method == axum::http::Method::DELETE && path == "/users/{id}")
        {
            return p(P::UsersLifecycle);
        }
        if path.starts_with("/users/import") || path == "/users/new" || path.ends_with("/edit") {
            return p(P::UsersWrite);
        }
        if read {
            return p(P::UsersRead);
        }
        p(P::UsersWrite)
    }

    #[test]
    fn every_route_declares_what_the_spec_says_it_needs() {
        let entries = access_entries();
        let mut checked = 0;
        for entry in &entries {
            let Some(expected) = spec_access(&entry.method, &entry.path) else {
                continue;
            };
            assert_eq!(entry.access, expected, "{} {}", entry.method, entry.path);
            checked += 1;
        }
        // The families are all there (a renamed route would slip past).
        for (method, path) in [
            ("GET", "/users"),
            ("PATCH", "/users/{id}"),
            ("DELETE", "/users/{id}"),
            ("POST", "/users/{id}/disable"),
            ("POST", "/users/bulk"),
            ("POST", "/users/{id}/2fa/reset"),
            ("GET", "/users/{id}/2fa/reset"),
            ("GET", "/tokens/{id}/revoke"),
            ("GET", "/webhooks/{id}/delete"),
            ("GET", "/webhooks/{id}/rotate-secret"),
            ("GET", "/audit"),
            ("GET", "/tokens"),
            ("GET", "/webhooks"),
            ("GET", "/scim/v2/Users"),
            ("POST", "/account/password"),
        ] {
            assert!(
                entries
                    .iter()
                    .any(|e| e.method.as_str() == method && e.path == path),
                "{method} {path} is not declared"
            );
        }
        assert!(checked > 30, "only {checked} routes checked");
    }

    #[test]
    fn every_guarded_route_needs_at_least_a_login() {
        let routes = all_routes();
        for entry in routes
            .protected
            .entries()
            .iter()
            .chain(routes.uploads.entries())
        {
            assert_ne!(
                entry.access,
                Access::Public,
                "{} {}",
                entry.method,
                entry.path
            );
        }
    }
}
