//! Time limits on PostgreSQL: a stalled database (a table lock held by
//! another session) costs a request a 503 with `Retry-After` within the
//! commit limit, stores nothing, and a retry stores each event once; a late
//! commit is a duplicate on retry; `/healthz` fails while the writer is
//! stalled with work waiting; every pooled connection has the session limits.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pact_runtime::config::EnvReader;
use pact_runtime::database::{Database, DatabaseConfig};
use serde_json::Value;

use crate::helpers::{TestApp, contact, spawn};

/// A pool of our own (not the one `#[sqlx::test]` made) on the test's
/// database, so its connections get the session limits of `env`.
async fn own_pool(pool: &sqlx::PgPool, env: &[(&str, &str)]) -> Database {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .expect("name");
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let mut vars: HashMap<&str, &str> = env.iter().copied().collect();
    vars.insert("DATABASE_URL", &url);
    let mut reader = EnvReader::new(&vars);
    let config = DatabaseConfig::read(&mut reader);
    reader.finish().expect("valid database settings");
    Database::connect_lazy(&config)
}

/// Holds `contactlist` in ACCESS EXCLUSIVE mode until rolled back: every
/// insert (and every read) of the table waits.
async fn lock_table(pool: &sqlx::PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut blocker = pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE contactlist IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .expect("lock");
    blocker
}

async fn rows(pool: &sqlx::PgPool) -> (i64, i64) {
    sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT (event_source, event_id)) FROM contactlist")
        .fetch_one(pool)
        .await
        .expect("count")
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds")
}

