use serde_json::{Value, json};

use crate::helpers::{assert_error, json_of, spawn_app};

#[tokio::test]
async fn the_originals_create_call_answers_201_with_the_user() {
    let app = spawn_app().await;
    let response = app
        .api
        .post(app.url("/users"))
        .json(&json!({"name": "Alice", "email": "alice@mail.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let (_, user) = json_of(response).await;
    assert_eq!(user["name"], "Alice");
    assert_eq!(user["email"], "alice@mail.com");
    assert_eq!(user["is_admin"], false);
    assert_eq!(user["version"], 1);
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());
    assert_eq!(location, format!("/users/{}", user["id"]));

    let (status, fetched) = app.get_json(&location).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, user);
}

#[tokio::test]
async fn a_form_encoded_body_is_read_and_answered_in_json() {
    let app = spawn_app().await;
    let response = app
        .api
        .post(app.url("/users"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Zo%C3%AB+B&email=zoe%40example.com&is_admin=false")
        .send()
        .await
        .unwrap();
    let (status, user) = json_of(response).await;
    assert_eq!(status, 201);
    assert_eq!(user["name"], "Zoë B");
}

#[tokio::test]
async fn validation_errors_name_every_bad_field() {
    let app = spawn_app().await;
    let response = app
        .api
        .post(app.url("/users"))
        .json(&json!({"name": "   ", "email": "not-an-email", "password": "short"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(response, 422).await;
    assert_eq!(body["error"], "validation failed");
    assert_eq!(body["fields"]["name"][0], "must not be empty");
    assert_eq!(body["fields"]["email"][0], "is not a valid email address");
    assert_eq!(
        body["fields"]["password"][0],
        "must be at least 8 characters"
    );

    let response = app
        .api
        .post(app.url("/users"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let body = assert_error(response, 422).await;
    assert_eq!(body["fields"]["name"][0], "is required");
    assert_eq!(body["fields"]["email"][0], "is required");

    let long_name = "n".repeat(101);
    let long_email = format!("{}@example.com", "e".repeat(110));
    let response = app
        .api
        .post(app.url("/users"))
        .json(&json!({"name": long_name, "email": long_email}))
        .send()
        .await
        .unwrap();
    let body = assert_error(response, 422).await;
    assert!(body["fields"]["name"][0].as_str().unwrap().contains("100"));
    assert!(body["fields"]["email"][0].as_str().unwrap().contains("120"));
    assert_no_users_but_the_admin(&app).await;
}

#[tokio::test]
async fn unknown_fields_and_wrong_types_are_422() {
    let app = spawn_app().await;
    for body in [
        json!({"name": "A", "email": "a@b.co", "role": "root"}),
        json!({"name": 5, "email": "a@b.co"}),
        json!({"name": "A", "email": "a@b.co", "is_admin": "yes"}),
        json!(["not", "an", "object"]),
    ] {
        let response = app
            .api
            .post(app.url("/users"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(response, 422).await;
    }
    assert_no_users_but_the_admin(&app).await;
}

#[tokio::test]
async fn malformed_bodies_are_400_and_other_media_types_415() {
    let app = spawn_app().await;
    for raw in [
        &b"{\"name\": "[..],
        b"not json",
        b"{\"name\":\"\xff\xfe\",\"email\":\"a@b.co\"}",
    ] {
        let response = app
            .api
            .post(app.url("/users"))
            .header("content-type", "application/json")
            .body(raw.to_vec())
            .send()
            .await
            .unwrap();
        assert_error(response, 400).await;
    }
    let response = app
        .api
        .post(app.url("/users"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=%FF%FE&email=a%40b.co")
        .send()
        .await
        .unwrap();
    assert_error(response, 400).await;
    for content_type in [Some("text/plain"), Some("application/xml"), None] {
        let mut request = app
            .api
            .post(app.url("/users"))
            .body(r#"{"name":"A","email":"a@b.co"}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        assert_error(request.send().await.unwrap(), 415).await;
    }
    assert_no_users_but_the_admin(&app).await;
}

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let app = spawn_app().await;
    let big = json!({"name": "A", "email": "a@b.co", "password": "x".repeat(70 * 1024)});
    let response = app
        .api
        .post(app.url("/users"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_error(response, 413).await;
    // Also without a Content-Length (chunked), where the limit hits while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(b"{\"name\":\"".to_vec()), Ok(vec![b'a'; 70 * 1024])];
    let response = app
        .api
        .post(app.url("/users"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_error(response, 413).await;
    assert_no_users_but_the_admin(&app).await;
}

#[tokio::test]
async fn emails_are_unique_whatever_their_letter_case() {
    let app = spawn_app().await;
    app.create_user("Alice", "alice@mail.com").await;
    let response = app
        .api
        .post(app.url("/users"))
        .json(&json!({"name": "Other", "email": "  ALICE@Mail.COM "}))
        .send()
        .await
        .unwrap();
    let body = assert_error(response, 409).await;
    assert_eq!(body["error"], "a user with this email already exists");

    let bob = app.create_user("Bob", "bob@mail.com").await;
    let response = app
        .api
        .patch(app.url(&format!("/users/{}", bob["id"])))
        .json(&json!({"email": "Alice@mail.com"}))
        .send()
        .await
        .unwrap();
    assert_error(response, 409).await;
    let (_, unchanged) = app.get_json(&format!("/users/{}", bob["id"])).await;
    assert_eq!(unchanged["email"], "bob@mail.com");
    assert_eq!(unchanged["version"], 1);
}

#[tokio::test]
async fn text_round_trips_byte_for_byte() {
    let app = spawn_app().await;
    let names = [
        "Zoë 👩‍💻🚀",
        "שלום עולם مرحبا",
        "e\u{301}le\u{300}ve Ångström",
        "<script>alert(1)</script>",
        "Robert'); DROP TABLE users;--",
        "\"quoted\" & <b>bold</b> \\ back",
        "100% _under_ \\%",
    ];
    for (i, name) in names.iter().enumerate() {
        let email = format!("o'brien+{i}@exämple.com");
        let created = app.create_user(name, &email).await;
        assert_eq!(created["name"], *name);
        let (_, fetched) = app.get_json(&format!("/users/{}", created["id"])).await;
        assert_eq!(fetched["name"], *name);
        assert_eq!(fetched["email"], email);
        let stored: String = sqlx::query_scalar("select name from users where id = $1")
            .bind(created["id"].as_i64().unwrap())
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(stored.as_bytes(), name.as_bytes());
    }
    // Surrounding white space is trimmed; inner white space is kept.
    let user = app
        .create_user("  two  spaces  ", " spaced@example.com ")
        .await;
    assert_eq!(user["name"], "two  spaces");
    assert_eq!(user["email"], "spaced@example.com");
    // The users table survived the SQL-looking name.
    let (status, list) = app.get_json("/users?limit=1000").await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], names.len() + 2);
}

/// `/users/{id}` paths and their answer: ids that are well-formed but name no
/// user are a 404, ids that are not an i64 at all a 400.
const USER_ID_CASES: &[(&str, u16)] = &[
    ("/users/0", 404),
    ("/users/-1", 404),
    ("/users/-9223372036854775808", 404),
    ("/users/987654", 404),
    ("/users/abc", 400),
    ("/users/1.5", 400),
    ("/users/9223372036854775808", 400),
    ("/users/99999999999999999999999", 400),
    ("/users/%FF", 400),
    ("/users/1%20", 400),
];

#[tokio::test]
async fn ids_that_name_no_user_are_404_and_malformed_ids_400() {
    let app = spawn_app().await;
    for &(path, status) in USER_ID_CASES {
        // GET and DELETE, then a write with a body: PATCH where the id is
        // well-formed, PUT where it is not.
        let write = if status == 404 {
            reqwest::Method::PATCH
        } else {
            reqwest::Method::PUT
        };
        for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
            let response = app
                .api
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), status, "{method} {path}");
            assert_error(response, status).await;
        }
        let response = app
            .api
            .request(write.clone(), app.url(path))
            .json(&json!({"name": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{write} {path}");
        assert_error(response, status).await;
    }
}

#[tokio::test]
async fn put_and_patch_change_only_the_fields_sent() {
    let app = spawn_app().await;
    let user = app.create_user("Alice", "alice@mail.com").await;
    let path = format!("/users/{}", user["id"]);
    let response = app
        .api
        .patch(app.url(&path))
        .json(&json!({"name": "Alicia"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let (status, patched) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(patched["name"], "Alicia");
    assert_eq!(patched["email"], "alice@mail.com");
    assert_eq!(patched["version"], 2);
    assert_ne!(patched["updated_at"], user["updated_at"]);
    assert_eq!(patched["created_at"], user["created_at"]);

    let (status, put) = json_of(
        app.api
            .put(app.url(&path))
            .json(&json!({"email": "alicia@mail.com"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(put["name"], "Alicia");
    assert_eq!(put["email"], "alicia@mail.com");
    assert_eq!(put["version"], 3);

    let response = app
        .api
        .patch(app.url(&path))
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    let body = assert_error(response, 422).await;
    assert_eq!(body["fields"]["name"][0], "must not be empty");
    let (_, after) = app.get_json(&path).await;
    assert_eq!(after, put);
}

#[tokio::test]
async fn a_password_is_stored_hashed_and_never_returned() {
    let app = spawn_app().await;
    let response = app
        .api
        .post(app.url("/users"))
        .json(&json!({"name": "Pat", "email": "pat@example.com", "password": "long enough secret"}))
        .send()
        .await
        .unwrap();
    let (status, user) = json_of(response).await;
    assert_eq!(status, 201);
    assert!(!user.to_string().contains("long enough secret"));
    let hash: Option<String> = sqlx::query_scalar("select password_hash from users where id = $1")
        .bind(user["id"].as_i64().unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap();
    let hash = hash.expect("a hash is stored");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("long enough secret"));
}

#[tokio::test]
async fn if_match_guards_updates_and_deletes() {
    let app = spawn_app().await;
    let user = app.create_user("Alice", "alice@mail.com").await;
    let path = format!("/users/{}", user["id"]);

    for stale in ["\"7\"", "W/\"7\"", "\"garbage\"", "\"7\", \"8\""] {
        let response = app
            .api
            .patch(app.url(&path))
            .header("if-match", stale)
            .json(&json!({"name": "Mallory"}))
            .send()
            .await
            .unwrap();
        assert_error(response, 412).await;
    }
    let response = app
        .api
        .delete(app.url(&path))
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_error(response, 412).await;
    let (_, unchanged) = app.get_json(&path).await;
    assert_eq!(unchanged, user, "nothing changed");

    let response = app
        .api
        .patch(app.url(&path))
        .header("if-match", "\"1\"")
        .json(&json!({"name": "Alicia"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The same If-Match a second time is now stale.
    let response = app
        .api
        .patch(app.url(&path))
        .header("if-match", "\"1\"")
        .json(&json!({"name": "Again"}))
        .send()
        .await
        .unwrap();
    assert_error(response, 412).await;
    let response = app
        .api
        .patch(app.url(&path))
        .header("if-match", "*")
        .json(&json!({"name": "Star"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .api
        .delete(app.url(&path))
        .header("if-match", "W/\"3\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn delete_removes_the_user() {
    let app = spawn_app().await;
    let user = app.create_user("Alice", "alice@mail.com").await;
    let path = format!("/users/{}", user["id"]);
    let (status, body) = json_of(app.api.delete(app.url(&path)).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(body["message"].as_str().unwrap().contains("deleted"));
    assert_error(app.api.get(app.url(&path)).send().await.unwrap(), 404).await;
    assert_error(app.api.delete(app.url(&path)).send().await.unwrap(), 404).await;
    // The email is free again.
    app.create_user("Alice again", "ALICE@mail.com").await;
}

#[tokio::test]
async fn the_last_admin_cannot_be_deleted_or_demoted() {
    let app = spawn_app().await;
    let path = format!("/users/{}", app.admin_id);
    let body = assert_error(app.api.delete(app.url(&path)).send().await.unwrap(), 409).await;
    assert_eq!(
        body["error"],
        "the last admin cannot be disabled, deleted or demoted: no other active admin with a password would be left to log in"
    );
    let response = app
        .api
        .patch(app.url(&path))
        .json(&json!({"is_admin": false}))
        .send()
        .await
        .unwrap();
    assert_error(response, 409).await;
    let (_, admin) = app.get_json(&path).await;
    assert_eq!(admin["is_admin"], true);
    assert_eq!(admin["version"], 1);

    // With a second admin who can log in, the first can be demoted; then the
    // second is the last. (One without a password would not count: see
    // hardening3_auth.)
    let (second_id, _) = app.second_admin_with_token().await;
    let response = app
        .api
        .patch(app.url(&format!("/users/{second_id}")))
        .json(&json!({"password": "second admin password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = app
        .api
        .patch(app.url(&path))
        .json(&json!({"is_admin": false}))
        .send()
        .await
        .unwrap();
    let (status, demoted): (u16, Value) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(demoted["is_admin"], false);
    // The first admin's token no longer works: it is not an admin now.
    assert_error(app.api.get(app.url("/users")).send().await.unwrap(), 401).await;
    let still_admin: bool = sqlx::query_scalar("select is_admin from users where id = $1")
        .bind(second_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(still_admin);
}

async fn assert_no_users_but_the_admin(app: &crate::helpers::TestApp) {
    let count: i64 = sqlx::query_scalar("select count(*) from users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1, "no user was stored");
}
