//! The database going away mid-load: only 503s, then recovery, and every
//! event answered 2xx is stored exactly once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pact_runtime::database::{Database, DatabaseConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::helpers::{contact, spawn};

/// A TCP proxy to PostgreSQL that can cut every connection and refuse new
/// ones, standing in for a database that goes down.
struct Proxy {
    address: SocketAddr,
    up: Arc<AtomicBool>,
    cut: Arc<Notify>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: connection closed at once
                }
                let cut = cut2.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        () = cut.notified() => {}
                    }
                });
            }
        });
        Self { address, up, cut }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[sqlx::test(migrations = false)]
async fn database_outage_mid_load_loses_and_doubles_nothing(pool: sqlx::PgPool) {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .expect("name");
    let proxy = Proxy::start("127.0.0.1:5432".parse().expect("address")).await;
    let url = format!("postgres://postgres@{}/{name}", proxy.address);
    let env: std::collections::HashMap<&str, &str> =
        [("DATABASE_URL", url.as_str())].into_iter().collect();
    let mut reader = pact_runtime::config::EnvReader::new(&env);
    let config = DatabaseConfig::read(&mut reader);
    let app = Arc::new(spawn(Database::connect_lazy(&config), &[]).await);

    const EVENTS: i64 = 300;
    let statuses = Arc::new(std::sync::Mutex::new(Vec::new()));
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));
    let next = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (app, statuses, acknowledged, next) = (
                app.clone(),
                statuses.clone(),
                acknowledged.clone(),
                next.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= EVENTS {
                        return;
                    }
                    // Like an event source: retry until 2xx, within a deadline.
                    let deadline = Instant::now() + Duration::from_secs(30);
                    loop {
                        let response = app
                            .send("/t", &format!("o-{i}"), contact(i + 1, i + 1000, 0))
                            .await;
                        let status = response.status().as_u16();
                        statuses.lock().expect("lock").push(status);
                        if status == 200 {
                            acknowledged.lock().expect("lock").push(i);
                            break;
                        }
                        assert!(Instant::now() < deadline, "event {i} never stored");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect();

    // Let some load through, then take the database away for a while.
    while next.load(Ordering::SeqCst) < EVENTS / 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    proxy.down();
    let not_ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.up();
    for worker in workers {
        worker.await.expect("worker");
    }

    assert_eq!(not_ready.status(), 503, "readyz follows the database");
    let statuses = statuses.lock().expect("lock").clone();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "only 200 and 503: {statuses:?}"
    );
    assert!(statuses.contains(&503), "the outage was seen");
    let acknowledged = acknowledged.lock().expect("lock").len() as i64;
    assert_eq!(acknowledged, EVENTS);
    let distinct: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT event_id) FROM contactlist")
        .fetch_one(&pool)
        .await
        .expect("count");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contactlist")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(
        (rows, distinct),
        (EVENTS, EVENTS),
        "none lost, none doubled"
    );
}

#[sqlx::test(migrations = false)]
async fn a_full_queue_is_refused_with_503_and_nothing_is_lost(pool: sqlx::PgPool) {
    let app = Arc::new(
        spawn(
            Database::Postgres(pool.clone()),
            &[("PACT_COMMIT_QUEUE", "2"), ("PACT_COMMIT_MAX_ROWS", "1")],
        )
        .await,
    );
    // Hold the table so the writer's first commit waits, and the queue fills.
    let mut blocker = pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE contactlist IN EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .expect("lock");
    let requests: Vec<_> = (0..10)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.send("/t", &format!("q-{i}"), contact(i + 1, i + 50, 0))
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.rollback().await.expect("unlock");
    let mut accepted = 0;
    let mut refused = 0;
    for request in requests {
        let response = request.await.expect("join");
        match response.status().as_u16() {
            200 => accepted += 1,
            503 => {
                assert!(response.headers().contains_key("retry-after"));
                refused += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(refused > 0, "a full queue refuses at once");
    assert_eq!(
        crate::helpers::count(&app.db).await,
        accepted,
        "every 200 is stored"
    );
}
