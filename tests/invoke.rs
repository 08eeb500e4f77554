//! `pact invoke` against real function processes over real HTTP: reply mode,
//! sink mode, problems, duplicates, extensions, unreachable URLs, usage errors.

use std::process::Stdio;
use std::time::Duration;

use pact_runtime::cloudevents::AttributesReader;
use pact_runtime::testing::{CaptureSink, Reply, spawn_function, wait_ready};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

const PACT: &str = env!("CARGO_BIN_EXE_pact");

/// What one `pact invoke` run left behind.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The `--json` outcome.
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {self:?}"))
    }
}

async fn invoke(args: &[&str]) -> Run {
    invoke_with_stdin(args, None).await
}

async fn invoke_with_stdin(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(PACT)
        .arg("invoke")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn pact invoke");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("pact invoke finished within 30 s")
        .expect("pact invoke ran");
    let run = Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !run.stderr.contains("panicked"),
        "pact invoke panicked: {run:?}"
    );
    run
}

/// `pact function <name>` on a free port, with extra environment.
async fn function(name: &str, env: &[(&str, &str)]) -> (Child, String) {
    let mut command = Command::new(PACT);
    command
        .args(["function", name])
        .env_remove("K_SINK")
        .env_remove("K_CE_OVERRIDES");
    for (key, value) in env {
        command.env(key, value);
    }
    let (child, port) = spawn_function(command).await;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::Client::new(), &format!("{base}/readyz")).await;
    (child, base)
}

/// pact-translation's id for the event `pact invoke` sent with `id` (the
/// UUIDv5 of `/pact/invoke`, a line feed, `id`; DESIGN.md section 3).
fn translated_id(id: &str) -> String {
    let name = format!("/pact/invoke\n{id}");
    uuid::Uuid::new_v5(&pact_runtime::identity::NAMESPACE, name.as_bytes()).to_string()
}

