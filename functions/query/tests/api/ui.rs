//! `GET /` and `/ui/`: where a browser is sent, what the page's files are
//! served with. (What the page does is tested in a real browser:
//! tests/ui.)

use pact_query::ui::{CONTENT_SECURITY_POLICY, assets_size};
use pact_runtime::database::Database;
use reqwest::header;

use crate::helpers::{TOKEN, TestApp, spawn_open, spawn_with_token};

/// The page's files, as index.html names them, and the icon.
const FILES: &[&str] = &[
    "style.css",
    "app.js",
    "api.js",
    "dom.js",
    "contacts.js",
    "graph.js",
    "map.js",
    "chart.js",
    "cases.js",
    "icon.svg",
];

async fn app(pool: sqlx::SqlitePool) -> TestApp {
    spawn_with_token(Database::Sqlite(pool)).await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn a_browser_asking_for_the_root_is_sent_to_the_page(pool: sqlx::SqlitePool) {
    let app = app(pool).await;
    let response = no_redirects()
        .get(app.url("/"))
        .header(header::ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[header::LOCATION], "/ui/");
    assert_eq!(response.headers()[header::VARY], "accept");

    let response = no_redirects()
        .get(app.url("/ui"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 308);
    assert_eq!(response.headers()[header::LOCATION], "/ui/");
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn any_other_client_is_told_where_things_are_and_whether_a_token_is_needed(
    pool: sqlx::SqlitePool,
) {
    let app = app(pool.clone()).await;
    // No token needed for this: it says only how to ask.
    let response = app.client.get(app.url("/")).send().await.expect("request");
    assert_eq!(response.status(), 200);
    let link = response.headers()[header::LINK].to_str().expect("ascii");
    assert!(link.contains("</ui/>; rel=\"alternate\""), "{link}");
    assert!(
        link.contains("</openapi.json>; rel=\"service-desc\""),
        "{link}"
    );
    let index: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(
        index,
        serde_json::json!({"service": "pact-query", "ui": "/ui/", "openapi": "/openapi.json",
                           "auth": "bearer"})
    );
    let open = spawn_open(Database::Sqlite(pool)).await;
    let index: serde_json::Value = open.json("/").await;
    assert_eq!(index["auth"], "none");
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn every_file_is_served_with_its_type_a_strict_policy_and_no_token(pool: sqlx::SqlitePool) {
    let app = app(pool).await;
    let index = app
        .client
        .get(app.url("/ui/"))
        .send()
        .await
        .expect("request");
    assert_eq!(index.status(), 200);
    let html = index.text().await.expect("body");
    let mut total = html.len();
    // The page names these; the scripts import the rest.
    for named in ["\"style.css\"", "\"app.js\"", "\"icon.svg\""] {
        assert!(html.contains(named), "index.html names {named}");
    }
    for file in FILES {
        let response = app
            .client
            .get(app.url(&format!("/ui/{file}")))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{file}");
        let headers = response.headers().clone();
        let expected_type = match file.rsplit_once('.').expect("extension").1 {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("unexpected file type {other}"),
        };
        assert_eq!(headers[header::CONTENT_TYPE], expected_type, "{file}");
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        total += response.bytes().await.expect("body").len();
    }
    // Every embedded file was asked for above: the list is complete.
    assert_eq!(total, assets_size());
    // The policy allows nothing from elsewhere and no inline code.
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(CONTENT_SECURITY_POLICY.contains(directive), "{directive}");
    }
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
    // No inline script or style in the page itself.
    assert!(!html.contains("<script>") && !html.contains(" style="));
    // The token is not needed for the page, and sending one changes nothing.
    let with_token = app
        .client
        .get(app.url("/ui/app.js"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(with_token.status(), 200);
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn a_browser_holding_the_file_gets_304(pool: sqlx::SqlitePool) {
    let app = app(pool).await;
    let first = app
        .client
        .get(app.url("/ui/app.js"))
        .send()
        .await
        .expect("request");
    let etag = first.headers()[header::ETAG].clone();
    assert!(etag.to_str().expect("ascii").starts_with('"'));
    let again = app
        .client
        .get(app.url("/ui/app.js"))
        .header(header::IF_NONE_MATCH, etag.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()[header::ETAG], etag);
    assert!(again.bytes().await.expect("body").is_empty());
    // Another file's tag is not this one's.
    let other = app
        .client
        .get(app.url("/ui/style.css"))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("request");
    assert_eq!(other.status(), 200);
}

#[sqlx::test(migrations = "../../migrations/sqlite")]
async fn an_unknown_file_is_a_404_problem(pool: sqlx::SqlitePool) {
    let app = app(pool).await;
    for path in [
        "/ui/nope.js",
        "/ui/../Cargo.toml",
        "/ui/%2e%2e/Cargo.toml",
        "/ui/a/b",
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json",
            "{path}"
        );
    }
}
