//! The real binary: many instances scaling from zero on one empty database
//! migrate it once; SIGTERM flushes and exits 0.

use std::time::Duration;

use pact_runtime::testing::spawn_function;

use crate::helpers::wait_ready;

#[sqlx::test(migrations = false)]
async fn twenty_instances_start_at_once_and_migrate_once(pool: sqlx::PgPool) {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .expect("name");
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    // All twenty start at once, as when a Knative Service scales from zero.
    let started = futures_util::future::join_all((0..20).map(|_| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pact-contactlog"));
        command
            .env("DATABASE_URL", &url)
            .env("PACT_DB_MAX_CONNECTIONS", "2");
        spawn_function(command)
    }))
    .await;
    let (mut children, ports): (Vec<_>, Vec<u16>) = started.into_iter().unzip();
    let client = reqwest::Client::new();
    for port in &ports {
        wait_ready(&client, &format!("http://127.0.0.1:{port}/readyz")).await;
    }
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .expect("migrations");
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../migrations/postgres"
    ))
    .expect("migrations folder")
    .count() as i64;
    assert_eq!(applied, files, "each migration applied exactly once");

    // Every instance writes; then all stop on SIGTERM with exit code 0.
    for (i, port) in ports.iter().enumerate() {
        let response = client
            .post(format!("http://127.0.0.1:{port}/"))
            .header("content-type", "text/csv")
            .header("ce-specversion", "1.0")
            .header("ce-id", format!("p-{i}"))
            .header("ce-source", "/t")
            .header("ce-type", "dev.pact.contact.translated")
            .body(format!("{},{},Main St,Duluth,MN,55802,US", i + 1, i + 100))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
    }
    for child in &children {
        let pid = child.id().expect("pid").to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
    }
    for child in &mut children {
        let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
            .await
            .expect("exits")
            .expect("wait");
        assert_eq!(status.code(), Some(0));
    }
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contactlist")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 20);
}
