//! A database that is down: 503 with Retry-After, never a crash; one that
//! stalls: 504 with Retry-After after `PACT_QUERY_READ_TIMEOUT_MS`.

use pact_runtime::config::EnvReader;
use pact_runtime::database::{Database, DatabaseConfig};

use crate::both_backends;
use crate::helpers::{problem, spawn_open, spawn_with_env};

both_backends!(check_a_closed_pool_is_a_503, check_a_stalled_read_is_a_504);

const DATA: [&str; 5] = [
    "/findcontactbystate?state=MN",
    "/findcontactbycountry?country=US",
    "/contacts/1",
    "/exposures/1",
    "/stats",
];

async fn assert_unavailable(response: reqwest::Response, path: &str) {
    assert_retry_later(response, path, 503).await;
}

async fn assert_retry_later(response: reqwest::Response, path: &str, status: u16) {
    assert_eq!(response.status(), status, "{path}");
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().map(str::to_owned));
    assert!(
        matches!(retry_after, Some(Ok(ref s)) if s.parse::<u64>().is_ok_and(|s| s >= 1)),
        "{path}"
    );
    let body = problem(response).await;
    assert_eq!(body["status"], status);
}

/// Another connection holds the table locked: every data endpoint answers
/// 504 with Retry-After once the read timeout passes, and serves again when
/// the lock goes.
async fn check_a_stalled_read_is_a_504(db: Database) {
    let app = spawn_with_env(
        db.clone(),
        &[
            ("PACT_QUERY_AUTH", "none"),
            ("PACT_QUERY_READ_TIMEOUT_MS", "300"),
        ],
    )
    .await;
    app.wait_ready().await;
    let lock = match &db {
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await.expect("begin");
            sqlx::query("LOCK TABLE contactlist IN ACCESS EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .expect("lock");
            Lock::Postgres(tx)
        }
        Database::Sqlite(pool) => {
            // An exclusive lock keeps readers out outside WAL mode, which
            // the test databases are in.
            let mut conn = pool.acquire().await.expect("connection");
            sqlx::query("BEGIN EXCLUSIVE")
                .execute(&mut *conn)
                .await
                .expect("lock");
            Lock::Sqlite(conn)
        }
    };
    for path in DATA {
        let started = std::time::Instant::now();
        let response = app.get(path).await;
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{path}"
        );
        assert_retry_later(response, path, 504).await;
    }
    match lock {
        Lock::Postgres(tx) => tx.rollback().await.expect("unlock"),
        Lock::Sqlite(mut conn) => {
            sqlx::query("ROLLBACK")
                .execute(&mut *conn)
                .await
                .expect("unlock");
        }
    }
    for path in DATA {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
}

enum Lock {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Sqlite(sqlx::pool::PoolConnection<sqlx::Sqlite>),
}

/// The database goes away while the server runs.
async fn check_a_closed_pool_is_a_503(db: Database) {
    let app = spawn_open(db.clone()).await;
    assert_eq!(app.get("/stats").await.status(), 200);
    db.close().await;
    for path in DATA {
        assert_unavailable(app.get(path).await, path).await;
    }
    assert_eq!(app.get("/readyz").await.status(), 503);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// PostgreSQL is not there at all at start-up: the server starts anyway
/// (the pool is lazy), is not ready, and answers 503.
#[tokio::test]
async fn an_unreachable_database_is_a_503() {
    let env: std::collections::HashMap<&str, &str> =
        [("DATABASE_URL", "postgres://postgres@127.0.0.1:1/pact")]
            .into_iter()
            .collect();
    let mut reader = EnvReader::new(&env);
    let config = DatabaseConfig::read(&mut reader);
    reader.finish().expect("valid");
    let app = spawn_with_env(
        Database::connect_lazy(&config),
        &[("PACT_QUERY_AUTH", "none")],
    )
    .await;
    for path in DATA {
        assert_unavailable(app.get(path).await, path).await;
    }
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}
