//! The admin pages over HTTP: forms, flashes, conflicts, escaping, headers.

use serde_json::json;

use crate::helpers::{
    TestApp, UserForm, assert_redirect, assert_redirects_to, browser, csrf_in, spawn_app,
    submit_user_form,
};

async fn logged_in() -> (TestApp, reqwest::Client) {
    let app = spawn_app().await;
    let client = browser();
    app.log_in_as_admin(&client).await;
    (app, client)
}

#[tokio::test]
async fn creating_a_user_through_the_form() {
    let (app, client) = logged_in().await;
    let form = app.page(&client, "/users/new", 200).await;
    for label in [
        r#"<label for="name">"#,
        r#"<label for="email">"#,
        r#"<label for="password">"#,
    ] {
        assert!(form.contains(label), "{label}");
    }
    let csrf = csrf_in(&form);
    let response = submit_user_form(
        client.post(app.url("/users")),
        UserForm::new(&csrf, "  ", "not-an-email"),
    )
    .await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("must not be empty"));
    assert!(page.contains("is not a valid email address"));
    assert!(page.contains(r#"value="not-an-email""#), "input kept");
    assert!(page.contains(r#"aria-invalid="true""#));
    assert_eq!(app.user_count().await, 1);

    let response = submit_user_form(
        client.post(app.url("/users")),
        UserForm::new(&csrf, "Grace Hopper", "grace@example.com"),
    )
    .await;
    let location = assert_redirect(&response);
    let detail = app.page(&client, &location, 200).await;
    assert!(detail.contains("Created Grace Hopper."));
    assert!(detail.contains("grace@example.com"));

    // The same email again, in another case: 409 with the error beside the field.
    let response = submit_user_form(
        client.post(app.url("/users")),
        UserForm::new(&csrf, "Grace 2", "GRACE@example.com"),
    )
    .await;
    assert_eq!(response.status(), 409);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("is already used by another user")
    );
}

#[tokio::test]
async fn the_list_page_searches_sorts_and_pages() {
    let (app, client) = logged_in().await;
    app.seed_users(60).await;
    let page = app.page(&client, "/users", 200).await;
    assert!(page.contains("61 users"));
    assert!(page.contains(r#"href="/users/new""#));
    assert!(page.contains(r#"rel="next""#));
    assert!(!page.contains(r#"rel="prev""#));
    assert!(page.contains(r#"aria-sort="ascending""#));

    let next = extract_href(&page, "rel=\"next\"");
    let second = app.page(&client, &next, 200).await;
    assert!(second.contains("user 0050"), "{next}: {second}");
    let prev = extract_href(&second, "rel=\"prev\"");
    let first_again = app.page(&client, &prev, 200).await;
    assert!(first_again.contains("user 0001") && !first_again.contains("user 0050"));

    let sorted = app.page(&client, "/users?sort=-name", 200).await;
    let a = sorted.find("user 0060").unwrap();
    let b = sorted.find("user 0059").unwrap();
    assert!(a < b, "descending by name");
    assert!(
        sorted.contains(r#"href="/users?sort=name""#),
        "a click turns the order around"
    );

    let found = app.page(&client, "/users?q=user+0042", 200).await;
    assert!(found.contains("1 user matching"));
    assert!(found.contains("user42@example.com"));
    let none = app.page(&client, "/users?q=zzz", 200).await;
    assert!(none.contains("No user matches"));

    let bad = app.page(&client, "/users?limit=5000", 400).await;
    assert!(bad.contains("Limit must be an integer"));
}

#[tokio::test]
async fn the_list_page_filters_with_plain_dates_and_offers_bulk_actions() {
    let (app, client) = logged_in().await;
    app.seed_users(3).await;
    let page = app
        .page(
            &client,
            "/users?sort=-name&is_admin=false&created_after=2000-01-01&last_login_before=2999-12-31",
            200,
        )
        .await;
    assert!(page.contains("3 users (filtered)"), "{page}");
    assert!(!page.contains("admin@example.com"));
    // The filter bar shows the filters as they were chosen, dates as dates.
    assert!(page.contains(r#"<option value="false" selected>User</option>"#));
    assert!(page.contains(r#"name="created_after" type="date" value="2000-01-01""#));
    assert!(page.contains(r#"name="last_login_before" type="date" value="2999-12-31""#));
    assert!(page.contains(r#"name="created_before" type="date" value="""#));
    // A search keeps them (exactly, as times), and so do the sort links.
    assert!(
        page.contains(r#"<input type="hidden" name="created_after" value="2000-01-01T00:00:00Z">"#)
    );
    let sort_link = extract_href(&page, ">Name");
    assert!(
        sort_link.contains("is_admin=false") && sort_link.contains("created_after=2000-01-01T00"),
        "{sort_link}"
    );
    assert!(page.contains(r#"href="/users?sort=-name">Clear filters</a>"#));
    // The bulk form: the CSRF token, and one labelled checkbox per row that
    // belongs to it.
    assert!(page.contains(r#"<form id="bulk" method="post" action="/users/bulk""#));
    assert!(page.contains(&format!(r#"name="csrf_token" value="{}""#, csrf_in(&page))));
    assert_eq!(page.matches(r#"name="id""#).count(), 3);
    assert_eq!(page.matches(r#"form="bulk""#).count(), 3);
    assert!(page.contains(">Select user 0001</label>"));
    assert!(page.contains(r#"href="/users/deleted""#));

    let none = app
        .page(&client, "/users?created_after=2999-01-01", 200)
        .await;
    assert!(none.contains("No user matches these filters"));
    assert!(!none.contains(r#"id="bulk""#));
    let bad = app
        .page(&client, "/users?created_after=2026-02-30", 400)
        .await;
    assert!(bad.contains("created_after must be"));
}

fn extract_href(page: &str, marker: &str) -> String {
    let at = page.find(marker).unwrap();
    let start = page[..at].rfind("href=\"").unwrap() + 6;
    let end = start + page[start..].find('"').unwrap();
    page[start..end].replace("&amp;", "&").replace("&#38;", "&")
}

#[tokio::test]
async fn editing_a_user_someone_else_changed_shows_a_conflict_and_overwrites_nothing() {
    let (app, client) = logged_in().await;
    let user = app.create_user("Ada", "ada@example.com").await;
    let path = format!("/users/{}", user["id"]);
    let form = app.page(&client, &format!("{path}/edit"), 200).await;
    assert!(form.contains(r#"name="version" value="1""#));
    let csrf = csrf_in(&form);

    // Meanwhile a script changes the user.
    app.api
        .patch(app.url(&path))
        .json(&json!({"name": "Ada Lovelace"}))
        .send()
        .await
        .unwrap();

    let typed = UserForm::new(&csrf, "Ada Byron", "ada@example.com");
    let response = submit_user_form(client.post(app.url(&path)), typed.version(1)).await;
    assert_eq!(response.status(), 409);
    let page = response.text().await.unwrap();
    assert!(page.contains("Someone else changed this user"));
    assert!(
        page.contains(r#"value="Ada Lovelace""#),
        "current values in the form"
    );
    assert!(page.contains(r#"name="version" value="2""#));
    assert!(page.contains("Ada Byron"), "what was typed is shown");
    let (_, current) = app.get_json(&path).await;
    assert_eq!(current["name"], "Ada Lovelace");

    // Saving again from the refreshed form works.
    let response = submit_user_form(client.post(app.url(&path)), typed.version(2)).await;
    assert_redirects_to(&response, &path);
    assert!(
        app.page(&client, &path, 200)
            .await
            .contains("Saved Ada Byron.")
    );
}

#[tokio::test]
async fn the_last_admin_rule_shows_on_the_form_and_the_delete_page() {
    let (app, client) = logged_in().await;
    let path = format!("/users/{}", app.admin_id);
    let csrf = app.csrf(&client).await;
    let response = submit_user_form(
        client.post(app.url(&path)),
        UserForm::new(&csrf, "Administrator", "admin@example.com").version(1),
    )
    .await;
    assert_eq!(response.status(), 409);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("the last admin cannot be disabled, deleted or demoted")
    );
    let response = client
        .post(app.url(&format!("{path}/delete")))
        .form(&[("csrf_token", csrf.as_str()), ("version", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("The last admin cannot be disabled, deleted or demoted")
    );
}

#[tokio::test]
async fn deleting_asks_for_confirmation_first() {
    let (app, client) = logged_in().await;
    let user = app.create_user("Temp", "temp@example.com").await;
    let path = format!("/users/{}", user["id"]);
    let page = app.page(&client, &format!("{path}/delete"), 200).await;
    assert!(page.contains("Delete Temp?"));
    assert!(page.contains("can be restored"));
    let response = client
        .post(app.url(&format!("{path}/delete")))
        .form(&[("csrf_token", csrf_in(&page).as_str()), ("version", "1")])
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/users");
    assert!(
        app.page(&client, "/users", 200)
            .await
            .contains("Deleted Temp (temp@example.com).")
    );
    app.page(&client, &path, 404).await;
}

#[tokio::test]
async fn names_and_emails_are_escaped_on_every_page() {
    let (app, client) = logged_in().await;
    let payloads = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "<svg/onload=alert(1)>",
        "' onmouseover='alert(1)",
    ];
    for (i, name) in payloads.iter().enumerate() {
        let user = app.create_user(name, &format!("x{i}@example.com")).await;
        let id = user["id"].as_i64().unwrap();
        for path in [
            "/users".to_owned(),
            format!("/users?q={}", urlencoding(name)),
            format!("/users/{id}"),
            format!("/users/{id}/edit"),
            format!("/users/{id}/delete"),
        ] {
            let page = app.page(&client, &path, 200).await;
            assert!(!page.contains(name), "{name} raw on {path}");
            assert!(
                !page.contains("<script>alert")
                    && !page.contains("<img src=x")
                    && !page.contains("<svg/onload")
            );
        }
    }
    let page = app.page(&client, "/users", 200).await;
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "shown as text"
    );
}

fn urlencoding(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn html_responses_carry_the_security_headers_and_are_not_cached() {
    let (app, client) = logged_in().await;
    for path in [
        "/users",
        "/users/new",
        "/tokens",
        "/account/password",
        "/nope",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
        assert_eq!(headers["cache-control"], "no-store");
    }
    let login = browser().get(app.url("/login")).send().await.unwrap();
    assert!(login.headers().contains_key("content-security-policy"));
    let page = login.text().await.unwrap();
    assert!(!page.contains("<script"), "no inline script");
}

#[tokio::test]
async fn error_pages_use_the_layout_and_show_the_request_id() {
    let (app, client) = logged_in().await;
    let response = client.get(app.url("/users/987654")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let page = response.text().await.unwrap();
    assert!(page.contains("404 · Not Found"));
    assert!(page.contains(&id), "the request id is on the page");
    assert!(page.contains("/static/app.css"));
    let page = app.page(&client, "/users/abc", 400).await;
    assert!(page.contains("User id must be a positive integer."));
}

#[tokio::test]
async fn static_files_have_types_validators_and_compression() {
    let app = spawn_app().await;
    let response = app
        .anonymous
        .get(app.url("/static/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/css");
    assert!(response.headers().contains_key("etag"));
    assert!(response.headers().contains_key("last-modified"));
    let etag = response.headers()["etag"].clone();
    let again = app
        .anonymous
        .get(app.url("/static/app.css"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let gzipped = app
        .anonymous
        .get(app.url("/static/vendor/pico/pico.min.css"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(
        app.anonymous
            .get(app.url("/static/nope.css"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn the_tokens_page_shows_a_new_token_once_and_revokes() {
    let (app, client) = logged_in().await;
    let page = app.page(&client, "/tokens", 200).await;
    let csrf = csrf_in(&page);
    let response = client
        .post(app.url("/tokens"))
        .form(&[("csrf_token", csrf.as_str()), ("label", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let response = client
        .post(app.url("/tokens"))
        .form(&[("csrf_token", csrf.as_str()), ("label", "backup job")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let page = response.text().await.unwrap();
    // The token as shown, whatever element holds it (it must work below).
    let start = page.find("ua_").expect("the new token is shown");
    let token = page[start..start + 46].to_owned();
    assert!(page.contains("shown only this once"));
    let listing = app.page(&client, "/tokens", 200).await;
    assert!(listing.contains("backup job"));
    assert!(!listing.contains(&token), "never shown again");

    let works = app
        .anonymous
        .get(app.url("/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(works.status(), 200);
    let (_, tokens) = app.get_json("/tokens").await;
    let entry = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["label"] == "backup job")
        .unwrap()
        .clone();
    assert!(!tokens.to_string().contains(&token));
    let response = client
        .post(app.url(&format!("/tokens/{}/revoke", entry["id"])))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_redirects_to(&response, "/tokens");
    assert!(app.page(&client, "/tokens", 200).await.contains("Revoked"));
    let refused = app
        .anonymous
        .get(app.url("/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}
