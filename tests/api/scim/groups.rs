//! Groups through SCIM (SPEC §14): Okta's and Entra's payloads replayed from
//! `tests/fixtures/scim/`, PATCH's member forms, filters and attribute
//! selection, versions, and the rules every actor meets (no escalation, the
//! last admin), for a token that may only provision.

use reqwest::{Client, Method};
use useradmin::domain::{GroupFields, GroupName, Permission, PermissionSet, RoleFields, RoleName};
use useradmin::write::{Actor, TokenGrant};

use super::*;

/// A fixture with the placeholders (`{{ada}}`, `{{group}}`, …) replaced.
fn fixture(path: &str, ids: &[(&str, &str)]) -> Value {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scim")
        .join(path);
    let text = std::fs::read_to_string(&file).unwrap();
    let text = ids.iter().fold(text, |text, (name, id)| {
        text.replace(&format!("{{{{{name}}}}}"), id)
    });
    assert!(!text.contains("{{"), "{path}: a placeholder is left");
    serde_json::from_str(&text).unwrap()
}

/// A user made through SCIM; its id.
async fn scim_user(app: &TestApp, email: &str, name: &str) -> String {
    let (status, created) = create(app, user(email, name)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn ada_grace_alan(app: &TestApp) -> [String; 3] {
    [
        scim_user(app, "ada@example.com", "Ada Lovelace").await,
        scim_user(app, "grace@example.com", "Grace Hopper").await,
        scim_user(app, "alan@example.com", "Alan Turing").await,
    ]
}

/// The member ids of a group resource, sorted.
fn members(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .unwrap_or_else(|| panic!("no members in {group}"))
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut ids: Vec<String> = ids.iter().map(|id| (*id).clone()).collect();
    ids.sort();
    ids
}

async fn patch_group(app: &TestApp, id: &str, body: Value) -> (u16, Value) {
    send(app, Method::PATCH, &format!("/scim/v2/Groups/{id}"), body).await
}

async fn get_group(app: &TestApp, id: &str) -> (u16, Value) {
    get(app, &format!("/scim/v2/Groups/{id}")).await
}

async fn new_group(app: &TestApp, body: Value) -> String {
    let (status, created) = send(app, Method::POST, "/scim/v2/Groups", body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// A client sending this bearer token.
fn bearer(token: &str) -> Client {
    let mut headers = header::HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    Client::builder().default_headers(headers).build().unwrap()
}

async fn send_as(
    client: &Client,
    app: &TestApp,
    method: Method,
    path: &str,
    body: Value,
) -> (u16, Value) {
    scim_of(
        client
            .request(method, app.url(path))
            .header(header::CONTENT_TYPE, MEDIA)
            .body(body.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn okta_pushes_a_group_with_its_full_member_list_and_renames_it() {
    let app = spawn_app().await;
    let [ada, grace, _] = ada_grace_alan(&app).await;

    let response = send_raw(
        &app,
        Method::POST,
        "/scim/v2/Groups",
        &fixture("okta/create_group.json", &[]),
    )
    .await;
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.headers()[header::ETAG], "W/\"1\"");
    let (status, created) = scim_of(response).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Group"])
    );
    assert_eq!(created["displayName"], "Engineering");
    assert_eq!(created["members"], json!([]));
    assert_eq!(created["meta"]["resourceType"], "Group");
    assert_eq!(created["meta"]["version"], "W/\"1\"");
    assert_eq!(location, format!("/scim/v2/Groups/{id}"));
    assert_eq!(created["meta"]["location"], location);

    // PUT with the full member list, as Okta sends it.
    let ids = [("group", id.as_str()), ("ada", &ada), ("grace", &grace)];
    let (status, put) = send(
        &app,
        Method::PUT,
        &location,
        fixture("okta/put_group_members.json", &ids),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(members(&put), sorted(&[&ada, &grace]));
    let ada_member = put["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["value"] == ada.as_str())
        .unwrap();
    assert_eq!(ada_member["$ref"], format!("/scim/v2/Users/{ada}"));
    assert_eq!(ada_member["display"], "ada@example.com");
    assert_eq!(ada_member["type"], "User");

    // The same group on the service's own side: the users are its members.
    let (_, listed) = app.get_json(&format!("/users?group={id}")).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2, "{listed}");

    let (status, renamed) = patch_group(
        &app,
        &id,
        fixture("okta/patch_replace_display_name.json", &ids),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["displayName"], "Engineering (all)");
    assert_eq!(members(&renamed), sorted(&[&ada, &grace]), "members stay");

    // Okta's removal of one member by a value path removes that one only.
    let (status, removed) =
        patch_group(&app, &id, fixture("okta/patch_remove_member.json", &ids)).await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(members(&removed), [grace.as_str()]);
    let (_, read) = get_group(&app, &id).await;
    assert_eq!(members(&read), [grace.as_str()], "it was really removed");

    // Audited as SCIM.
    let via: Vec<String> =
        sqlx::query_scalar("select via from audit_events where action like 'group.%' order by id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(
        !via.is_empty() && via.iter().all(|v| v == "scim"),
        "{via:?}"
    );
}

#[tokio::test]
async fn entra_adds_members_removes_only_those_listed_renames_and_finds_the_group() {
    let app = spawn_app().await;
    let [ada, grace, alan] = ada_grace_alan(&app).await;
    let (status, created) = send(
        &app,
        Method::POST,
        "/scim/v2/Groups",
        fixture("entra/create_group.json", &[]),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["externalId"],
        "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let ids = [("ada", ada.as_str()), ("grace", &grace), ("alan", &alan)];

    let (status, added) =
        patch_group(&app, &id, fixture("entra/patch_add_members.json", &ids)).await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(members(&added), sorted(&[&ada, &grace, &alan]));

    // `Remove` with path `members` and a value list removes only those listed.
    let (status, removed) =
        patch_group(&app, &id, fixture("entra/patch_remove_members.json", &ids)).await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(members(&removed), sorted(&[&ada, &alan]));

    let (status, renamed) = patch_group(
        &app,
        &id,
        fixture("entra/patch_replace_display_name.json", &ids),
    )
    .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["displayName"], "Sales Europe");

    // Entra looks the group up by name (any letter case), without members.
    let query = fixture("entra/get_group_by_display_name.json", &[]);
    let path = format!(
        "/scim/v2/Groups?filter={}&excludedAttributes={}",
        encoded(query["filter"].as_str().unwrap()),
        query["excludedAttributes"].as_str().unwrap()
    );
    let (status, found) = get(&app, &path).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["totalResults"], 1);
    let group = &found["Resources"][0];
    assert_eq!(group["id"], id.as_str());
    assert_eq!(group["displayName"], "Sales Europe");
    assert!(group.get("members").is_none(), "{group}");
    assert_eq!(
        members(&get_group(&app, &id).await.1),
        sorted(&[&ada, &alan])
    );
}

#[tokio::test]
async fn patch_takes_every_member_form_and_op_names_in_any_case() {
    let app = spawn_app().await;
    let [ada, grace, alan] = ada_grace_alan(&app).await;
    let id = new_group(
        &app,
        json!({"displayName": "Ops", "members": [{"value": ada}, {"value": grace}]}),
    )
    .await;
    let (status, body) = patch_group(
        &app,
        &id,
        patch_op(json!([{"op": "ADD", "path": "members", "value": [{"value": alan}]}])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(members(&body), sorted(&[&ada, &grace, &alan]));

    // `Replace` of members is the full new list.
    let (_, body) = patch_group(
        &app,
        &id,
        patch_op(json!([{"op": "Replace", "path": "members", "value": [{"value": grace}]}])),
    )
    .await;
    assert_eq!(members(&body), [grace.as_str()]);

    // Names and external ids, with a path or in a value object.
    let (status, body) = patch_group(
        &app,
        &id,
        patch_op(json!([
            {"op": "replace", "value": {"displayName": "Operations", "externalId": "ops-1"}},
            {"op": "Add", "path": "members", "value": [{"value": ada}]}
        ])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayName"], "Operations");
    assert_eq!(body["externalId"], "ops-1");
    assert_eq!(members(&body), sorted(&[&ada, &grace]));
    let (_, body) = patch_group(
        &app,
        &id,
        patch_op(json!([{"op": "Remove", "path": "externalId"}])),
    )
    .await;
    assert!(body.get("externalId").is_none(), "{body}");

    // `remove` of `members` without a value removes every member.
    let (status, body) = patch_group(
        &app,
        &id,
        patch_op(json!([{"op": "remove", "path": "members"}])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["members"], json!([]));
}

#[tokio::test]
async fn refused_values_change_nothing() {
    let app = spawn_app().await;
    let [ada, _, _] = ada_grace_alan(&app).await;
    let id = new_group(&app, json!({"displayName": "Finance", "externalId": "fin"})).await;

    // A member value that is no user's id: 400 naming it, nothing changes.
    let (status, body) = patch_group(
        &app,
        &id,
        patch_op(json!([
            {"op": "replace", "path": "displayName", "value": "Renamed"},
            {"op": "add", "path": "members", "value": [{"value": ada}, {"value": "999999"}]}
        ])),
    )
    .await;
    assert_refused(status, &body, "invalidValue", "999999");
    let (status, body) = patch_group(
        &app,
        &id,
        patch_op(json!([{"op": "add", "path": "members", "value": [{"value": "not-an-id"}]}])),
    )
    .await;
    assert_refused(status, &body, "invalidValue", "not-an-id");
    let (_, read) = get_group(&app, &id).await;
    assert_eq!(read["displayName"], "Finance");
    assert_eq!(read["members"], json!([]));
    assert_eq!(read["meta"]["version"], "W/\"1\"", "nothing was written");

    // A group's roles are not SCIM's.
    let (status, body) = patch_group(
        &app,
        &id,
        patch_op(json!([{"op": "add", "path": "roles", "value": ["admin"]}])),
    )
    .await;
    assert_refused(status, &body, "mutability", "roles");
    let (status, body) = send(
        &app,
        Method::POST,
        "/scim/v2/Groups",
        json!({"displayName": "Admins", "roles": ["admin"]}),
    )
    .await;
    assert_refused(status, &body, "mutability", "roles");

    // displayName is required; names and external ids are unique.
    let (status, body) = send(
        &app,
        Method::POST,
        "/scim/v2/Groups",
        json!({"members": []}),
    )
    .await;
    assert_refused(status, &body, "invalidValue", "displayName");
    let (status, body) = send(
        &app,
        Method::POST,
        "/scim/v2/Groups",
        json!({"displayName": "FINANCE"}),
    )
    .await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
    let (status, body) = send(
        &app,
        Method::POST,
        "/scim/v2/Groups",
        json!({"displayName": "Other", "externalId": "fin"}),
    )
    .await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
    let (status, body) = get_group(&app, "abc").await;
    assert_scim_error(status, &body, 404, None);
}

#[tokio::test]
async fn groups_are_filtered_paged_and_projected() {
    let app = spawn_app().await;
    let [ada, grace, _] = ada_grace_alan(&app).await;
    new_group(
        &app,
        json!({"displayName": "Alpha", "externalId": "ext-A", "members": [{"value": ada}]}),
    )
    .await;
    new_group(
        &app,
        json!({"displayName": "Beta", "members": [{"value": ada}, {"value": grace}]}),
    )
    .await;
    new_group(&app, json!({"displayName": "Gamma"})).await;
    let names = async |filter: &str| -> Vec<String> {
        let (status, page) =
            get(&app, &format!("/scim/v2/Groups?filter={}", encoded(filter))).await;
        assert_eq!(status, 200, "{filter}: {page}");
        page["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["displayName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names("displayName eq \"BETA\"").await, ["Beta"]);
    assert_eq!(names("externalId eq \"ext-A\"").await, ["Alpha"]);
    assert!(
        names("externalId eq \"EXT-A\"").await.is_empty(),
        "caseExact"
    );
    assert_eq!(
        names(&format!("members[value eq \"{ada}\"]")).await,
        ["Alpha", "Beta"]
    );
    assert_eq!(
        names(&format!("members[value eq \"{grace}\"]")).await,
        ["Beta"]
    );
    assert_eq!(
        names(&format!(
            "displayName eq \"alpha\" and members[value eq \"{ada}\"]"
        ))
        .await,
        ["Alpha"]
    );
    assert!(names("members[value eq \"nobody\"]").await.is_empty());
    for bad in [
        "displayName co \"a\"",
        "userName eq \"x\"",
        "displayName eq",
    ] {
        let (status, body) = get(&app, &format!("/scim/v2/Groups?filter={}", encoded(bad))).await;
        assert_scim_error(status, &body, 400, Some("invalidFilter"));
    }

    let (_, page) = get(&app, "/scim/v2/Groups?startIndex=2&count=1").await;
    assert_eq!(page["totalResults"], 3);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 1);
    assert_eq!(page["Resources"][0]["displayName"], "Beta");
    assert_eq!(members(&page["Resources"][0]), sorted(&[&ada, &grace]));

    let (_, page) = get(&app, "/scim/v2/Groups?excludedAttributes=members").await;
    assert!(
        page["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g.get("members").is_none())
    );
    let (_, page) = get(&app, "/scim/v2/Groups?attributes=displayName&count=1").await;
    let first = page["Resources"][0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["displayName", "id", "schemas"]);

    // A search across types: users first, then groups.
    let (status, found) = send(
        &app,
        Method::POST,
        "/scim/v2/.search",
        json!({"filter": format!("members[value eq \"{grace}\"]")}),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["totalResults"], 1);
    assert_eq!(found["Resources"][0]["displayName"], "Beta");
    let (_, all) = send(&app, Method::POST, "/scim/v2/.search", json!({})).await;
    assert_eq!(
        all["totalResults"],
        3 + 3 + 1,
        "users (the admin too) and groups"
    );
}

#[tokio::test]
async fn a_member_change_moves_the_version_and_if_match_guards_it() {
    let app = spawn_app().await;
    let [ada, _, _] = ada_grace_alan(&app).await;
    let id = new_group(&app, json!({"displayName": "Support"})).await;
    let response = app
        .api
        .get(app.url(&format!("/scim/v2/Groups/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::ETAG], "W/\"1\"");
    let (status, body) = patch_group(
        &app,
        &id,
        patch_op(json!([{"op": "add", "path": "members", "value": [{"value": ada}]}])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let version = body["meta"]["version"].as_str().unwrap().to_owned();
    assert_ne!(
        version, "W/\"1\"",
        "a member change is a change of the group"
    );
    let response = app
        .api
        .get(app.url(&format!("/scim/v2/Groups/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::ETAG].to_str().unwrap(), version);

    // A stale If-Match: 412 and nothing changes; the current one: applied.
    let stale = app
        .api
        .patch(app.url(&format!("/scim/v2/Groups/{id}")))
        .header(header::CONTENT_TYPE, MEDIA)
        .header(header::IF_MATCH, "W/\"1\"")
        .body(patch_op(json!([{"op": "remove", "path": "members"}])).to_string())
        .send()
        .await
        .unwrap();
    let (status, body) = scim_of(stale).await;
    assert_scim_error(status, &body, 412, None);
    let unchanged = app
        .api
        .get(app.url(&format!("/scim/v2/Groups/{id}")))
        .header(header::IF_NONE_MATCH, &version)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    let current = app
        .api
        .delete(app.url(&format!("/scim/v2/Groups/{id}")))
        .header(header::IF_MATCH, &version)
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), 204);
    let (status, body) = get_group(&app, &id).await;
    assert_scim_error(status, &body, 404, None);
}

/// A user with a custom role of these permissions, and a token of theirs
/// scoped to them.
async fn holder_of(app: &TestApp, email: &str, permissions: &[Permission]) -> (i64, String) {
    let user = app.create_user("Holder", email).await;
    let id = user["id"].as_i64().unwrap();
    let cli = Actor::cli("tests");
    let role = RoleName::parse(email).unwrap();
    let scopes: PermissionSet = permissions.iter().copied().collect();
    let fields = RoleFields {
        name: Some(role.clone()),
        permissions: Some(scopes),
        ..RoleFields::default()
    };
    app.state.writer.create_role(&cli, &fields).await.unwrap();
    app.state.writer.grant_role(&cli, id, &role).await.unwrap();
    let grant = TokenGrant {
        scopes,
        lifetime_days: None,
    };
    let label = useradmin::domain::TokenLabel::parse("provisioning").unwrap();
    let token = app
        .state
        .writer
        .create_scoped_token(&cli, &label, id, &grant)
        .await
        .unwrap()
        .token;
    (id, token)
}

/// A group that carries the `admin` role, made as the command line makes it.
async fn admins_group(app: &TestApp) -> i64 {
    let fields = GroupFields {
        name: Some(GroupName::parse("Admins").unwrap()),
        roles: Some(vec![RoleName::parse("admin").unwrap()]),
        ..GroupFields::default()
    };
    app.state
        .writer
        .create_group_holding(&Actor::cli("tests"), PermissionSet::EMPTY, &fields)
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn a_provisioning_token_manages_groups_but_cannot_confer_what_its_owner_lacks() {
    let app = spawn_app().await;
    let [ada, _, _] = ada_grace_alan(&app).await;
    let (_, token) = holder_of(&app, "idp@example.com", &[Permission::ScimProvision]).await;
    let idp = bearer(&token);

    // Groups without roles: hers to manage.
    let (status, created) = send_as(
        &idp,
        &app,
        Method::POST,
        "/scim/v2/Groups",
        json!({"displayName": "Readers", "members": [{"value": ada}]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = send_as(&idp, &app, Method::GET, "/scim/v2/Groups", json!({})).await;
    assert_eq!(status, 200);
    // …and nothing else of the API.
    let users = idp.get(app.url("/users")).send().await.unwrap();
    assert_eq!(users.status(), 403);

    // A group that carries admin: adding a member would confer what she lacks.
    let admins = admins_group(&app).await;
    let path = format!("/scim/v2/Groups/{admins}");
    let add = patch_op(json!([{"op": "Add", "path": "members", "value": [{"value": ada}]}]));
    let (status, body) = send_as(&idp, &app, Method::PATCH, &path, add).await;
    assert_scim_error(status, &body, 403, None);
    let put = json!({"displayName": "Admins", "members": [{"value": ada}]});
    let (status, body) = send_as(&idp, &app, Method::PUT, &path, put).await;
    assert_scim_error(status, &body, 403, None);
    let (_, read) = get_group(&app, &admins.to_string()).await;
    assert_eq!(read["members"], json!([]), "unchanged");
    assert_eq!(read["displayName"], "Admins");
    let (_, user) = app.get_json(&format!("/users/{ada}")).await;
    assert_eq!(user["is_admin"], false);

    // The admin's own token may.
    let (status, body) = send(
        &app,
        Method::PATCH,
        &path,
        patch_op(json!([
            {"op": "Add", "path": "members", "value": [{"value": ada}]}
        ])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_last_admin_cannot_be_removed_through_a_group() {
    let app = spawn_app().await;
    let admins = admins_group(&app).await;
    let admin = app.admin_id.to_string();
    let (status, body) = patch_group(
        &app,
        &admins.to_string(),
        patch_op(json!([{"op": "add", "path": "members", "value": [{"value": admin}]}])),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The first admin now holds admin only through the group.
    let cli = Actor::cli("tests");
    let direct = RoleName::parse("admin").unwrap();
    assert!(
        app.state
            .writer
            .revoke_role(&cli, app.admin_id, &direct)
            .await
            .unwrap()
    );

    let path = format!("/scim/v2/Groups/{admins}");
    let remove =
        patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{admin}\"]")}]));
    let (status, body) = send(&app, Method::PATCH, &path, remove).await;
    assert_scim_error(status, &body, 409, None);
    let put = json!({"displayName": "Admins", "members": []});
    let (status, body) = send(&app, Method::PUT, &path, put).await;
    assert_scim_error(status, &body, 409, None);
    let deleted = app.api.delete(app.url(&path)).send().await.unwrap();
    let (status, body) = scim_of(deleted).await;
    assert_scim_error(status, &body, 409, None);
    let (_, read) = get_group(&app, &admins.to_string()).await;
    assert_eq!(members(&read), [admin]);
}
