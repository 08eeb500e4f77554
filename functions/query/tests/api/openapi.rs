//! `GET /openapi.json`: an OpenAPI 3 document listing exactly what the
//! server serves.

use std::collections::BTreeSet;

use pact_runtime::database::Database;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Seed, hours_ago, seed, spawn_open, spawn_with_token};

both_backends!(
    check_the_document_lists_every_route_served,
    check_the_document_follows_the_access_mode,
);

/// Every (path, method) of a document.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect()
}

/// A request for an operation built from the document alone: path
/// parameters and required query parameters filled with their examples.
fn example_request(document: &Value, path: &str, method: &str) -> String {
    let operation = &document["paths"][path][method];
    let mut url = path.to_owned();
    let mut query = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let name = parameter["name"].as_str().expect("name");
        let example = || {
            let example = &parameter["example"];
            example
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| example.to_string())
        };
        match parameter["in"].as_str() {
            Some("path") => url = url.replace(&format!("{{{name}}}"), &example()),
            Some("query") if parameter["required"] == true => {
                query.push(format!("{name}={}", example()));
            }
            _ => {}
        }
    }
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    url
}

async fn check_the_document_lists_every_route_served(db: Database) {
    seed(&db, &[Seed::new(1, 2, hours_ago(1))]).await;
    let app = spawn_with_token(db).await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = response.json().await.expect("JSON");

    // OpenAPI 3, and readable as such.
    let version = document["openapi"].as_str().expect("openapi field");
    assert!(version.starts_with("3."), "{version}");
    let parsed: utoipa::openapi::OpenApi =
        serde_json::from_value(document.clone()).expect("an OpenAPI 3 document");
    assert_eq!(parsed.info.title, "pact-query");

    // The data routes are those of the router's route list, plus the
    // function contract's endpoints and this document.
    let router_routes =
        operations(&serde_json::to_value(pact_query::api_router().into_openapi()).expect("JSON"));
    let served = operations(&document);
    let mut expected = router_routes.clone();
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        expected.insert((path.to_owned(), "get".to_owned()));
    }
    assert_eq!(served, expected);
    assert_eq!(router_routes.len(), 8, "{router_routes:?}");

    // Every documented read answers 200 when called as documented (but a
    // case's, which is 404 until pact-notify recorded it; tests/api/cases.rs
    // calls the case operations), and an undocumented method on its path
    // is a 405.
    for (path, method) in &served {
        if path.starts_with("/cases") {
            continue;
        }
        assert_eq!(method, "get");
        let url = example_request(&document, path, method);
        let response = app.get(&url).await;
        assert_eq!(response.status(), 200, "GET {url} is documented");
        let response = app
            .client
            .post(app.url(&url))
            .bearer_auth(crate::helpers::TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 405, "POST {url} is not documented");
    }
    // An undocumented path is a 404.
    assert_eq!(
        app.get("/findcontactbycity?city=Minneapolis")
            .await
            .status(),
        404
    );

    // Each data operation needs the bearer token and says how it fails.
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, method) in &router_routes {
        let operation = &document["paths"][path][method];
        assert_eq!(
            operation["security"],
            serde_json::json!([{"bearer": []}]),
            "{path}"
        );
        let success = if method == "get" { "200" } else { "202" };
        for status in [success, "400", "401", "503", "504"] {
            assert!(
                operation["responses"][status].is_object(),
                "{path} {status}"
            );
        }
    }

    // The row schema is what the endpoints send.
    let rows = app.json("/findcontactbystate?state=MN").await;
    let sent: BTreeSet<&str> = rows[0]
        .as_object()
        .expect("row")
        .keys()
        .map(String::as_str)
        .collect();
    let described: BTreeSet<&str> =
        document["components"]["schemas"]["ContactRecord"]["properties"]
            .as_object()
            .expect("ContactRecord")
            .keys()
            .map(String::as_str)
            .collect();
    assert_eq!(sent, described);
}

async fn check_the_document_follows_the_access_mode(db: Database) {
    let app = spawn_open(db).await;
    let document = app.json("/openapi.json").await;
    assert!(
        document["components"]["securitySchemes"]
            .get("bearer")
            .is_none()
    );
    for (path, method) in operations(&document) {
        let operation = &document["paths"][&path][&method];
        assert!(operation.get("security").is_none(), "{path}");
        assert!(operation["responses"].get("401").is_none(), "{path}");
    }
}
