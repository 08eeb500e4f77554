//! The real binary: start-up errors, and SIGTERM with requests in flight.

use std::process::Command;
use std::time::Duration;

use pact_runtime::testing::{CaptureSink, Reply, spawn_function};

#[test]
fn bad_configuration_stops_start_up_naming_the_variables() {
    let output = Command::new(env!("CARGO_BIN_EXE_pact-producer"))
        .env("PORT", "eighty")
        .env("K_SINK", "ftp://nowhere")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PORT=\"eighty\""), "{stderr}");
    assert!(stderr.contains("K_SINK=\"ftp://nowhere\""), "{stderr}");
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_exits_0() {
    let sink = CaptureSink::start(Reply::Slow(Duration::from_millis(800), 202)).await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pact-producer"));
    command
        .env("K_SINK", &sink.url)
        .env("PACT_SHUTDOWN_GRACE_S", "10");
    let (mut child, port) = spawn_function(command).await;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let in_flight: Vec<_> = (0..4)
        .map(|i| {
            let request = client
                .post(format!(
                    "{base}/pact/producer?message={},{},44.9,-93.2",
                    i + 1,
                    i + 2
                ))
                .send();
            tokio::spawn(request)
        })
        .collect();
    sink.wait_for_requests(4, Duration::from_secs(5)).await;
    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    for request in in_flight {
        let response = request.await.expect("join").expect("answered");
        assert_eq!(response.status(), 202, "in-flight requests complete");
    }
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits within the grace period")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(sink.accepted().len(), 4);
}
