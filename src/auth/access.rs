//! What each route needs (SPEC §14, Enforcement): the table the guard checks.
//! Features declare it route by route with `http::routes::Routes`; start-up
//! gathers the declarations here, and the state keeps the table.

use std::collections::HashMap;

use axum::http::Method;

use crate::domain::Permission;

/// What a route needs of the one who calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the login page, health, `/openapi.json`, static files); a
    /// handler that wants more decides itself.
    Public,
    /// Any logged-in account, whatever it holds (its own password and 2FA,
    /// logging out).
    Login,
    /// An account or token holding this permission.
    Permission(Permission),
}

/// One method of one path, as the router matches it (`/users/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub method: Method,
    pub path: String,
    pub access: Access,
}

/// The methods a route declares, by path.
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// Every route's access, by route template and method: one hash lookup per
/// request.
#[derive(Debug, Default)]
pub struct AccessTable {
    paths: HashMap<String, [Option<Access>; METHODS.len()]>,
}

impl AccessTable {
    /// The table of these entries. A route declared twice keeps its last declaration.
    pub fn new(entries: impl IntoIterator<Item = Entry>) -> Self {
        let mut paths: HashMap<String, [Option<Access>; METHODS.len()]> = HashMap::new();
        for entry in entries {
            if let Some(index) = method_index(&entry.method) {
                paths.entry(entry.path).or_default()[index] = Some(entry.access);
            }
        }
        Self { paths }
    }

    /// What `method` on the route template `path` needs; `None` when the
    /// route declared nothing (the guard then refuses). `HEAD` is `GET`'s.
    pub fn access(&self, method: &Method, path: &str) -> Option<Access> {
        let index = method_index(method)?;
        self.paths.get(path)?[index]
    }

    /// Whether any method of the route template `path` is declared.
    pub fn knows_path(&self, path: &str) -> bool {
        self.paths.contains_key(path)
    }

    /// Every declared (method, path), sorted.
    pub fn routes(&self) -> Vec<(Method, String, Access)> {
        let mut all: Vec<_> = self
            .paths
            .iter()
            .flat_map(|(path, methods)| {
                METHODS.iter().zip(methods).filter_map(|(method, access)| {
                    access.map(|access| (method.clone(), path.clone(), access))
                })
            })
            .collect();
        all.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
        all
    }
}

fn method_index(method: &Method) -> Option<usize> {
    let method = if *method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    METHODS.iter().position(|m| m == method)
}
