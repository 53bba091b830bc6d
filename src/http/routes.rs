//! Routes that say what they need. A feature builds its router with [`Routes`]
//! instead of `Router::route`: each method of each path names its [`Access`],
//! and start-up gathers every feature's entries into one [`AccessTable`], which
//! the guard consults on every authenticated request (SPEC §14, Enforcement).

use axum::{
    Router,
    handler::Handler,
    http::Method,
    routing::{self, MethodRouter},
};

pub use crate::auth::access::{Access, AccessTable, Entry};
#[cfg(test)]
use crate::domain::Permission;
use crate::state::AppState;

/// A path's methods, each with the access it needs.
pub struct Methods {
    router: MethodRouter<AppState>,
    access: Vec<(Method, Access)>,
}

macro_rules! method {
    ($name:ident, $method:ident) => {
        pub fn $name<H, T>(access: Access, handler: H) -> Methods
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            Methods {
                router: routing::$name(handler),
                access: vec![(Method::$method, access)],
            }
        }

        impl Methods {
            pub fn $name<H, T>(mut self, access: Access, handler: H) -> Self
            where
                H: Handler<T, AppState>,
                T: 'static,
            {
                self.router = self.router.$name(handler);
                self.access.push((Method::$method, access));
                self
            }
        }
    };
}

method!(get, GET);
method!(post, POST);
method!(put, PUT);
method!(patch, PATCH);
method!(delete, DELETE);

/// A router under construction, with the access of every route in it.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    entries: Vec<Entry>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn route(mut self, path: &str, methods: Methods) -> Self {
        self.router = self.router.route(path, methods.router);
        self.entries
            .extend(methods.access.into_iter().map(|(method, access)| Entry {
                method,
                path: path.to_owned(),
                access,
            }));
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.entries.extend(other.entries);
        self
    }

    pub fn nest(mut self, prefix: &str, other: Routes) -> Self {
        self.router = self.router.nest(prefix, other.router);
        self.entries
            .extend(other.entries.into_iter().map(|entry| Entry {
                path: format!("{prefix}{}", entry.path),
                ..entry
            }));
        self
    }

    /// Layers, fallbacks and the like, over the router as it stands.
    pub fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = f(self.router);
        self
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }

    pub fn into_parts(self) -> (Router<AppState>, Vec<Entry>) {
        (self.router, self.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ok() {}

    #[test]
    fn a_route_is_found_by_its_template_and_method_and_head_is_get() {
        let routes = Routes::new()
            .route(
                "/users",
                get(Access::Permission(Permission::UsersRead), ok)
                    .post(Access::Permission(Permission::UsersWrite), ok),
            )
            .nest(
                "/scim/v2",
                Routes::new().route(
                    "/Users",
                    get(Access::Permission(Permission::ScimProvision), ok),
                ),
            );
        let table = AccessTable::new(routes.entries().to_vec());
        assert_eq!(
            table.access(&Method::POST, "/users"),
            Some(Access::Permission(Permission::UsersWrite))
        );
        assert_eq!(
            table.access(&Method::HEAD, "/users"),
            Some(Access::Permission(Permission::UsersRead))
        );
        assert_eq!(
            table.access(&Method::GET, "/scim/v2/Users"),
            Some(Access::Permission(Permission::ScimProvision))
        );
        assert_eq!(table.access(&Method::DELETE, "/users"), None);
        assert!(table.knows_path("/users") && !table.knows_path("/nowhere"));
        assert_eq!(table.access(&Method::GET, "/nowhere"), None);
        assert_eq!(table.access(&Method::OPTIONS, "/users"), None);
        assert_eq!(table.routes().len(), 3);
    }
}
