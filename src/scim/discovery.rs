//! The discovery documents: `ServiceProviderConfig`, `ResourceTypes` and
//! `Schemas`. The three core schema definitions are RFC 7643 §8.7.2's (kept as
//! JSON beside this file); the User and Group schemas list what the service keeps.

use serde_json::{Value, json};

use super::{GROUP_SCHEMA, RESOURCE_TYPE_SCHEMA, USER_SCHEMA};

const SERVICE_PROVIDER_CONFIG: &str = include_str!("schemas/service_provider_config_resource.json");

/// The schema definitions, in the order `/Schemas` lists them.
const SCHEMAS: [&str; 5] = [
    include_str!("schemas/user.json"),
    include_str!("schemas/group.json"),
    include_str!("schemas/service_provider_config.json"),
    include_str!("schemas/resource_type.json"),
    include_str!("schemas/schema.json"),
];

fn parse(document: &str) -> Value {
    // The documents are part of the build and checked by a unit test.
    serde_json::from_str(document).unwrap_or(Value::Null)
}

fn with_meta(mut document: Value, resource_type: &str, location: String) -> Value {
    if let Value::Object(object) = &mut document {
        object.insert(
            "meta".into(),
            json!({"resourceType": resource_type, "location": location}),
        );
    }
    document
}

pub fn service_provider_config(base: &str) -> Value {
    with_meta(
        parse(SERVICE_PROVIDER_CONFIG),
        "ServiceProviderConfig",
        format!("{base}/ServiceProviderConfig"),
    )
}

pub fn resource_types(base: &str) -> Vec<Value> {
    [
        ("User", "/Users", "A user of useradmin", USER_SCHEMA),
        (
            "Group",
            "/Groups",
            "A group of useradmin's users",
            GROUP_SCHEMA,
        ),
    ]
    .into_iter()
    .map(|(id, endpoint, description, schema)| {
        with_meta(
            json!({
                "schemas": [RESOURCE_TYPE_SCHEMA],
                "id": id,
                "name": id,
                "endpoint": endpoint,
                "description": description,
                "schema": schema,
                "schemaExtensions": [],
            }),
            "ResourceType",
            format!("{base}/ResourceTypes/{id}"),
        )
    })
    .collect()
}

pub fn schemas(base: &str) -> Vec<Value> {
    SCHEMAS
        .iter()
        .map(|document| {
            let document = parse(document);
            let id = document["id"].as_str().unwrap_or_default().to_owned();
            with_meta(document, "Schema", format!("{base}/Schemas/{id}"))
        })
        .collect()
}

/// One schema by its URN (compared ignoring letter case).
pub fn schema(base: &str, id: &str) -> Option<Value> {
    schemas(base).into_iter().find(|schema| {
        schema["id"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(id))
    })
}

pub fn resource_type(base: &str, id: &str) -> Option<Value> {
    resource_types(base).into_iter().find(|rt| {
        rt["id"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_is_valid_json_with_an_id() {
        assert!(
            service_provider_config("b")["patch"]["supported"]
                .as_bool()
                .unwrap()
        );
        let schemas = schemas("b");
        assert_eq!(schemas.len(), 5);
        for schema in &schemas {
            assert!(
                schema["id"]
                    .as_str()
                    .unwrap()
                    .starts_with("urn:ietf:params:scim:schemas:core:2.0:")
            );
            assert!(
                schema["attributes"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
            );
        }
        assert_eq!(schema("b", USER_SCHEMA).unwrap()["name"], "User");
        assert_eq!(schema("b", GROUP_SCHEMA).unwrap()["name"], "Group");
        assert_eq!(resource_type("b", "group").unwrap()["endpoint"], "/Groups");
        assert!(resource_type("b", "Role").is_none());
    }
}
