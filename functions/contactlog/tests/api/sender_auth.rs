//! Sender authentication (`PACT_SENDER_AUTH=oidc`): only a valid token of an
//! allowed source stores anything; every forgery is refused before the body
//! is read, and nothing is written. Keys come from a stand-in issuer on
//! 127.0.0.1 (`pact_runtime::testing::oidc`).

use pact_runtime::database::Database;
use pact_runtime::testing::oidc::{
    EC_KID, RSA_KID, SigningAlgorithm as Algorithm, TestIssuer, now,
};
use serde_json::json;

use crate::helpers::{TestApp, contact, spawn};

const AUDIENCE: &str = "serving.knative.dev/service/pact/pact-contactlog";
const KAFKA_SOURCE: &str =
    "system:serviceaccount:pact:pact-translated-oidc-sources.knative.dev-kafkasource";
const PING_SOURCE: &str =
    "system:serviceaccount:pact:pact-retention-oidc-sources.knative.dev-pingsource";

async fn spawn_with_oidc(db: Database, issuer: &TestIssuer) -> TestApp {
    let env = issuer.env(AUDIENCE, &[KAFKA_SOURCE, PING_SOURCE]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn(db, &env).await
}

/// POSTs one translated event with `authorization` (if any).
async fn send(app: &TestApp, id: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", id)
        .header("ce-source", "/pact/translation")
        .header("ce-type", "dev.pact.contact.translated")
        .header("content-type", "application/json")
        .body(contact(1, 2, 0).to_string());
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.expect("request")
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[sqlx::test(migrations = false)]
async fn only_valid_tokens_of_allowed_sources_store(pool: sqlx::SqlitePool) {
    let issuer = TestIssuer::start().await;
    let app = spawn_with_oidc(Database::Sqlite(pool), &issuer).await;

    // The genuine sender: an RS256 token (what the API server issues), then
    // an ES256 one.
    let response = send(
        &app,
        "ok-rsa",
        Some(&bearer(&issuer.token(AUDIENCE, KAFKA_SOURCE))),
    )
    .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let es256 = issuer.sign(
        Algorithm::ES256,
        EC_KID,
        &issuer.claims(AUDIENCE, KAFKA_SOURCE),
    );
    assert_eq!(
        send(&app, "ok-ec", Some(&bearer(&es256))).await.status(),
        200
    );
    assert_eq!(app.count().await, 2);

    let now = now();
    let with = |changes: serde_json::Value| {
        let mut claims = issuer.claims(AUDIENCE, KAFKA_SOURCE);
        for (name, value) in changes.as_object().expect("object") {
            claims[name] = value.clone();
        }
        claims
    };
    let rsa =
        |claims: serde_json::Value| Some(bearer(&issuer.sign(Algorithm::RS256, RSA_KID, &claims)));
    let valid = issuer.token(AUDIENCE, KAFKA_SOURCE);
    let other_audience = "serving.knative.dev/service/pact/pact-translation";
    let forged: Vec<(&str, Option<String>)> = vec![
        ("missing token", None),
        ("not a JWT", Some(bearer("abc"))),
        ("basic scheme", Some("Basic cGFjdDpwYWN0".into())),
        (
            "wrong audience",
            rsa(with(json!({ "aud": [other_audience] }))),
        ),
        (
            "wrong issuer",
            rsa(with(json!({ "iss": "https://issuer.example" }))),
        ),
        (
            "expired",
            rsa(with(json!({ "exp": now - 600, "nbf": now - 4200 }))),
        ),
        (
            "not yet valid",
            rsa(with(json!({ "nbf": now + 600, "exp": now + 4200 }))),
        ),
        (
            "no exp",
            rsa(json!({ "iss": issuer.issuer, "aud": AUDIENCE, "sub": KAFKA_SOURCE })),
        ),
        (
            "tampered",
            Some(bearer(&issuer.tampered(
                &valid,
                &with(json!({ "sub": PING_SOURCE, "exp": now + 86_400 })),
            ))),
        ),
        ("alg none", Some(bearer(&issuer.unsigned(&with(json!({})))))),
        (
            "HS256 with the public key",
            Some(bearer(&issuer.sign_hs256_with_public_key(&with(json!({}))))),
        ),
        (
            "ES256 header on the RSA key",
            Some(bearer(&issuer.sign(
                Algorithm::ES256,
                RSA_KID,
                &with(json!({})),
            ))),
        ),
        (
            "two tokens",
            Some(format!("Bearer {valid}, Bearer {valid}")),
        ),
    ];
    for (i, (case, authorization)) in forged.iter().enumerate() {
        let response = send(&app, &format!("forged-{i}"), authorization.as_deref()).await;
        assert_eq!(response.status(), 401, "{case}");
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            challenge.starts_with("Bearer realm=\"pact\""),
            "{case}: {challenge}"
        );
        let problem = pact_runtime::testing::problem(response).await;
        assert_eq!(problem["status"], 401, "{case}");
        assert_eq!(problem["type"], "/problems/unauthorized", "{case}");
    }

    // A valid token of a service account that is not a PACT source: 403,
    // final as well (Knative does not retry it).
    let stranger = issuer.token(AUDIENCE, "system:serviceaccount:pact:default");
    let response = send(&app, "stranger", Some(&bearer(&stranger))).await;
    assert_eq!(response.status(), 403);

    // A forged retention ping purges nothing.
    let response = app
        .client
        .post(app.url("/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "ping-1")
        .header(
            "ce-source",
            "/apis/v1/namespaces/pact/pingsources/pact-retention",
        )
        .header("ce-type", "dev.knative.sources.ping")
        .header("content-type", "application/json")
        .body(r#"{"task":"retention"}"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);

    assert_eq!(app.count().await, 2, "no forged event was stored");
    // The keys were fetched once for all of it.
    assert_eq!(issuer.jwks_requests(), 1);
}

#[sqlx::test(migrations = false)]
async fn an_unknown_key_is_refused_and_key_fetches_are_rate_limited(pool: sqlx::SqlitePool) {
    let issuer = TestIssuer::start().await;
    let app = spawn_with_oidc(Database::Sqlite(pool), &issuer).await;
    let claims = issuer.claims(AUDIENCE, KAFKA_SOURCE);
    let unknown = issuer.sign(Algorithm::RS256, "rotated-away", &claims);

    // Fetched for this request, and the key is not there: final.
    let response = send(&app, "a", Some(&bearer(&unknown))).await;
    assert_eq!(response.status(), 401);
    assert_eq!(issuer.jwks_requests(), 1);

    // Again within the refresh interval: no second fetch, and 503 (the key
    // may have been added just after the fetch; a genuine sender retries).
    let response = send(&app, "b", Some(&bearer(&unknown))).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    for i in 0..20 {
        let _ = send(&app, &format!("c{i}"), Some(&bearer(&unknown))).await;
    }
    assert_eq!(
        issuer.jwks_requests(),
        1,
        "a forged kid does not flood the issuer"
    );

    // Known keys still work meanwhile.
    let response = send(
        &app,
        "ok",
        Some(&bearer(&issuer.token(AUDIENCE, KAFKA_SOURCE))),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.count().await, 1);
}

#[sqlx::test(migrations = false)]
async fn keys_that_cannot_be_fetched_answer_503_so_the_source_retries(pool: sqlx::SqlitePool) {
    let issuer = TestIssuer::start().await;
    issuer.set_available(false);
    let app = spawn_with_oidc(Database::Sqlite(pool), &issuer).await;
    let response = send(
        &app,
        "a",
        Some(&bearer(&issuer.token(AUDIENCE, KAFKA_SOURCE))),
    )
    .await;
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(app.count().await, 0);
}

#[sqlx::test(migrations = false)]
async fn an_unreachable_issuer_answers_503(pool: sqlx::SqlitePool) {
    let issuer = TestIssuer::start().await;
    // A port that was free a moment ago: nothing listens there.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!(
        "http://{}/openid/v1/jwks",
        dead.local_addr().expect("address")
    );
    drop(dead);
    let mut env = issuer.env(AUDIENCE, &[KAFKA_SOURCE]);
    env.push(("PACT_OIDC_JWKS_URL".into(), dead_url));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let app = spawn(Database::Sqlite(pool), &env).await;
    let response = send(
        &app,
        "a",
        Some(&bearer(&issuer.token(AUDIENCE, KAFKA_SOURCE))),
    )
    .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(app.count().await, 0);
}

#[sqlx::test(migrations = false)]
async fn probes_and_metrics_need_no_token(pool: sqlx::SqlitePool) {
    let issuer = TestIssuer::start().await;
    let app = spawn_with_oidc(Database::Sqlite(pool), &issuer).await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
    }
    // An unknown route stays 404, not 401.
    let response = app
        .client
        .post(app.url("/nope"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
}

#[sqlx::test(migrations = false)]
async fn without_sender_auth_nothing_changes(pool: sqlx::SqlitePool) {
    let app = spawn(Database::Sqlite(pool), &[]).await;
    assert_eq!(send(&app, "open", None).await.status(), 200);
    assert_eq!(app.count().await, 1);
}
