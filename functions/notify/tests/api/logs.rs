//! docs/privacy.md's rule for logs, held by the real binary: at `info`,
//! pact-notify logs what it did and how many, never a person id, a case id
//! or a reference; at `debug`, ids appear.

use std::time::Duration;

use pact_runtime::case::CASE_REPORTED;
use pact_runtime::database::{Database, DatabaseConfig, DatabaseUrl};
use pact_runtime::testing::{CaptureSink, Reply, spawn_with_log, terminate};

use crate::helpers::{case, noon, seed, today};

/// Runs pact-notify at `level` on a fresh SQLite file, reports a case of
/// person 4242421 (reference `ref-7aa1`) who met 7373731 and 7373732, and
/// returns its whole log, JSON lines.
async fn log_of_a_case(level: &str) -> (String, String) {
    let dir = tempfile_dir();
    let url = format!("sqlite://{}/pact.db", dir.display());
    let sink = CaptureSink::start(Reply::Status(202)).await;
    let log_path = dir.join("log");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pact-notify"));
    command
        .env_clear()
        .env("DATABASE_URL", &url)
        .env("K_SINK", &sink.url)
        .env("PACT_LOG", level);
    let (mut child, base) = spawn_with_log(command, &log_path).await;
    let client = reqwest::Client::new();
    let db = Database::connect_lazy(&DatabaseConfig {
        url: DatabaseUrl::parse(&url).expect("url"),
        max_connections: 1,
    });
    let onset = today();
    seed(&db, 4_242_421, 7_373_731, noon(onset, 0), "Minneapolis").await;
    seed(&db, 7_373_732, 4_242_421, noon(onset, 0), "Minneapolis").await;
    db.close().await;
    let mut data = case(4_242_421, onset);
    data["reference"] = "ref-7aa1".into();
    let case_id = data["case_id"].as_str().expect("id").to_owned();
    let response = client
        .post(format!("{base}/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", &case_id)
        .header("ce-source", "/pact/query")
        .header("ce-type", CASE_REPORTED)
        .header("content-type", "application/json")
        .body(data.to_string())
        .send()
        .await
        .expect("report");
    assert_eq!(response.status(), 200);
    sink.wait_for_requests(2, Duration::from_secs(10)).await;
    terminate(&mut child).await;
    let text = std::fs::read_to_string(&log_path).expect("the log");
    let _ = std::fs::remove_dir_all(&dir);
    (text, case_id)
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pact-notify-log-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

#[tokio::test]
async fn logs_above_debug_hold_no_ids() {
    let (text, case_id) = log_of_a_case("info").await;
    assert!(text.contains("case planned"), "{text}");
    for secret in [
        case_id.as_str(),
        "4242421",
        "7373731",
        "7373732",
        "ref-7aa1",
    ] {
        assert!(!text.contains(secret), "{secret} in the info log:\n{text}");
    }
    // The same run at debug shows them: the test above can fail.
    let (text, case_id) = log_of_a_case("debug").await;
    assert!(text.contains(&case_id), "{text}");
}
