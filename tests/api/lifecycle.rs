//! Account lifecycle: disable instead of delete, undo a delete, dormant admins,
//! list filters and bulk actions, and the last-admin rule counting only admins
//! who can log in.

use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn a_disabled_admin_is_locked_out_everywhere_at_once_and_enabling_gives_nothing_back() {
    let a = spawn_app().await;
    // A second instance of the same deployment.
    let b = spawn_app_with(Options {
        env: vec![("REDIS_KEY_PREFIX", a.key_prefix.clone())],
        database_name: Some(a.database_name.clone()),
    })
    .await;
    let (id, token) = a.second_admin_with_token().await;
    a.api
        .patch(a.url(&format!("/users/{id}")))
        .json(&json!({"password": "second password"}))
        .send()
        .await
        .unwrap();
    let session = browser();
    let response = b
        .log_in(&session, "second@example.com", "second password")
        .await;
    assert_redirects_to(&response, "/users");
    assert!(
        b.page(&session, "/users", 200)
            .await
            .contains("second@example.com")
    );
    let with_token = || {
        reqwest::Client::new()
            .get(b.url("/users"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(with_token().await.unwrap().status(), 200);

    let (status, user) = post_json(
        &a,
        &format!("/users/{id}/disable"),
        json!({"reason": "left the company"}),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["status"], "disabled");
    assert_eq!(user["disabled_reason"], "left the company");
    assert!(user["disabled_at"].is_string());

    // On the other instance, at once: the session and the token are dead, and
    // the password no longer logs in.
    let response = session.get(b.url("/users")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(with_token().await.unwrap().status(), 401);
    let response = b
        .log_in(&browser(), "second@example.com", "second password")
        .await;
    assert_eq!(response.status(), 401);

    // Enabling lets it log in again, but gives back neither session nor token.
    let (status, user) = post_json(&a, &format!("/users/{id}/enable"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(user["status"], "active");
    assert!(user["disabled_reason"].is_null() && user["disabled_at"].is_null());
    assert_eq!(with_token().await.unwrap().status(), 401);
    let response = session.get(b.url("/users")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let response = b
        .log_in(&browser(), "second@example.com", "second password")
        .await;
    assert_redirects_to(&response, "/users");

    // The same through PATCH, and the audit trail names both.
    let response = a
        .api
        .patch(a.url(&format!("/users/{id}")))
        .json(&json!({"status": "disabled", "disabled_reason": "on leave"}))
        .send()
        .await
        .unwrap();
    let (status, user) = json_of(response).await;
    assert_eq!(status, 200);
    assert_eq!(user["status"], "disabled");
    let (_, trail) = a
        .get_json(&format!("/audit?subject=user:{id}&action=user."))
        .await;
    let actions: Vec<&str> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions[..3],
        ["user.disabled", "user.enabled", "user.disabled"]
    );
    // Bad values are refused.
    let response = a
        .api
        .patch(a.url(&format!("/users/{id}")))
        .json(&json!({"status": "asleep"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(response, 422).await;
    assert!(body["fields"]["status"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_disables_of_the_last_two_active_admins_leave_one() {
    let app = spawn_app().await;
    let (second, _) = app.second_admin_with_token().await;
    let attempts = (0..20).map(|i| {
        let id = if i % 2 == 0 { app.admin_id } else { second };
        let request = app
            .api
            .post(app.url(&format!("/users/{id}/disable")))
            .json(&json!({"reason": "race"}));
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(attempts).await;
    // On a loaded machine a request may wait out its time in the queue for the
    // admin rows: that is a 503 to try again, never a 500.
    assert!(
        statuses.iter().all(|s| [200, 401, 409, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    let active: i64 = sqlx::query_scalar(
        "select count(*) from users where is_admin and status = 'active' and deleted_at is null",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(active, 1, "{statuses:?}");
    // And the last one cannot be disabled, or deleted.
    let last: i64 = sqlx::query_scalar(
        "select id from users where is_admin and status = 'active' and deleted_at is null",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let token = app.token_for(last, "last").await;
    let response = reqwest::Client::new()
        .post(app.url(&format!("/users/{last}/disable")))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let body = assert_error(response, 409).await;
    // The refusal names what was asked: disabling, not only deleting.
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("the last admin cannot be disabled"),
        "{body}"
    );
}

#[tokio::test]
async fn a_deleted_user_leaves_every_list_frees_its_email_and_can_be_restored_once() {
    let app = spawn_app().await;
    let user = app.create_user("Ada", "ada@example.com").await;
    let id = user["id"].as_i64().unwrap();
    let before = app.get_json("/users").await.1["total"].as_i64().unwrap();
    let response = app
        .api
        .delete(app.url(&format!("/users/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Gone from the contract's view...
    assert_eq!(app.get_json(&format!("/users/{id}")).await.0, 404);
    let (_, list) = app.get_json("/users").await;
    assert!(!ids_of(&list).contains(&id));
    assert_eq!(list["total"], before - 1);
    // ...but listed among the deleted.
    let (status, deleted) = app.get_json("/users/deleted?q=ada").await;
    assert_eq!(status, 200);
    assert_eq!(ids_of(&deleted), [id]);
    assert!(deleted["data"][0]["deleted_at"].is_string());
    assert_eq!(deleted["total"], 1);

    // Restoring a user that is not deleted is a conflict; an unknown one 404.
    let other = app.create_user("Bob", "bob@example.com").await;
    let (status, _) = post_json(&app, &format!("/users/{}/restore", other["id"]), json!({})).await;
    assert_eq!(status, 409);
    assert_eq!(
        post_json(&app, "/users/999999/restore", json!({})).await.0,
        404
    );

    // The email is free: someone else takes it, and the restore conflicts.
    let taker = app.create_user("Ada Two", "ADA@example.com").await;
    let (status, body) = post_json(&app, &format!("/users/{id}/restore"), json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("email"));
    // Once the email is free again, the restore works.
    app.api
        .patch(app.url(&format!("/users/{}", taker["id"])))
        .json(&json!({"email": "ada.two@example.com"}))
        .send()
        .await
        .unwrap();
    let (status, restored) = post_json(&app, &format!("/users/{id}/restore"), json!({})).await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(restored["email"], "ada@example.com");
    assert_eq!(app.get_json(&format!("/users/{id}")).await.0, 200);
    assert_eq!(app.get_json("/users").await.1["total"], before + 2);
}

#[tokio::test]
async fn a_purge_erases_the_user_and_its_name_and_email_from_the_trail() {
    let app = spawn_app().await;
    let user = app
        .create_user("Erasable Person", "erasable@example.com")
        .await;
    let id = user["id"].as_i64().unwrap();
    app.api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"name": "Erasable P. Person"}))
        .send()
        .await
        .unwrap();
    let response = app
        .api
        .delete(app.url(&format!("/users/{id}?purge=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let exists: bool = sqlx::query_scalar("select exists (select 1 from users where id = $1)")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!exists, "the row is gone");
    assert_eq!(app.get_json("/users/deleted").await.1["total"], 0);
    let (_, trail) = app.get_json(&format!("/audit?subject=user:{id}")).await;
    let text = trail.to_string();
    assert!(!text.contains("Erasable"), "{text}");
    assert!(!text.contains("erasable@example.com"), "{text}");
    assert!(text.contains("erased"));
    let actions: Vec<&str> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.purged", "user.updated", "user.created"]);
    // A bad purge value is a 400, and the last admin is never purged.
    let other = app.create_user("Kept", "kept@example.com").await;
    let response = app
        .api
        .delete(app.url(&format!("/users/{}?purge=maybe", other["id"])))
        .send()
        .await
        .unwrap();
    assert_error(response, 400).await;
    let response = app
        .api
        .delete(app.url(&format!("/users/{}?purge=true", app.admin_id)))
        .send()
        .await
        .unwrap();
    assert_error(response, 409).await;
}

#[tokio::test]
async fn deleted_users_past_their_time_are_purged_by_the_periodic_job() {
    let app = spawn_app().await;
    let user = app
        .create_user("Old Delete", "old.delete@example.com")
        .await;
    let id = user["id"].as_i64().unwrap();
    app.api
        .delete(app.url(&format!("/users/{id}")))
        .send()
        .await
        .unwrap();
    let upkeep = useradmin::jobs::Upkeep {
        db: app.db.clone(),
        writer: app.state.writer.clone(),
        user_restore: std::time::Duration::from_secs(86_400),
        audit_retention: None,
    };
    // Deleted a moment ago: kept.
    assert_eq!(upkeep.run_once().await.unwrap(), Some((0, 0)));
    assert_eq!(app.get_json("/users/deleted").await.1["total"], 1);
    // With no time left to restore: purged.
    let upkeep = useradmin::jobs::Upkeep {
        user_restore: std::time::Duration::ZERO,
        ..upkeep
    };
    assert_eq!(upkeep.run_once().await.unwrap(), Some((1, 0)));
    assert_eq!(app.get_json("/users/deleted").await.1["total"], 0);
}

/// List filters with a value they cannot take, each a 400.
const BAD_FILTERS: &[&str] = &[
    "status=asleep",
    "is_admin=yes",
    "created_after=monday",
    "last_login_before=1",
];

#[tokio::test]
async fn filters_combine_with_search_sorts_and_paging_and_count_what_they_show() {
    let app = spawn_app().await;
    // 30 users: every third disabled, every fifth an admin.
    let mut made = Vec::new();
    for i in 0..30 {
        let response = app
            .api
            .post(app.url("/users"))
            .json(&json!({
                "name": format!("Member {i:02}"),
                "email": format!("member{i:02}@example.com"),
                "is_admin": i % 5 == 0,
            }))
            .send()
            .await
            .unwrap();
        let user: Value = response.json().await.unwrap();
        let id = user["id"].as_i64().unwrap();
        if i % 3 == 0 {
            post_json(
                &app,
                &format!("/users/{id}/disable"),
                json!({"reason": "test"}),
            )
            .await;
        }
        made.push((i, id));
    }
    let disabled: Vec<i64> = made
        .iter()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(_, id)| *id)
        .collect();
    let (_, page) = app.get_json("/users?status=disabled&limit=1000").await;
    assert_eq!(ids_of(&page), disabled);
    assert_eq!(page["total"], disabled.len() as i64);
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["status"] == "disabled")
    );
    // Combined with q, a sort, and paging through small pages.
    for sort in [
        "id",
        "-id",
        "name",
        "-name",
        "email",
        "-email",
        "created_at",
        "-created_at",
    ] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path =
                format!("/users?status=disabled&is_admin=false&q=member&sort={sort}&limit=3");
            if let Some(cursor) = &after {
                path.push_str(&format!("&after={cursor}"));
            }
            let (status, page) = app.get_json(&path).await;
            assert_eq!(status, 200, "{path}: {page}");
            assert_eq!(page["total"], 8, "{path}");
            seen.extend(ids_of(&page));
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
        let mut expected: Vec<i64> = made
            .iter()
            .filter(|(i, _)| i % 3 == 0 && i % 5 != 0)
            .map(|(_, id)| *id)
            .collect();
        if sort.starts_with('-') {
            expected.reverse();
        }
        assert_eq!(seen, expected, "sort={sort}");
    }
    // Admins, and dormant admins (never logged in, or not since a time).
    let (_, admins) = app.get_json("/users?is_admin=true&limit=1000").await;
    assert_eq!(admins["total"], 1 + 6);
    let (_, dormant) = app
        .get_json("/users?is_admin=true&last_login_before=2999-01-01T00:00:00Z&limit=1000")
        .await;
    assert_eq!(dormant["total"], 7, "nobody logged in yet");
    app.log_in_as_admin(&browser()).await;
    let (_, dormant) = app
        .get_json("/users?is_admin=true&last_login_before=2999-01-01T00:00:00Z&limit=1000")
        .await;
    assert_eq!(
        dormant["total"], 7,
        "a login before the year 2999 still counts"
    );
    let (_, dormant) = app
        .get_json("/users?is_admin=true&last_login_before=2000-01-01T00:00:00Z&limit=1000")
        .await;
    assert_eq!(dormant["total"], 6, "the first admin logged in since");
    let (_, me) = app.get_json(&format!("/users/{}", app.admin_id)).await;
    assert!(me["last_login_at"].is_string());
    // Time windows.
    let (_, none) = app
        .get_json("/users?created_after=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(none["total"], 0);
    let (_, all) = app
        .get_json("/users?created_before=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(all["total"], 31);
    // The cache tells filters apart.
    for path in ["/users?status=active", "/users?status=disabled"] {
        app.get_json(path).await;
    }
    let (_, active) = app.get_json("/users?status=active").await;
    assert_eq!(active["source"], "cache");
    assert_eq!(active["total"], 31 - disabled.len() as i64);
    // Malformed filters are a 400.
    for bad in BAD_FILTERS {
        assert_get_refused(&app, &format!("/users?{bad}"), 400).await;
    }
}

#[tokio::test]
async fn a_bulk_action_answers_per_id_and_refuses_what_it_cannot_do() {
    let app = spawn_app().await;
    let a = app.create_user("A", "a@example.com").await["id"]
        .as_i64()
        .unwrap();
    let b = app.create_user("B", "b@example.com").await["id"]
        .as_i64()
        .unwrap();
    let (status, body) = post_json(
        &app,
        "/users/bulk",
        json!({"action": "disable", "ids": [a, 999_999, b, app.admin_id], "reason": "audit"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0], json!({"id": a, "result": "done"}));
    assert_eq!(results[1], json!({"id": 999_999, "result": "not_found"}));
    assert_eq!(results[2], json!({"id": b, "result": "done"}));
    assert_eq!(results[3]["result"], "conflict", "the last active admin");
    assert!(results[3]["message"].is_string());
    let (_, user) = app.get_json(&format!("/users/{a}")).await;
    assert_eq!(user["status"], "disabled");
    assert_eq!(user["disabled_reason"], "audit");

    // Delete both, then restore them, promote one.
    let (_, body) = post_json(
        &app,
        "/users/bulk",
        json!({"action": "delete", "ids": [a, b]}),
    )
    .await;
    assert!(
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"] == "done")
    );
    let (_, body) = post_json(
        &app,
        "/users/bulk",
        json!({"action": "restore", "ids": [a, b, a]}),
    )
    .await;
    let results: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(
        results,
        ["done", "done", "not_found"],
        "a second restore finds nothing deleted"
    );
    let (_, body) = post_json(
        &app,
        "/users/bulk",
        json!({"action": "promote", "ids": [a]}),
    )
    .await;
    assert_eq!(body["results"][0]["result"], "done");
    assert_eq!(
        app.get_json(&format!("/users/{a}")).await.1["is_admin"],
        true
    );
    // Every change is in the trail: a promotion grants the admin role (SPEC §14).
    let (_, trail) = app.get_json(&format!("/audit?subject=user:{a}")).await;
    let actions: Vec<&str> = trail["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user.updated",
            "user.roles_changed",
            "user.restored",
            "user.deleted",
            "user.disabled",
            "user.created"
        ]
    );

    // Refused as a whole: an unknown action, no ids, too many ids.
    for body in [
        json!({"action": "explode", "ids": [a]}),
        json!({"action": "disable", "ids": []}),
        json!({"action": "enable", "ids": (1..=1001).collect::<Vec<i64>>()}),
    ] {
        let response = app
            .api
            .post(app.url("/users/bulk"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_error(response, 422).await;
    }
}

#[tokio::test]
async fn a_write_that_waits_out_its_time_on_a_row_held_elsewhere_is_a_503_and_changes_nothing() {
    let app = spawn_app().await;
    let user = app.create_user("Ada", "ada@example.com").await;
    let id = user["id"].as_i64().unwrap();
    // Someone in Adminer holds the row in an open transaction.
    let mut held = app.db.begin().await.unwrap();
    sqlx::query("select 1 from users where id = $1 for update")
        .bind(id)
        .execute(&mut *held)
        .await
        .unwrap();
    let response = app
        .api
        .patch(app.url(&format!("/users/{id}")))
        .json(&json!({"name": "Grace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers().get("retry-after").unwrap(),
        "1",
        "a busy database is worth another try"
    );
    assert_error(response, 503).await;
    held.rollback().await.unwrap();
    let (_, now) = app.get_json(&format!("/users/{id}")).await;
    assert_eq!(now["name"], "Ada");
    assert_eq!(now["version"], user["version"]);
}

#[tokio::test]
async fn bulk_disable_cannot_leave_nobody_able_to_log_in() {
    let app = spawn_app().await;
    // Another admin, made without a password (as import, SCIM or the API may).
    let (second, _) = app.second_admin_with_token().await;
    let response = app
        .api
        .post(app.url("/users/bulk"))
        .json(&json!({"action": "disable", "ids": [app.admin_id, second], "reason": "leaving"}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["id"], app.admin_id);
    assert_eq!(results[0]["result"], "conflict", "{body}");
    assert!(
        results[0]["message"]
            .as_str()
            .unwrap()
            .contains("no other active admin with a password"),
        "{body}"
    );
    assert_eq!(results[1], json!({"id": second, "result": "done"}));
    // Someone can still log in.
    app.admin_session(&browser(), "/users").await;
}

#[tokio::test]
async fn single_user_routes_keep_an_admin_who_can_log_in() {
    let app = spawn_app().await;
    let (second, second_token) = app.second_admin_with_token().await;
    let path = format!("/users/{}", app.admin_id);
    let with_second = |request: reqwest::RequestBuilder| request.bearer_auth(&second_token);
    let client = reqwest::Client::new();

    for request in [
        with_second(client.delete(app.url(&path))),
        with_second(client.patch(app.url(&path))).json(&json!({"is_admin": false})),
        with_second(client.put(app.url(&path))).json(&json!({"is_admin": false})),
        with_second(client.patch(app.url(&path))).json(&json!({"status": "disabled"})),
        with_second(client.post(app.url(&format!("{path}/disable")))).json(&json!({"reason": "x"})),
    ] {
        let body = assert_error(request.send().await.unwrap(), 409).await;
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("no other active admin with a password"),
            "{body}"
        );
    }
    let (_, admin) = app.get_json(&path).await;
    assert_eq!(admin["is_admin"], true);
    assert_eq!(admin["status"], "active");

    // Once the other admin has a password, the first may go.
    let response = app
        .api
        .patch(app.url(&format!("/users/{second}")))
        .json(&json!({"password": "second admin password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = with_second(client.post(app.url(&format!("{path}/disable"))))
        .json(&json!({"reason": "left"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
