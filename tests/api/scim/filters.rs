//! Filters as the RFC says, paging, sorting and attribute selection, and filters
//! that are hostile, malformed, control characters or too large.

use std::time::{Duration, Instant};

use super::*;

#[tokio::test]
async fn filters_match_as_the_rfc_says() {
    let app = spawn_app().await;
    for (email, name, external) in [
        ("ada@example.com", "Ada Lovelace", Some("e-1")),
        ("bob@example.org", "Bob Kahn", Some("e-2")),
        ("carol@example.com", "Carol Shaw", None),
    ] {
        let mut body = user(email, name);
        if let Some(external) = external {
            body["externalId"] = json!(external);
        }
        assert_eq!(create(&app, body).await.0, 201);
    }
    let (_, carol) = get(
        &app,
        "/scim/v2/Users?filter=userName%20eq%20%22carol@example.com%22",
    )
    .await;
    let carol_id = carol["Resources"][0]["id"].as_str().unwrap().to_owned();
    patch(
        &app,
        &carol_id,
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;

    let admin = "admin@example.com".to_owned();
    assert_eq!(
        found(&app, r#"userName eq "ADA@example.COM""#).await,
        ["ada@example.com"]
    );
    assert_eq!(
        found(&app, r#"emails.value ew ".org""#).await,
        ["bob@example.org"]
    );
    assert_eq!(
        found(&app, r#"externalId eq "e-2""#).await,
        ["bob@example.org"]
    );
    assert!(
        found(&app, r#"externalId eq "E-2""#).await.is_empty(),
        "externalId is case-exact"
    );
    assert_eq!(
        found(&app, r#"externalId pr and name.formatted co "love""#).await,
        ["ada@example.com"]
    );
    assert_eq!(found(&app, "active eq false").await, ["carol@example.com"]);
    assert_eq!(
        found(&app, r#"not (active eq false) and displayName sw "b""#).await,
        ["bob@example.org"]
    );
    assert_eq!(
        found(
            &app,
            r#"userName eq "ada@example.com" or userName eq "bob@example.org""#
        )
        .await,
        ["ada@example.com", "bob@example.org"]
    );
    assert_eq!(
        found(&app, r#"emails[type eq "work" and value co "carol"]"#).await,
        ["carol@example.com"]
    );
    assert_eq!(
        found(&app, r#"externalId ne "e-1""#).await,
        [
            admin.clone(),
            "bob@example.org".into(),
            "carol@example.com".into()
        ]
    );
    assert_eq!(
        found(&app, "meta.created gt \"2000-01-01T00:00:00Z\"")
            .await
            .len(),
        4
    );
    assert!(
        found(&app, "meta.lastModified lt \"2000-01-01T00:00:00Z\"")
            .await
            .is_empty()
    );
    assert_eq!(
        found(&app, &format!("id eq \"{carol_id}\"")).await,
        ["carol@example.com"]
    );
    assert!(found(&app, r#"id eq "not-a-number""#).await.is_empty());
}

/// Filters that are malformed, name an unknown attribute or nest too deep: each a
/// 400 invalidFilter. `{1000 nested parentheses}` and `{100 nested nots}` stand
/// for `userName pr` inside that many.
const MALFORMED_FILTERS: &[&str] = &[
    r#"userName eq "x' or 1=1 --"#,
    "userName eq x' or 1=1 --",
    r#"userName eq "a") or (1=1"#,
    "userName; drop table users",
    r#"password eq "x""#,
    r#"name.givenName eq "x""#,
    r#"active eq "true""#,
    r#"userName eq "\q""#,
    "((((",
    "{1000 nested parentheses}",
    "{100 nested nots}",
];

#[tokio::test]
async fn hostile_filters_are_refused_or_matched_literally() {
    let app = spawn_app().await;
    assert_eq!(
        create(&app, user("100%_sure@example.com", "Percent"))
            .await
            .0,
        201
    );
    assert_eq!(
        create(&app, user("slash@example.com", "Back\\slash"))
            .await
            .0,
        201
    );
    let before = app.user_count().await;

    // Quotes, wildcards and backslashes match only themselves.
    assert_eq!(
        found(&app, r#"userName co "%""#).await,
        ["100%_sure@example.com"]
    );
    assert_eq!(
        found(&app, r#"userName sw "100%_""#).await,
        ["100%_sure@example.com"]
    );
    assert!(found(&app, r#"userName co "_x""#).await.is_empty());
    assert_eq!(
        found(&app, r#"displayName co "\\""#).await,
        ["slash@example.com"]
    );
    assert!(
        found(&app, r#"userName eq "x' or '1'='1""#)
            .await
            .is_empty()
    );
    assert!(
        found(&app, r#"userName eq "\"; drop table users; --""#)
            .await
            .is_empty()
    );

    // Malformed, unknown or nested too deep: 400 invalidFilter, never a 500.
    let deep = format!("{}userName pr{}", "(".repeat(1000), ")".repeat(1000));
    let nots = format!("{}userName pr{}", "not (".repeat(100), ")".repeat(100));
    for case in MALFORMED_FILTERS {
        let filter = match *case {
            "{1000 nested parentheses}" => deep.as_str(),
            "{100 nested nots}" => nots.as_str(),
            filter => filter,
        };
        let response = app
            .api
            .get(app.url(&format!("/scim/v2/Users?filter={}", encoded(filter))))
            .send()
            .await
            .unwrap();
        let (status, body) = scim_of(response).await;
        assert_eq!(status, 400, "{case}: {body}");
        assert_scim_error(status, &body, 400, Some("invalidFilter"));
    }
    assert_eq!(app.user_count().await, before, "nothing was changed");
}

/// Filters with a NUL or another control character in a value (raw,
/// JSON-escaped, in a value path), and the attribute the refusal must name.
const CONTROL_CHARACTER_FILTERS: &[(&str, &str)] = &[
    ("userName eq \"a\u{0}b\"", "userName"),
    (r#"userName eq "a\u0000b""#, "userName"),
    (r#"externalId co "\u0001""#, "externalId"),
    (r#"displayName sw "x\u001f""#, "displayName"),
    (r#"emails[value eq "a\u0000@example.com"]"#, "value"),
    ("name.formatted ew \"\u{7}\"", "name.formatted"),
];

#[tokio::test]
async fn a_nul_or_control_character_in_a_filter_is_an_invalid_filter_naming_the_attribute() {
    let app = spawn_app().await;
    // In a filter value (the table), and in a .search body.
    for (filter, attribute) in CONTROL_CHARACTER_FILTERS {
        let (status, body) = list(&app, filter).await;
        assert_eq!(status, 400, "{filter:?}: {body}");
        assert_refused(status, &body, "invalidFilter", attribute);
    }
    let (status, body) = send(
        &app,
        Method::POST,
        "/scim/v2/Users/.search",
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
               "filter": "userName eq \"x\u{0}\""}),
    )
    .await;
    assert_refused(status, &body, "invalidFilter", "userName");
}

#[tokio::test]
async fn a_filter_holds_at_most_fifty_comparisons() {
    let app = spawn_app().await;
    let terms = |n: usize| {
        (0..n)
            .map(|i| format!("userName co \"needle-{i}\""))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let (status, page) = list(&app, &terms(50)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["totalResults"], 0);
    let (status, body) = list(&app, &terms(51)).await;
    assert_refused(status, &body, "invalidFilter", "50 comparisons");
    // `pr` and value paths count too.
    let mixed = format!("externalId pr and ({})", terms(50));
    let (status, body) = list(&app, &mixed).await;
    assert_refused(status, &body, "invalidFilter", "50 comparisons");
}

#[tokio::test]
async fn a_filter_of_150_terms_is_refused_without_touching_the_database() {
    let app = spawn_app_with(Options {
        env: vec![("DATABASE_MAX_CONNECTIONS", "4".into())],
        ..Options::default()
    })
    .await;
    // A first request authenticates the token (cached from then on).
    let (status, _) = list(&app, "userName pr").await;
    assert_eq!(status, 200);

    // Every connection of the pool is held here (those the service's own
    // listeners do not): a request that needs the database waits for one,
    // and gives up after the acquire timeout.
    let mut held = Vec::new();
    while let Ok(connection) =
        tokio::time::timeout(Duration::from_millis(500), app.db.acquire()).await
    {
        held.push(connection.unwrap());
    }
    assert!(!held.is_empty());
    let (status, body) = list(&app, "userName pr").await;
    assert_eq!(
        status, 503,
        "a request that needs the database waits: {body}"
    );
    let terms = (0..150)
        .map(|i| format!("userName co \"{i}\""))
        .collect::<Vec<_>>()
        .join(" or ");
    let started = Instant::now();
    let (status, body) = list(&app, &terms).await;
    let took = started.elapsed();
    drop(held);
    assert_refused(status, &body, "invalidFilter", "50 comparisons");
    assert!(
        took < Duration::from_secs(2),
        "the refusal waited for the database: {took:?}"
    );
}

#[tokio::test]
async fn paging_sorting_and_attribute_selection() {
    let app = spawn_app().await;
    for n in 1..=5 {
        let email = format!("user{n}@example.com");
        assert_eq!(
            create(&app, user(&email, &format!("User {n}"))).await.0,
            201
        );
    }
    let (status, page) = get(
        &app,
        "/scim/v2/Users?filter=userName%20sw%20%22user%22&startIndex=2&count=2&sortBy=name.formatted&sortOrder=descending",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    let names: Vec<&str> = page["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["User 4", "User 3"]);

    let (_, page) = get(&app, "/scim/v2/Users?count=0").await;
    assert_eq!(page["totalResults"], 6);
    assert_eq!(page["Resources"], json!([]));

    let (_, page) = get(
        &app,
        "/scim/v2/Users?attributes=userName,emails.value&count=1",
    )
    .await;
    let only = &page["Resources"][0];
    let mut keys: Vec<&str> = only
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["emails", "id", "schemas", "userName"]);
    assert_eq!(only["emails"][0].as_object().unwrap().len(), 1);

    let (_, page) = get(
        &app,
        "/scim/v2/Users?excludedAttributes=meta,emails&count=1",
    )
    .await;
    let only = &page["Resources"][0];
    assert!(only.get("meta").is_none() && only.get("emails").is_none());
    assert!(only.get("userName").is_some());

    // POST /Users/.search takes the same in a body.
    let (status, page) = send(
        &app,
        reqwest::Method::POST,
        "/scim/v2/Users/.search",
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
               "filter": "userName eq \"user5@example.com\"", "attributes": ["displayName"]}),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["totalResults"], 1);
    assert_eq!(page["Resources"][0]["displayName"], "User 5");
    assert!(page["Resources"][0].get("userName").is_none());

    for bad in [
        "sortBy=password",
        "sortOrder=sideways",
        "count=many",
        "startIndex=x",
    ] {
        let (status, body) = get(&app, &format!("/scim/v2/Users?{bad}")).await;
        assert_scim_error(status, &body, 400, Some("invalidValue"));
    }
}

/// A small, seeded generator: the same cases on every run.
struct Cases(u64);

impl Cases {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

#[tokio::test]
async fn random_filters_and_patches_never_fail_the_server() {
    let app = spawn_app().await;
    let (_, created) = create(&app, user("target@example.com", "Target")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let pieces = [
        "userName",
        "emails",
        "emails.value",
        "externalId",
        "active",
        "meta.created",
        "id",
        "name.formatted",
        "displayName",
        "eq",
        "ne",
        "co",
        "sw",
        "ew",
        "pr",
        "gt",
        "le",
        "and",
        "or",
        "not",
        "(",
        ")",
        "[",
        "]",
        "\"x\"",
        "\"%\"",
        "\"\\\\\"",
        "\"'\"",
        "true",
        "false",
        "null",
        "42",
        "\"2024-01-01T00:00:00Z\"",
        "\"",
        "\\",
        "type",
        "value",
        "primary",
        ".",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        "\u{0}",
        "é",
        "😀",
    ];
    let mut cases = Cases(0x5c1a_2026);
    for _ in 0..300 {
        let length = 1 + cases.next() % 9;
        let filter: Vec<&str> = (0..length).map(|_| cases.pick(&pieces)).collect();
        let filter = filter.join(" ");
        let response = app
            .api
            .get(app.url(&format!("/scim/v2/Users?filter={}", encoded(&filter))))
            .send()
            .await
            .unwrap();
        let (status, body) = scim_of(response).await;
        assert!(
            status == 200 || status == 400,
            "{filter:?}: {status} {body}"
        );
        if status == 400 {
            assert_eq!(body["scimType"], "invalidFilter", "{filter:?}: {body}");
        }
    }
    let ops = ["add", "Replace", "remove", "move", ""];
    let paths = [
        "userName",
        "active",
        "emails[type eq \"work\"].value",
        "emails[",
        "name.givenName",
        "name",
        "externalId",
        "id",
        "meta.version",
        "phoneNumbers",
        "emails]",
        "",
    ];
    let values = [
        json!("x"),
        json!(""),
        json!(null),
        json!(true),
        json!("False"),
        json!(7),
        json!({"formatted": "F"}),
        json!([{"value": "v@example.com", "primary": true}]),
        json!(["a", 1]),
        json!({"active": "maybe"}),
        json!("new@example.com"),
    ];
    for _ in 0..200 {
        let operation = json!({
            "op": cases.pick(&ops),
            "path": cases.pick(&paths),
            "value": values[(cases.next() % values.len() as u64) as usize].clone(),
        });
        let (status, body) = patch(&app, &id, json!([operation])).await;
        assert!(
            status == 200 || status == 400 || status == 409,
            "{operation}: {status} {body}"
        );
    }
    let (status, _) = get(&app, &format!("/scim/v2/Users/{id}")).await;
    assert_eq!(status, 200, "the user is still there");
}
