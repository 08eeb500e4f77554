//! Spawning pact-contactlog on a given database, and sending it events.

use std::collections::HashMap;

use pact_contactlog::{AppState, Config, app};
use pact_runtime::database::Database;
use pact_runtime::testing::Served;
pub use pact_runtime::testing::wait_ready;

pub struct TestApp {
    pub served: Served,
    pub client: reqwest::Client,
    pub db: Database,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        self.served.url(path)
    }

    /// POSTs a translated event in binary mode, JSON data.
    pub async fn send(&self, source: &str, id: &str, data: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url("/"))
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header("ce-source", source)
            .header("ce-type", "dev.pact.contact.translated")
            .header("content-type", "application/json")
            .body(data.to_string())
            .send()
            .await
            .expect("request")
    }

    /// POSTs a PingSource's ping (binary mode, no data), as the daily
    /// retention PingSource sends it.
    pub async fn ping(&self, id: &str) -> reqwest::Response {
        self.client
            .post(self.url("/"))
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header(
                "ce-source",
                "/apis/v1/namespaces/pact/pingsources/retention",
            )
            .header("ce-type", "dev.knative.sources.ping")
            .send()
            .await
            .expect("request")
    }

    /// Waits until `/readyz` answers 200 (the schema is migrated).
    pub async fn ready(&self) {
        wait_ready(&self.client, &self.url("/readyz")).await;
    }

    pub async fn count(&self) -> i64 {
        count(&self.db).await
    }

    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
    }
}

/// pact-contactlog serving `db`, configured by `env` on top of defaults.
pub async fn spawn(db: Database, env: &[(&str, &str)]) -> TestApp {
    let vars: HashMap<&str, &str> = env.iter().copied().collect();
    let (config, _) = Config::from_env(&vars).expect("valid test configuration");
    let (state, _writer) = AppState::with_database(config, db.clone());
    let app = TestApp {
        served: Served::start(app(state)).await,
        client: reqwest::Client::new(),
        db,
    };
    app.ready().await;
    app
}

pub async fn count(db: &Database) -> i64 {
    let (rows,): (i64,) = db
        .query("SELECT COUNT(*) FROM contactlist")
        .fetch_one()
        .await
        .expect("count");
    rows
}

/// Translated data for a contact between `a` and `b`, observed `days_ago`.
pub fn contact(a: i64, b: i64, days_ago: i64) -> serde_json::Value {
    let observed = chrono::Utc::now() - chrono::Duration::days(days_ago);
    serde_json::json!({
        "mmid1": a, "mmid2": b, "lat": 44.9778, "lon": -93.265,
        "observed_at": observed.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "street": "350 S 5th St", "city": "Minneapolis", "state": "MN",
        "zipcode": "55415", "country": "US", "geocoder": "offline"
    })
}
