//! `POST /cases`, `DELETE /cases/{case_id}` and `GET /cases/{case_id}`:
//! the events they emit to a real HTTP sink, the same case twice, every
//! bad input, a missing or failing sink, and what pact-notify recorded.

use chrono::Utc;
use pact_runtime::case::{CASE_REPORTED, CASE_WITHDRAWN, case_id, withdrawal_id};
use pact_runtime::cloudevents::{AttributesReader, Data};
use pact_runtime::contact::PersonId;
use pact_runtime::database::Database;
use pact_runtime::testing::{CaptureSink, Reply, spawn_with_log, terminate};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TOKEN, TestApp, problem, spawn_with_env};

both_backends!(
    check_a_report_emits_one_case_event_per_case,
    check_bad_reports_are_refused_and_emit_nothing,
    check_without_a_working_sink_nothing_is_acknowledged,
    check_a_withdrawal_emits_its_event,
    check_the_status_is_what_pact_notify_recorded,
);

/// pact-query with a token, emitting to `sink`.
async fn spawn(db: Database, sink: Option<&CaptureSink>) -> TestApp {
    let mut env = vec![("PACT_QUERY_TOKENS", TOKEN), ("PACT_EMIT_ATTEMPTS", "1")];
    if let Some(sink) = sink {
        env.push(("K_SINK", sink.url.as_str()));
    }
    let mut app = spawn_with_env(db, &env).await;
    app.wait_ready().await;
    app.token = Some(TOKEN.into());
    app
}

impl TestApp {
    async fn post_case(&self, body: &str, content_type: &str) -> reqwest::Response {
        self.client
            .post(self.url("/cases"))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .expect("request")
    }
}

fn data(event: &pact_runtime::cloudevents::Event) -> Value {
    match event.data() {
        Some(Data::Binary(bytes)) => serde_json::from_slice(bytes).expect("JSON"),
        other => panic!("{other:?}"),
    }
}

async fn check_a_report_emits_one_case_event_per_case(db: Database) {
    let sink = CaptureSink::start(Reply::Status(202)).await;
    let app = spawn(db, Some(&sink)).await;
    let onset = Utc::now().date_naive() - chrono::Days::new(2);
    let expected = case_id(PersonId::parse("mmid", 1477).expect("id"), onset);
    for reference in ["lab-1", "lab-1", "typo corrected"] {
        let body = json!({"mmid": 1477, "onset": onset, "reference": reference});
        let response = app.post_case(&body.to_string(), "application/json").await;
        assert_eq!(response.status(), 202);
        assert_eq!(
            response.headers()["location"],
            format!("/cases/{expected}").as_str()
        );
        let answer: Value = response.json().await.expect("JSON");
        assert_eq!(answer, json!({"case_id": expected, "status": "reported"}));
    }
    let events = sink.accepted();
    assert_eq!(events.len(), 3);
    for event in &events {
        assert_eq!(event.ty(), CASE_REPORTED);
        assert_eq!(event.source().as_str(), "/pact/query");
        // One case, one event identity: pact-notify sees a redelivery.
        assert_eq!(event.id(), expected.to_string());
        assert_eq!(
            event.extension("partitionkey").map(ToString::to_string),
            Some(expected.to_string())
        );
        assert_eq!(data(event)["mmid"], 1477);
        assert_eq!(data(event)["onset"], json!(onset));
    }
    // Sent in binary mode, as a KafkaSink expects.
    let received = sink.received();
    assert_eq!(received[0].headers["ce-type"], CASE_REPORTED);
    assert_eq!(data(&events[0])["reference"], "lab-1");
    // Another person or another onset is another case.
    let other = json!({"mmid": 1478, "onset": onset});
    let answer: Value = app
        .post_case(&other.to_string(), "application/json")
        .await
        .json()
        .await
        .expect("JSON");
    assert_ne!(answer["case_id"], json!(expected));
}

