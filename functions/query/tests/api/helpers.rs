//! Spawning pact-query on a free port over a test database, and seeding
//! the contact log with plain SQL (through `pact_runtime::sql`, as the
//! functions write it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};
use pact_query::{AppState, Config};
use pact_runtime::database::Database;
pub use pact_runtime::testing::problem;
use pact_runtime::testing::{Served, wait_ready};

/// Runs one test body on PostgreSQL and on SQLite: `both_backends!(check_x)`
/// makes `check_x::postgres` and `check_x::sqlite`, each on a fresh,
/// migrated database.
#[macro_export]
macro_rules! both_backends {
    ($($check:ident),+ $(,)?) => {$(
        mod $check {
            #[sqlx::test(migrations = "../../migrations/postgres")]
            async fn postgres(pool: sqlx::PgPool) {
                super::$check(pact_runtime::database::Database::Postgres(pool)).await;
            }

            #[sqlx::test(migrations = "../../migrations/sqlite")]
            async fn sqlite(pool: sqlx::SqlitePool) {
                super::$check(pact_runtime::database::Database::Sqlite(pool)).await;
            }
        }
    )+};
}

/// A token the authenticated test servers accept.
pub const TOKEN: &str = "test-token-0123456789abcdef";

pub struct TestApp {
    pub served: Served,
    pub client: reqwest::Client,
    /// Sent as `Authorization: Bearer` by [`TestApp::get`].
    pub token: Option<String>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        self.served.url(path)
    }

    /// `GET path`, with the app's token when it has one.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    /// `GET path` expecting 200 and JSON.
    pub async fn json(&self, path: &str) -> serde_json::Value {
        let response = self.get(path).await;
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("JSON body")
    }

    /// Waits until `/readyz` answers 200 (the schema task has run).
    pub async fn wait_ready(&self) {
        wait_ready(&self.client, &self.url("/readyz")).await;
    }
}

/// pact-query with open access over `db`, ready.
pub async fn spawn_open(db: Database) -> TestApp {
    let app = spawn_with_env(db, &[("PACT_QUERY_AUTH", "none")]).await;
    app.wait_ready().await;
    app
}

/// pact-query requiring [`TOKEN`] over `db`, ready; the client sends it.
pub async fn spawn_with_token(db: Database) -> TestApp {
    let mut app = spawn_with_env(db, &[("PACT_QUERY_TOKENS", TOKEN)]).await;
    app.wait_ready().await;
    app.token = Some(TOKEN.into());
    app
}

/// pact-query over `db` with exactly this environment (not waited for).
pub async fn spawn_with_env(db: Database, env: &[(&str, &str)]) -> TestApp {
    let vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let (config, _) = Config::from_env(&vars).expect("valid test configuration");
    TestApp {
        served: Served::start(pact_query::app(AppState::new(config, db))).await,
        client: reqwest::Client::new(),
        token: None,
    }
}

/// One contact to store.
#[derive(Debug, Clone)]
pub struct Seed {
    pub mmid1: i64,
    pub mmid2: i64,
    pub observed_at: DateTime<Utc>,
    pub city: &'static str,
    pub state: &'static str,
    pub country: &'static str,
}

impl Seed {
    /// A contact in Minneapolis, MN, US at `observed_at`.
    pub fn new(mmid1: i64, mmid2: i64, observed_at: DateTime<Utc>) -> Self {
        Self {
            mmid1,
            mmid2,
            observed_at,
            city: "Minneapolis",
            state: "MN",
            country: "US",
        }
    }

    pub fn place(mut self, city: &'static str, state: &'static str, country: &'static str) -> Self {
        self.city = city;
        self.state = state;
        self.country = country;
        self
    }
}

/// `hours` before now.
pub fn hours_ago(hours: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::hours(hours)
}

static EVENT_IDS: AtomicU64 = AtomicU64::new(1);

/// Inserts the contacts as pact-contactlog would; returns their ids in order.
pub async fn seed(db: &Database, contacts: &[Seed]) -> Vec<i64> {
    const INSERT: &str = "INSERT INTO contactlist \
        (mmid1, mmid2, street, city, state, zipcode, country, lat, lon, observed_at, \
         geocoder, event_source, event_id) \
        VALUES ($1, $2, '', $3, $4, '55415', $5, 44.9778, -93.265, $6, 'offline', '/test', $7) \
        RETURNING id";
    let mut ids = Vec::with_capacity(contacts.len());
    for c in contacts {
        let event_id = EVENT_IDS.fetch_add(1, Ordering::Relaxed).to_string();
        let (id,): (i64,) = db
            .query(INSERT)
            .bind(c.mmid1)
            .bind(c.mmid2)
            .bind(c.city)
            .bind(c.state)
            .bind(c.country)
            .bind(c.observed_at)
            .bind(&event_id)
            .fetch_one()
            .await
            .expect("insert");
        ids.push(id);
    }
    ids
}

/// The `rel="next"` target of a `Link` header, if any.
pub fn next_link(response: &reqwest::Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().ok()?;
    let target = link.strip_prefix('<')?.split_once(">; rel=\"next\"")?.0;
    Some(target.to_owned())
}

/// Follows `next_cursor` from `first` (a path with a query) to the last
/// page; every page's `items`, in order.
pub async fn all_pages(app: &TestApp, first: &str) -> Vec<Vec<serde_json::Value>> {
    let mut pages = Vec::new();
    let mut path = first.to_owned();
    loop {
        let page = app.json(&path).await;
        pages.push(page["items"].as_array().expect("items").clone());
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                assert!(pages.len() < 1000, "pagination does not end");
                path = format!("{first}&cursor={cursor}");
            }
            None => return pages,
        }
    }
}
