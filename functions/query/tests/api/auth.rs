//! Bearer tokens on the data endpoints; open access only when stated.

use pact_runtime::database::Database;
use tower::ServiceExt;

use crate::both_backends;
use crate::helpers::{
    Seed, TOKEN, hours_ago, problem, seed, spawn_open, spawn_with_env, spawn_with_token,
};

both_backends!(
    check_data_needs_a_token_and_operations_do_not,
    check_tokens_from_a_file_are_accepted,
    check_open_access_needs_no_token,
);

const DATA: [&str; 5] = [
    "/findcontactbystate?state=MN",
    "/findcontactbycountry?country=US",
    "/contacts/1",
    "/exposures/1?days=14&depth=2",
    "/stats",
];
const OPERATIONS: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/openapi.json"];

async fn check_data_needs_a_token_and_operations_do_not(db: Database) {
    seed(&db, &[Seed::new(1, 2, hours_ago(1))]).await;
    let app = spawn_with_token(db).await;
    for path in DATA {
        let url = app.url(path);
        // No token.
        let response = app.client.get(&url).send().await.expect("request");
        assert_eq!(response.status(), 401, "{path}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii");
        assert_eq!(challenge, r#"Bearer realm="pact-query""#);
        let body = problem(response).await;
        assert_eq!(body["status"], 401);
        assert_eq!(body["type"], "/problems/unauthorized");
        // A wrong token, and another scheme.
        let response = app
            .client
            .get(&url)
            .bearer_auth("wrong-token")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 401, "{path}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        assert!(!problem(response).await.to_string().contains("wrong-token"));
        let response = app
            .client
            .get(&url)
            .basic_auth("user", Some(TOKEN))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 401, "{path}");
        // The right one.
        let response = app
            .client
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
    }
    // Without a token, a bad parameter is still a 401: nothing is checked first.
    let response = app
        .client
        .get(app.url("/exposures/1?depth=9"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    for path in OPERATIONS {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
    }
}

async fn check_tokens_from_a_file_are_accepted(db: Database) {
    let file = std::env::temp_dir().join(format!(
        "pact-query-tokens-{}-{}",
        std::process::id(),
        db.backend()
    ));
    std::fs::write(
        &file,
        "# rotated monthly\nfirst-token-aaaaaaaaaaaa\n\nsecond-token-bbbbbbbbbbbb\r\n",
    )
    .expect("write the token file");
    let path = file.to_str().expect("utf-8 path").to_owned();
    let app = spawn_with_env(
        db,
        &[
            ("PACT_QUERY_TOKENS_FILE", &path),
            ("PACT_QUERY_TOKENS", "third-token-cccccccccccc"),
        ],
    )
    .await;
    app.wait_ready().await;
    for token in [
        "first-token-aaaaaaaaaaaa",
        "second-token-bbbbbbbbbbbb",
        "third-token-cccccccccccc",
    ] {
        let response = app
            .client
            .get(app.url("/stats"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{token}");
    }
    let response = app
        .client
        .get(app.url("/stats"))
        .bearer_auth("# rotated monthly")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    let _ = std::fs::remove_file(file);
}

async fn check_open_access_needs_no_token(db: Database) {
    seed(&db, &[Seed::new(1, 2, hours_ago(1))]).await;
    let app = spawn_open(db.clone()).await;
    for path in DATA {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
    }
    // The router in-process too (tower's oneshot), with a token nobody checks.
    let (config, _) = pact_query::Config::from_env(
        &[("PACT_QUERY_AUTH", "none")]
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    )
    .expect("valid");
    let state = pact_query::AppState::new(config, db);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !state.schema().is_ready() {
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let request = axum::http::Request::get("/contacts/1")
        .header("authorization", "Bearer anything")
        .body(axum::body::Body::empty())
        .expect("request");
    let response = pact_query::app(state)
        .oneshot(request)
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
}
