//! Bad case events: a clear problem, a permanent status (no retry storm),
//! and nothing recorded or sent.

use pact_runtime::case::{CASE_REPORTED, CASE_WITHDRAWN};
use pact_runtime::database::Database;
use pact_runtime::testing::problem;
use serde_json::json;

use crate::helpers::{case, count, sink, spawn, today};
use pact_runtime::pg_and_sqlite;

pg_and_sqlite!(bad_cases_are_refused_for_good, bad_cases);
async fn bad_cases(db: Database) {
    let sink = sink().await;
    let app = spawn(db.clone(), &sink, &[]).await;
    let good = case(1, today());
    let with = |field: &str, value: serde_json::Value| {
        let mut c = good.clone();
        c[field] = value;
        c
    };
    let mut other_person = case(2, today());
    other_person["mmid"] = json!(1);
    let cases = [
        (other_person, 422, "case_id"),
        (with("mmid", json!(0)), 422, "mmid"),
        (with("mmid", json!("1")), 400, ""),
        (
            with("onset", json!(today() + chrono::Days::new(5))),
            422,
            "onset",
        ),
        (with("onset", json!("2026-13-01")), 400, ""),
        (with("reference", json!("a\u{7}b")), 422, "reference"),
        (with("reference", json!("x".repeat(101))), 422, "reference"),
        (with("extra", json!(1)), 400, ""),
        (json!({"mmid": 1}), 400, ""),
    ];
    for (data, status, field) in cases {
        let response = app.send(CASE_REPORTED, "x-1", &data, &[]).await;
        assert_eq!(response.status(), status, "{data}");
        let problem = problem(response).await;
        if !field.is_empty() {
            assert_eq!(problem["field"], field, "{problem}");
        }
        assert!(!problem["detail"].as_str().unwrap_or_default().is_empty());
    }
    let response = app
        .send(CASE_WITHDRAWN, "w-1", &json!({"case_id": "nope"}), &[])
        .await;
    assert_eq!(response.status(), 400);
    let response = app
        .send("dev.pact.contact.translated", "t-1", &good, &[])
        .await;
    assert!([400, 422].contains(&response.status().as_u16()));
    // The original demo's CSV lines are contacts, never cases.
    let response = app
        .client
        .post(app.url("/"))
        .header("content-type", "text/csv")
        .body("1,2,44.9,-93.2")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 400);
    assert!(sink.received().is_empty());
    assert_eq!(count(&db, "SELECT count(*) FROM cases").await, 0);
}
