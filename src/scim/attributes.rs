//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5): which attributes
//! of a resource are returned. `id` and `schemas` are always returned.

use serde_json::{Map, Value};

use crate::domain::scim_filter::{strip_group_schema, strip_schema};

/// Always returned, whatever is asked.
const ALWAYS: [&str; 2] = ["id", "schemas"];

/// A list of attribute paths, as given (comma separated, any letter case,
/// optionally with the schema's URN).
#[derive(Debug, Clone, Default)]
pub struct Projection {
    include: Vec<(String, Option<String>)>,
    exclude: Vec<(String, Option<String>)>,
}

fn paths(list: &[String]) -> Vec<(String, Option<String>)> {
    list.iter()
        .flat_map(|item| item.split(','))
        .map(|path| strip_group_schema(strip_schema(path.trim())).to_ascii_lowercase())
        .filter(|path| !path.is_empty())
        .map(|path| match path.split_once('.') {
            Some((top, sub)) => (top.to_owned(), Some(sub.to_owned())),
            None => (path, None),
        })
        .collect()
}

impl Projection {
    pub fn new(attributes: &[String], excluded: &[String]) -> Self {
        Self {
            include: paths(attributes),
            exclude: paths(excluded),
        }
    }

    /// Whether the top-level `attribute` (lower case) is left out whole:
    /// excluded, or not among the attributes asked for.
    pub fn excludes(&self, attribute: &str) -> bool {
        let excluded = self
            .exclude
            .iter()
            .any(|(top, sub)| top == attribute && sub.is_none());
        let asked = self.include.iter().any(|(top, _)| top == attribute);
        excluded || (!self.include.is_empty() && !asked)
    }

    pub fn is_everything(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Keeps, in a serialised resource, what was asked for.
    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(object) = resource else {
            return resource;
        };
        let mut kept = Map::new();
        for (key, value) in object {
            let lower = key.to_ascii_lowercase();
            if ALWAYS.contains(&lower.as_str()) {
                kept.insert(key, value);
                continue;
            }
            let value = if self.include.is_empty() {
                Some(value)
            } else {
                select(&self.include, &lower, value)
            };
            let value = value.and_then(|value| drop_excluded(&self.exclude, &lower, value));
            if let Some(value) = value {
                kept.insert(key, value);
            }
        }
        Value::Object(kept)
    }
}

/// The part of `value` (attribute `key`) that the include list names.
fn select(include: &[(String, Option<String>)], key: &str, value: Value) -> Option<Value> {
    let subs: Vec<&str> = include
        .iter()
        .filter(|(top, _)| top == key)
        .map(|(_, sub)| sub.as_deref().unwrap_or(""))
        .collect();
    if subs.is_empty() {
        return None;
    }
    if subs.contains(&"") {
        return Some(value);
    }
    Some(map_sub_attributes(value, &|sub| subs.contains(&sub)))
}

fn drop_excluded(exclude: &[(String, Option<String>)], key: &str, value: Value) -> Option<Value> {
    let subs: Vec<&str> = exclude
        .iter()
        .filter(|(top, _)| top == key)
        .map(|(_, sub)| sub.as_deref().unwrap_or(""))
        .collect();
    if subs.contains(&"") {
        return None;
    }
    if subs.is_empty() {
        return Some(value);
    }
    Some(map_sub_attributes(value, &|sub| !subs.contains(&sub)))
}

/// Keeps the sub-attributes `keep` accepts, in an object or in each object of
/// a list.
fn map_sub_attributes(value: Value, keep: &dyn Fn(&str) -> bool) -> Value {
    let filter_object = |object: Map<String, Value>| -> Map<String, Value> {
        object
            .into_iter()
            .filter(|(k, _)| keep(&k.to_ascii_lowercase()))
            .collect()
    };
    match value {
        Value::Object(object) => Value::Object(filter_object(object)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| match item {
                    Value::Object(object) => Value::Object(filter_object(object)),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> Value {
        json!({"schemas": ["s"], "id": "1", "userName": "a@example.com",
            "name": {"formatted": "A"}, "displayName": "A",
            "emails": [{"value": "a@example.com", "type": "work", "primary": true}],
            "active": true, "meta": {"version": "W/\"1\""}})
    }

    #[test]
    fn attributes_keep_only_what_is_named_and_the_id() {
        let kept = Projection::new(&["userName,emails.value".into()], &[]).apply(user());
        assert_eq!(
            kept,
            json!({"schemas": ["s"], "id": "1", "userName": "a@example.com",
                "emails": [{"value": "a@example.com"}]})
        );
    }

    #[test]
    fn excluded_attributes_drop_what_is_named_but_never_the_id() {
        let kept = Projection::new(
            &[],
            &[
                "urn:ietf:params:scim:schemas:core:2.0:User:displayName".into(),
                "id".into(),
                "name.formatted".into(),
            ],
        )
        .apply(user());
        assert!(kept.get("displayName").is_none());
        assert_eq!(kept["id"], "1");
        assert_eq!(kept["name"], json!({}));
        assert_eq!(kept["active"], true);
    }
}
