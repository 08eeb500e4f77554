//! Serving pact-notify on a given database and sink, seeding contacts, and
//! sending it case events.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use pact_notify::{AppState, Config, app};
use pact_runtime::case::{CASE_REPORTED, CASE_WITHDRAWN, case_id, withdrawal_id};
use pact_runtime::cloudevents::{AttributesReader, Event};
use pact_runtime::contact::PersonId;
use pact_runtime::database::Database;
use pact_runtime::testing::{CaptureSink, Reply, Served, wait_ready};
use serde_json::{Value, json};
use uuid::Uuid;

pub struct TestApp {
    pub served: Served,
    pub client: reqwest::Client,
}

/// pact-notify serving `db`, emitting to `sink`, configured by `env` on
/// top of defaults; ready (its schema migrated).
pub async fn spawn(db: Database, sink: &CaptureSink, env: &[(&str, &str)]) -> TestApp {
    let mut vars: HashMap<&str, &str> = env.iter().copied().collect();
    vars.insert("K_SINK", &sink.url);
    vars.entry("PACT_EMIT_ATTEMPTS").or_insert("1");
    let (config, _) = Config::from_env(&vars).expect("valid test configuration");
    let app = TestApp {
        served: Served::start(app(AppState::new(config, db))).await,
        client: reqwest::Client::new(),
    };
    wait_ready(&app.client, &app.served.url("/readyz")).await;
    app
}

/// A sink that accepts everything.
pub async fn sink() -> CaptureSink {
    CaptureSink::start(Reply::Status(202)).await
}

/// Today, UTC.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The `dev.pact.case.reported` data for `mmid` with onset `onset`.
pub fn case(mmid: i64, onset: NaiveDate) -> Value {
    let person = PersonId::parse("mmid", mmid).expect("positive");
    json!({"case_id": case_id(person, onset), "mmid": mmid, "onset": onset})
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        self.served.url(path)
    }

    /// POSTs one event in binary mode, JSON data, with extra headers.
    pub async fn send(
        &self,
        event_type: &str,
        id: &str,
        data: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/"))
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header("ce-source", "/pact/query")
            .header("ce-type", event_type)
            .header("content-type", "application/json")
            .body(data.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request")
    }

    /// Reports a case as pact-query does; the response's JSON.
    pub async fn report(&self, case: &Value) -> (u16, Value) {
        let id = case["case_id"].as_str().expect("case_id").to_owned();
        let response = self.send(CASE_REPORTED, &id, case, &[]).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Withdraws a case as pact-query does; the response's JSON.
    pub async fn withdraw(&self, case: &Value) -> (u16, Value) {
        let case_id: Uuid = case["case_id"]
            .as_str()
            .expect("case_id")
            .parse()
            .expect("uuid");
        let response = self
            .send(
                CASE_WITHDRAWN,
                &withdrawal_id(case_id).to_string(),
                &json!({"case_id": case_id}),
                &[],
            )
            .await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// Stores a contact between `a` and `b` at `at` in `city`, as
/// pact-contactlog would.
pub async fn seed(db: &Database, a: i64, b: i64, at: DateTime<Utc>, city: &str) {
    let id = Uuid::new_v4().to_string();
    db.query(
        "INSERT INTO contactlist (mmid1, mmid2, city, state, zipcode, country, lat, lon, \
         observed_at, event_source, event_id) VALUES ($1, $2, $3, 'MN', '55415', 'US', $4, $5, $6, '/seed', $7)",
    )
    .bind(a)
    .bind(b)
    .bind(city)
    .bind(Some(44.97))
    .bind(Some(-93.26))
    .bind(at)
    .bind(id.as_str())
    .execute()
    .await
    .expect("seed a contact");
}

/// Noon UTC, `days` after (or before, when negative) `day`.
pub fn noon(day: NaiveDate, days: i64) -> DateTime<Utc> {
    (day + chrono::Duration::days(days))
        .and_hms_opt(12, 0, 0)
        .expect("noon")
        .and_utc()
}

/// The data of an accepted event, as JSON.
pub fn data(event: &Event) -> Value {
    match event.data() {
        Some(pact_runtime::cloudevents::Data::Binary(bytes)) => {
            serde_json::from_slice(bytes).expect("JSON data")
        }
        Some(pact_runtime::cloudevents::Data::Json(value)) => value.clone(),
        other => panic!("unexpected data {other:?}"),
    }
}

/// The accepted events of `event_type`.
pub fn of_type(sink: &CaptureSink, event_type: &str) -> Vec<Event> {
    sink.accepted()
        .into_iter()
        .filter(|e| e.ty() == event_type)
        .collect()
}

/// A count from the database.
pub async fn count(db: &Database, sql: &str) -> i64 {
    let (n,): (i64,) = db.query(sql).fetch_one().await.expect("count");
    n
}