fn assert_translated(outcome: &Value, id: &str) {
    assert_eq!(outcome["status"], 200, "{outcome}");
    assert_eq!(outcome["problem"], Value::Null, "{outcome}");
    assert_eq!(outcome["body"], Value::Null, "{outcome}");
    let event = &outcome["event"];
    assert_eq!(event["type"], "dev.pact.contact.translated", "{outcome}");
    assert_eq!(event["source"], "/pact/translation", "{outcome}");
    assert_eq!(event["id"], translated_id(id), "{outcome}");
    assert_eq!(event["partitionkey"], "1-2", "{outcome}");
    assert_eq!(event["data"]["city"], "Minneapolis", "{outcome}");
    assert_eq!(event["data"]["state"], "MN", "{outcome}");
    assert_eq!(event["data"]["country"], "US", "{outcome}");
    assert_eq!(event["data"]["mmid1"], 1, "{outcome}");
    assert_eq!(event["data"]["mmid2"], 2, "{outcome}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_defaults_send_a_valid_contact_to_translation_and_print_the_reply() {
    let (_translation, url) = function("translation", &[]).await;

    let run = invoke(&[&url, "--id", "invoke-binary-1", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_translated(&run.json(), "invoke-binary-1");

    // What a person reads: like `kn func invoke`.
    let run = invoke(&[&url, "--id", "invoke-text-1"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let id_line = format!("  id: {}\n", translated_id("invoke-text-1"));
    for expected in [
        "HTTP 200 OK\n",
        "Context Attributes,\n",
        "  type: dev.pact.contact.translated\n",
        id_line.as_str(),
        "Extensions,\n  partitionkey: 1-2\n",
        "Data,\n  {\n    \"mmid1\": 1,\n    \"mmid2\": 2,\n",
        "    \"city\": \"Minneapolis\",\n",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} missing: {run:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn structured_mode_gets_the_same_reply() {
    let (_translation, url) = function("translation", &[]).await;
    let run = invoke(&[
        &url,
        "--mode",
        "structured",
        "--id",
        "invoke-structured-1",
        "--json",
    ])
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_translated(&run.json(), "invoke-structured-1");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_original_csv_line_can_come_from_stdin() {
    let (_translation, url) = function("translation", &[]).await;
    let run = invoke_with_stdin(
        &[
            &url,
            "--data-file",
            "-",
            "--content-type",
            "text/csv",
            "--id",
            "invoke-csv-1",
            "--json",
        ],
        Some("1,2,44.9778,-93.265\n"),
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_translated(&run.json(), "invoke-csv-1");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_data_prints_the_problem_and_exits_1() {
    let (_translation, url) = function("translation", &[]).await;
    let data = r#"{"mmid1":1,"mmid2":1,"lat":44.9778,"lon":-93.265}"#;

    let run = invoke(&[&url, "--data", data, "--json"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let outcome = run.json();
    assert_eq!(outcome["status"], 422, "{outcome}");
    assert_eq!(outcome["event"], Value::Null, "{outcome}");
    let problem = &outcome["problem"];
    assert_eq!(problem["status"], 422, "{outcome}");
    assert_eq!(problem["field"], "mmid2", "{outcome}");
    let detail = problem["detail"].as_str().expect("a detail");
    assert!(detail.contains("must differ from mmid1"), "{outcome}");

    let run = invoke(&[&url, "--data", data, "--mode", "structured"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    for expected in [
        "HTTP 422 Unprocessable Entity\n",
        "Problem,\n",
        "  status: 422\n",
        "  detail: mmid2: must differ from mmid1",
        "  field: mmid2\n",
    ] {
        assert!(
            run.stdout.contains(expected),
            "{expected:?} missing: {run:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn extensions_reach_the_receiver_percent_encoded_in_binary_mode() {
    let sink = CaptureSink::start(Reply::Status(202)).await;
    for (n, mode) in ["binary", "structured"].into_iter().enumerate() {
        let id = format!("invoke-ext-{mode}");
        let run = invoke(&[
            &sink.url,
            "--mode",
            mode,
            "--id",
            &id,
            "-e",
            "foo=bar",
            "--extension",
            "team=Zürich 100%",
        ])
        .await;
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.starts_with("HTTP 202 Accepted\n"), "{run:?}");
        assert!(run.stdout.contains("Accepted, no reply event"), "{run:?}");

        let received = sink.wait_for_requests(n + 1, Duration::from_secs(5)).await;
        let event = received[n].event.clone().expect("a CloudEvent");
        let extension = |name: &str| event.extension(name).map(ToString::to_string);
        assert_eq!(event.id(), id);
        assert_eq!(event.ty(), "dev.pact.contact.untranslated");
        assert_eq!(event.source().to_string(), "/pact/invoke");
        assert_eq!(extension("foo").as_deref(), Some("bar"), "{mode}");
        assert_eq!(extension("team").as_deref(), Some("Zürich 100%"), "{mode}");
        assert_eq!(extension("partitionkey").as_deref(), Some("1-2"), "{mode}");
        if mode == "binary" {
            let header = received[n].headers.get("ce-team").expect("ce-team header");
            assert_eq!(header, "Z%C3%BCrich%20100%25");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn in_sink_mode_translation_answers_202_and_invoke_says_accepted() {
    let sink = CaptureSink::start(Reply::Status(202)).await;
    let (_translation, url) = function("translation", &[("K_SINK", sink.url.as_str())]).await;

    let run = invoke(&[&url, "--id", "invoke-sink-1", "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let outcome = run.json();
    assert_eq!(outcome["status"], 202, "{outcome}");
    assert_eq!(outcome["event"], Value::Null, "{outcome}");
    assert_eq!(outcome["problem"], Value::Null, "{outcome}");
    assert_eq!(outcome["body"], Value::Null, "{outcome}");

    let received = sink.wait_for_requests(1, Duration::from_secs(5)).await;
    let event = received[0].event.clone().expect("a CloudEvent");
    assert_eq!(event.id(), translated_id("invoke-sink-1"));
    assert_eq!(event.ty(), "dev.pact.contact.translated");

    let run = invoke(&[&url]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("HTTP 202 Accepted\n"), "{run:?}");
    assert!(run.stdout.contains("K_SINK"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn contactlog_stores_a_translated_contact_once() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database = format!("sqlite://{}/t.db", dir.path().display());
    let (_contactlog, url) = function("contactlog", &[("DATABASE_URL", database.as_str())]).await;
    let args = [
        url.as_str(),
        "--type",
        "dev.pact.contact.translated",
        "--id",
        "invoke-store-1",
        "--json",
    ];

    let first = invoke(&args).await;
    assert_eq!(first.code, 0, "{first:?}");
    let outcome = first.json();
    assert_eq!(outcome["status"], 200, "{outcome}");
    let body: Value =
        serde_json::from_str(outcome["body"].as_str().expect("a body")).expect("a JSON body");
    assert_eq!(body["stored"], 1, "{outcome}");
    assert_eq!(body["duplicates"], 0, "{outcome}");

    let second = invoke(&args).await;
    assert_eq!(second.code, 0, "{second:?}");
    let outcome = second.json();
    let body: Value =
        serde_json::from_str(outcome["body"].as_str().expect("a body")).expect("a JSON body");
    assert_eq!(body["stored"], 0, "{outcome}");
    assert_eq!(body["duplicates"], 1, "{outcome}");

    // Printed for a person: the JSON, indented.
    let third = invoke(&args[..args.len() - 1]).await;
    assert_eq!(third.code, 0, "{third:?}");
    assert!(third.stdout.starts_with("HTTP 200 OK\n"), "{third:?}");
    assert!(third.stdout.contains("  \"duplicates\": 1"), "{third:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_url_is_a_clear_failure() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let url = format!("http://127.0.0.1:{port}");

    let run = invoke(&[&url]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    assert!(run.stderr.contains("connection refused"), "{run:?}");
    assert!(run.stderr.contains(&url), "{run:?}");

    let run = invoke(&[&url, "--json"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let outcome = run.json();
    assert_eq!(outcome["status"], Value::Null, "{outcome}");
    assert!(
        outcome["error"]
            .as_str()
            .is_some_and(|e| e.contains("connection refused")),
        "{outcome}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_never_answers_times_out() {
    let sink = CaptureSink::start(Reply::Hang).await;
    let run = invoke(&[&sink.url, "--timeout", "300ms"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no reply within 300ms"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn non_2xx_without_a_problem_prints_the_status_and_exits_1() {
    let sink = CaptureSink::start(Reply::Status(503)).await;
    let run = invoke(&[&sink.url]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.starts_with("HTTP 503 Service Unavailable\n"),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2() {
    for (args, expected) in [
        (vec!["-e", "Foo=bar"], "Foo"),
        (vec!["-e", "foo-bar=x"], "foo-bar"),
        (vec!["-e", "foo"], "NAME=VALUE"),
        (vec!["-e", "id=x"], "--id"),
        (vec!["--mode", "batch"], "batch"),
        (vec!["--data", "{}", "--data-file", "x.json"], "--data"),
        (vec!["--timeout", "soon"], "--timeout"),
        (vec!["ftp://127.0.0.1/"], "http"),
        (
            vec!["--data-file", "/nonexistent/pact-invoke.json"],
            "/nonexistent/pact-invoke.json",
        ),
    ] {
        let run = invoke(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {run:?}");
    }
}