#[sqlx::test(migrations = false)]
async fn a_stalled_commit_is_a_503_in_time_and_the_retry_stores_each_event_once(
    pool: sqlx::PgPool,
) {
    // The statement limit is far above the lock's hold: what answers the
    // requests is the commit limit, and the abandoned inserts run on after
    // the lock is gone, to be rolled back.
    let db = own_pool(&pool, &[("PACT_DB_STATEMENT_TIMEOUT_MS", "30000")]).await;
    let app = Arc::new(spawn(db, &[("PACT_DB_COMMIT_TIMEOUT_MS", "500")]).await);
    let mut blocker = lock_table(&pool).await;

    const EVENTS: i64 = 6;
    let started = Instant::now();
    let requests: Vec<_> = (0..EVENTS)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let response = app
                    .send("/stall", &format!("s-{i}"), contact(i + 1, i + 100, 0))
                    .await;
                (response, started.elapsed())
            })
        })
        .collect();
    for request in requests {
        let (response, elapsed) = request.await.expect("join");
        assert_eq!(response.status(), 503);
        assert!(retry_after(&response) >= 1);
        assert!(
            elapsed < Duration::from_secs(4),
            "answered after {elapsed:?}, limit 500 ms"
        );
        let problem: Value = response.json().await.expect("problem");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("500 ms")),
            "{problem}"
        );
    }
    let during: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contactlist")
        .fetch_one(&mut *blocker)
        .await
        .expect("count under the lock");
    assert_eq!(during, 0, "nothing stored while stalled");
    assert!(app.metric("pact_db_commit_timeouts_total").await >= 1.0);
    blocker.rollback().await.expect("unlock");

    // The abandoned transactions finish their inserts now and roll back;
    // give them the time, then make sure none of it became a row.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rows(&pool).await, (0, 0), "abandoned inserts rolled back");

    // The source retries every event until it is acknowledged, then once more.
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..EVENTS {
        loop {
            let response = app
                .send("/stall", &format!("s-{i}"), contact(i + 1, i + 100, 0))
                .await;
            if response.status() == 200 {
                break;
            }
            assert_eq!(response.status(), 503);
            assert!(Instant::now() < deadline, "event {i} never stored");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for i in 0..EVENTS {
        let response = app
            .send("/stall", &format!("s-{i}"), contact(i + 1, i + 100, 0))
            .await;
        let body: Value = response.json().await.expect("json");
        assert_eq!(body, serde_json::json!({"stored": 0, "duplicates": 1}));
    }
    assert_eq!(
        rows(&pool).await,
        (EVENTS, EVENTS),
        "each event exactly once"
    );
}

#[sqlx::test(migrations = false)]
async fn a_commit_that_lands_after_its_time_limit_is_a_duplicate_on_retry(pool: sqlx::PgPool) {
    let db = own_pool(&pool, &[]).await;
    let app = spawn(db, &[("PACT_DB_COMMIT_TIMEOUT_MS", "300")]).await;
    // A deferred trigger makes COMMIT itself take a second: the writer gives
    // up while the server is committing, and the row lands late.
    sqlx::raw_sql(
        "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS \
           $$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$; \
         CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON contactlist \
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();",
    )
    .execute(&pool)
    .await
    .expect("slow commit trigger");

    let response = app.send("/late", "late-1", contact(1, 2, 0)).await;
    assert_eq!(response.status(), 503, "not acknowledged before the commit");
    assert!(retry_after(&response) >= 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while rows(&pool).await.0 == 0 {
        assert!(Instant::now() < deadline, "the late commit never landed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let response = app.send("/late", "late-1", contact(1, 2, 0)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"stored": 0, "duplicates": 1}));
    assert_eq!(rows(&pool).await, (1, 1), "the retry did not double it");
}

async fn healthz(app: &TestApp) -> u16 {
    app.client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz")
        .status()
        .as_u16()
}

#[sqlx::test(migrations = false)]
async fn healthz_fails_while_the_writer_is_stalled_with_work_waiting(pool: sqlx::PgPool) {
    let db = own_pool(&pool, &[("PACT_DB_STATEMENT_TIMEOUT_MS", "2000")]).await;
    let app = Arc::new(
        spawn(
            db,
            &[
                ("PACT_DB_COMMIT_TIMEOUT_MS", "300"),
                ("PACT_DB_STALL_S", "1"),
            ],
        )
        .await,
    );
    assert_eq!(healthz(&app).await, 200, "idle is live");
    let response = app.send("/h", "h-warm", contact(1, 2, 0)).await;
    assert_eq!(response.status(), 200);

    let blocker = lock_table(&pool).await;
    let locked = Instant::now();
    // Senders that retry at once, as a source with a backlog does: work
    // keeps waiting for the writer.
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|i| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let response = app
                        .send("/h", &format!("h-{i}"), contact(i + 10, i + 20, 0))
                        .await;
                    statuses.push(response.status().as_u16());
                }
                statuses
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen_live_while_stalled = false;
    loop {
        let status = healthz(&app).await;
        if status == 503 {
            break;
        }
        assert_eq!(status, 200);
        if locked.elapsed() < Duration::from_millis(500) {
            seen_live_while_stalled = true;
        }
        assert!(Instant::now() < deadline, "/healthz never failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed_after = locked.elapsed();
    assert!(
        failed_after >= Duration::from_secs(1),
        "failed after {failed_after:?}, before the 1 s stall limit"
    );
    assert!(seen_live_while_stalled, "a short stall is still live");
    let problem: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("problem");
    assert_eq!(problem["status"], 503);

    blocker.rollback().await.expect("unlock");
    let deadline = Instant::now() + Duration::from_secs(15);
    while healthz(&app).await != 200 {
        assert!(Instant::now() < deadline, "/healthz never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each sender's event gets stored once the writer moves again.
    let deadline = Instant::now() + Duration::from_secs(15);
    while rows(&pool).await.0 < 5 {
        assert!(
            Instant::now() < deadline,
            "the senders' events were not stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        let statuses = sender.await.expect("join");
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 503),
            "{statuses:?}"
        );
        assert!(statuses.contains(&503), "stalled requests were refused");
    }
    assert_eq!(healthz(&app).await, 200);
    assert_eq!(rows(&pool).await, (5, 5));
}

#[sqlx::test(migrations = false)]
async fn every_pooled_connection_has_the_session_time_limits(pool: sqlx::PgPool) {
    async fn limits(db: &Database, connections: usize) -> Vec<(String, String, String)> {
        let Database::Postgres(pool) = db else {
            panic!("not PostgreSQL");
        };
        // Hold them all at once, so each is a different pooled connection.
        let mut held = Vec::new();
        for _ in 0..connections {
            held.push(pool.acquire().await.expect("acquire"));
        }
        let mut seen = Vec::new();
        for connection in &mut held {
            seen.push(
                sqlx::query_as(
                    "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), \
                     current_setting('idle_in_transaction_session_timeout')",
                )
                .fetch_one(&mut **connection)
                .await
                .expect("settings"),
            );
        }
        seen
    }
    let triple = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());

    // The defaults, after the migrations ran on a connection with longer
    // limits of their own: none of those reached the pool.
    let db = own_pool(&pool, &[("PACT_DB_MAX_CONNECTIONS", "3")]).await;
    db.migrate().await.expect("migrate");
    assert_eq!(limits(&db, 3).await, vec![triple("5s", "2500ms", "5s"); 3]);
    let Database::Postgres(default_pool) = &db else {
        unreachable!()
    };
    let shown: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(default_pool)
        .await
        .expect("show");
    assert_eq!(shown, "5s");

    let db = own_pool(
        &pool,
        &[
            ("PACT_DB_MAX_CONNECTIONS", "2"),
            ("PACT_DB_STATEMENT_TIMEOUT_MS", "1234"),
        ],
    )
    .await;
    assert_eq!(
        limits(&db, 2).await,
        vec![triple("1234ms", "617ms", "1234ms"); 2]
    );

    // And the server enforces it.
    let db = own_pool(&pool, &[("PACT_DB_STATEMENT_TIMEOUT_MS", "200")]).await;
    let Database::Postgres(short) = &db else {
        unreachable!()
    };
    let started = Instant::now();
    let error = sqlx::query("SELECT pg_sleep(10)")
        .execute(short)
        .await
        .expect_err("cancelled by statement_timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("57014"), "{error}");
}