async fn check_bad_reports_are_refused_and_emit_nothing(db: Database) {
    let sink = CaptureSink::start(Reply::Status(202)).await;
    let app = spawn(db, Some(&sink)).await;
    let today = Utc::now().date_naive();
    let cases: [(String, &str, u16, &str); 11] = [
        (
            json!({"mmid": 1, "onset": today}).to_string(),
            "text/plain",
            415,
            "",
        ),
        ("{\"mmid\": 1,".into(), "application/json", 400, ""),
        ("[]".into(), "application/json", 400, ""),
        (
            json!({"mmid": 0, "onset": today}).to_string(),
            "application/json",
            422,
            "mmid",
        ),
        (
            json!({"mmid": -5, "onset": today}).to_string(),
            "application/json",
            422,
            "mmid",
        ),
        (
            json!({"mmid": 1, "onset": today + chrono::Days::new(3)}).to_string(),
            "application/json",
            422,
            "onset",
        ),
        (
            json!({"mmid": 1, "onset": "2020-01-01"}).to_string(),
            "application/json",
            422,
            "onset",
        ),
        (
            json!({"mmid": 1, "onset": "yesterday"}).to_string(),
            "application/json",
            400,
            "",
        ),
        (
            json!({"mmid": 1, "onset": today, "name": "Jo"}).to_string(),
            "application/json",
            400,
            "",
        ),
        (
            json!({"mmid": 1, "onset": today, "reference": "x".repeat(101)}).to_string(),
            "application/json",
            422,
            "reference",
        ),
        (
            json!({"mmid": 1, "onset": today, "reference": "a\u{0}b"}).to_string(),
            "application/json",
            422,
            "reference",
        ),
    ];
    for (body, content_type, status, field) in cases {
        let response = app.post_case(&body, content_type).await;
        assert_eq!(response.status(), status, "{body}");
        let problem = problem(response).await;
        if !field.is_empty() {
            assert_eq!(problem["field"], field, "{problem}");
        }
    }
    let huge = format!(
        "{{\"mmid\":1,\"onset\":\"{today}\",\"reference\":\"{}\"}}",
        "x".repeat(2 << 20)
    );
    assert_eq!(app.post_case(&huge, "application/json").await.status(), 413);
    // No token, no case.
    let response = app
        .client
        .post(app.url("/cases"))
        .json(&json!({"mmid": 1, "onset": today}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    assert!(sink.received().is_empty());
}

async fn check_without_a_working_sink_nothing_is_acknowledged(db: Database) {
    let body = json!({"mmid": 1, "onset": Utc::now().date_naive()}).to_string();
    let app = spawn(db.clone(), None).await;
    let response = app.post_case(&body, "application/json").await;
    assert_eq!(response.status(), 503);
    assert!(
        problem(response).await["detail"]
            .as_str()
            .is_some_and(|d| d.contains("K_SINK"))
    );
    let sink = CaptureSink::start(Reply::Status(503)).await;
    let app = spawn(db, Some(&sink)).await;
    let response = app.post_case(&body, "application/json").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}

async fn check_a_withdrawal_emits_its_event(db: Database) {
    let sink = CaptureSink::start(Reply::Status(202)).await;
    let app = spawn(db, Some(&sink)).await;
    let case = uuid::Uuid::new_v4();
    let response = app
        .client
        .delete(app.url(&format!("/cases/{case}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.expect("JSON");
    assert_eq!(answer, json!({"case_id": case, "status": "withdrawn"}));
    let events = sink.accepted();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].ty(), CASE_WITHDRAWN);
    assert_eq!(events[0].id(), withdrawal_id(case).to_string());
    assert_eq!(data(&events[0]), json!({"case_id": case}));
    for bad in ["not-a-uuid", "1477"] {
        let response = app
            .client
            .delete(app.url(&format!("/cases/{bad}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400);
        assert_eq!(problem(response).await["field"], "case_id");
    }
    assert_eq!(sink.accepted().len(), 1);
}

async fn check_the_status_is_what_pact_notify_recorded(db: Database) {
    let app = spawn(db.clone(), None).await;
    let case = uuid::Uuid::new_v4().to_string();
    let response = app.get(&format!("/cases/{case}")).await;
    assert_eq!(response.status(), 404);
    assert_eq!(problem(response).await["type"], "/problems/not_found");
    let now = Utc::now();
    db.query(
        "INSERT INTO cases (case_id, mmid, onset, secret, recorded_at, planned_at) \
         VALUES ($1, 7, $2, $3, $2, $2)",
    )
    .bind(case.as_str())
    .bind(now)
    .bind(uuid::Uuid::new_v4().to_string().as_str())
    .execute()
    .await
    .expect("case");
    for (person, sent) in [(2, true), (3, true), (4, false)] {
        let id = uuid::Uuid::new_v4().to_string();
        let sql = if sent {
            "INSERT INTO notifications (id, case_id, mmid, hops, data, created_at, sent_at) \
             VALUES ($1, $2, $3, 1, '{}', $4, $4)"
        } else {
            "INSERT INTO notifications (id, case_id, mmid, hops, data, created_at) \
             VALUES ($1, $2, $3, 1, '{}', $4)"
        };
        db.query(sql)
            .bind(id.as_str())
            .bind(case.as_str())
            .bind(person)
            .bind(now)
            .execute()
            .await
            .expect("notification");
    }
    let status = app.json(&format!("/cases/{case}")).await;
    assert_eq!(
        status,
        json!({"case_id": case, "status": "notifying", "mmid": 7, "onset": now.date_naive(),
               "notified": 2, "pending": 1, "withdrawn": 0})
    );
}

/// docs/privacy.md's rule for logs, held by the real binary: reporting and
/// withdrawing a case logs neither the person, nor the case id, nor the
/// reference at `info`.
#[tokio::test]
async fn case_logs_above_debug_hold_no_ids() {
    let dir = std::env::temp_dir().join(format!("pact-query-log-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let sink = CaptureSink::start(Reply::Status(202)).await;
    let log_path = dir.join("log");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pact-query"));
    command
        .env_clear()
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/pact.db", dir.display()),
        )
        .env("K_SINK", &sink.url)
        .env("PACT_QUERY_TOKENS", TOKEN)
        .env("PACT_LOG", "info");
    let (mut child, base) = spawn_with_log(command, &log_path).await;
    let client = reqwest::Client::new();
    let onset = Utc::now().date_naive();
    let response = client
        .post(format!("{base}/cases"))
        .bearer_auth(TOKEN)
        .json(&json!({"mmid": 4242421, "onset": onset, "reference": "ref-7aa1"}))
        .send()
        .await
        .expect("report");
    assert_eq!(response.status(), 202);
    let case: Value = response.json().await.expect("JSON");
    let case_id = case["case_id"].as_str().expect("id").to_owned();
    for request in [
        client.delete(format!("{base}/cases/{case_id}")),
        client.get(format!("{base}/cases/{case_id}")),
    ] {
        let status = request
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request")
            .status();
        assert!([202, 404].contains(&status.as_u16()), "{status}");
    }
    terminate(&mut child).await;
    let text = std::fs::read_to_string(&log_path).expect("the log");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(text.contains("case reported"), "{text}");
    for secret in [case_id.as_str(), "4242421", "ref-7aa1"] {
        assert!(!text.contains(secret), "{secret} in the info log:\n{text}");
    }
}
