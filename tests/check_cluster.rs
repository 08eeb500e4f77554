//! `pact check-cluster`, the real binary, against the fake Kubernetes API of
//! scripts/fake-kube-api.py (Knative objects Ready or not, missing, 403s,
//! and a scripted scale-out for the burst) whose pact-producer and
//! pact-query URLs point at a local pipeline started with `pact dev` on
//! PostgreSQL, so that the contacts really flow producer → translation →
//! contactlog → PostgreSQL → query.
//!
//! PostgreSQL: `DATABASE_URL` (CI sets it) or
//! postgres://postgres@127.0.0.1:5432/postgres; never skipped.

#[allow(dead_code)]
#[path = "pipeline/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use harness::{Dev, TestDatabase, temp_dir};
use pact::topology::Wiring;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PACT: &str = env!("CARGO_BIN_EXE_pact");
/// pact-query's token in these tests (the query started with tokens).
const TOKEN: &str = "check-cluster-test-token-0123456789";
/// No test may hang CI.
const TEST_LIMIT: Duration = Duration::from_secs(240);

async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("the test finished in time");
}

/// scripts/fake-kube-api.py on a port of its own, with its kubeconfig.
struct FakeApi {
    _child: Child,
    kubeconfig: PathBuf,
}

impl FakeApi {
    /// Starts the fake with `extra` options and waits for its first line
    /// (printed once it listens and the kubeconfig is written).
    async fn start(dir: &Path, extra: &[&str]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fake-kube-api.py");
        let kubeconfig = dir.join(format!("kubeconfig-{}", uuid::Uuid::now_v7().simple()));
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", "0", "--lifetime", "200", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs scripts/fake-kube-api.py");
        let stdout = child.stdout.take().expect("piped");
        let first = tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(stdout).lines().next_line(),
        )
        .await
        .expect("the fake API started within 20 s")
        .expect("its stdout")
        .expect("a first line");
        assert!(first.starts_with("fake Kubernetes API on"), "{first}");
        Self {
            _child: child,
            kubeconfig,
        }
    }

    /// The Kubernetes checks alone (`--skip-contacts --skip-burst`).
    async fn check_resources(&self, home: &Path) -> Run {
        let skip = ["--skip-contacts", "--skip-burst"];
        self.check(home, &skip, Duration::from_secs(30)).await
    }

    /// Runs `pact check-cluster --kubeconfig <the fake's> <extra>`.
    async fn check(&self, home: &Path, extra: &[&str], limit: Duration) -> Run {
        let kubeconfig = self.kubeconfig.to_str().expect("a UTF-8 path");
        let mut args = vec!["--kubeconfig", kubeconfig];
        args.extend(extra);
        check_cluster(home, &args, limit).await
    }
}

/// What one run of `pact check-cluster` did.
struct Run {
    output: std::process::Output,
    took: Duration,
    /// Its standard output, as text.
    stdout: String,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    fn stderr(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.output.stderr)
    }

    fn assert_line(&self, prefix: &str, wanted: &[&str]) {
        let found = self.stdout.lines().find(|l| l.starts_with(prefix));
        let Some(line) = found else {
            panic!(
                "no line starting {prefix:?}:\n{}{}",
                self.stdout,
                self.stderr()
            );
        };
        for w in wanted {
            assert!(
                line.contains(w),
                "{w:?} missing from {line:?}\n{}",
                self.stdout
            );
        }
    }

    /// The last line: `pact check-cluster: N passed, N failed, N skipped`.
    fn summary(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }

    fn count(&self, prefix: &str) -> usize {
        self.stdout
            .lines()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

/// Runs `pact check-cluster <args>` with a home of its own (so no default
/// token file and no ~/.kube/config), bounded by `limit`.
async fn check_cluster(home: &Path, args: &[&str], limit: Duration) -> Run {
    let started = Instant::now();
    let child = Command::new(PACT)
        .arg("check-cluster")
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("XDG_STATE_HOME")
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("pact check-cluster starts");
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("pact check-cluster did not end within {limit:?}"))
        .expect("pact check-cluster ran");
    let run = Run {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        output,
        took: started.elapsed(),
    };
    eprintln!(
        "--- pact check-cluster {args:?} ({:.1?})\n{}",
        run.took, run.stdout
    );
    run
}

/// A producer stand-in that answers 202 to everything and keeps nothing.
async fn dropping_producer() -> String {
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::ACCEPTED });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A second pact-query on the pipeline's database that wants [`TOKEN`], as
/// the cluster's does (pact dev's own allows open access); its URL.
async fn query_with_token(database_url: &str) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(PACT)
        .args(["function", "query"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("DATABASE_URL", database_url)
        .env("PACT_QUERY_TOKENS", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("pact function query starts");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return (child, url);
        }
        assert!(
            Instant::now() < deadline,
            "pact-query with tokens not ready in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn contacts_flow_through_the_local_pipeline_and_the_burst_scales() {
    bounded(async {
        let database = TestDatabase::create().await;
        let dir = temp_dir();
        let dev = Dev::start(
            &dir.path().join("dev"),
            Wiring::Explicit,
            Some(&database.url),
            &[],
        )
        .await;
        let (_query, query_url) = query_with_token(&database.url).await;
        let fake = FakeApi::start(
            dir.path(),
            &[
                // The scale-out in 12.5 s: pact-producer's pods come and
                // go while the burst watches, with room for a slow start.
                "--speed",
                "4",
                "--producer-url",
                &dev.url("producer"),
                "--query-url",
                &query_url,
            ],
        )
        .await;
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write the token");
        let chart = dir.path().join("burst.svg");
        let run = fake
            .check(
                dir.path(),
                &[
                    "--query-token-file",
                    token_file.to_str().expect("path"),
                    "--arrival-timeout",
                    "60s",
                    "--burst-duration",
                    "1s",
                    "--burst-concurrency",
                    "2",
                    "--burst-settle",
                    "30s",
                    "--chart",
                    chart.to_str().expect("path"),
                ],
                Duration::from_secs(150),
            )
            .await;
        assert_every_check_passed(&run, &dev, &query_url);
        assert!(chart.exists(), "the burst's chart");
        // The probes and the burst's contacts are rows now.
        let rows = harness::stored_event_ids(&dev.database_url).await;
        assert!(rows.len() >= 5, "{} rows", rows.len());

        the_wrong_token_is_refused_at_once(&fake, dir.path()).await;
        dropped_contacts_fail_when_the_arrival_timeout_ends(&fake, dir.path(), &token_file).await;
        dev.stop().await;
    })
    .await;
}

/// The run against the local pipeline: exit 0, a `PASS` line for every
/// object of knative/base, for the contacts and for the burst.
fn assert_every_check_passed(run: &Run, dev: &Dev, query_url: &str) {
    assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout, run.stderr());
    for name in [
        "pact-producer",
        "pact-translation",
        "pact-contactlog",
        "pact-query",
        "pact-notify",
    ] {
        run.assert_line(&format!("PASS  ksvc {name}: Ready"), &[]);
    }
    run.assert_line("PASS  ksvc pact-query", &[query_url]);
    for what in [
        "kafkasource pact-untranslated",
        "kafkasource pact-translated",
        "kafkasource pact-cases",
        "kafkasink pact-untranslated",
        "kafkasink pact-translated",
        "kafkasink pact-cases",
        "kafkasink pact-notifications",
        "kafkasink pact-deadletter",
        "sinkbinding pact-producer-sink",
        "sinkbinding pact-translation-sink",
        "sinkbinding pact-query-sink",
        "sinkbinding pact-notify-sink",
        "pingsource pact-retention",
    ] {
        run.assert_line(&format!("PASS  {what}: Ready"), &[]);
    }
    run.assert_line("SKIP  containersource", &["none"]);
    run.assert_line(
        "PASS  contacts: 5 of 5 contacts sent to",
        &[&dev.url("producer"), query_url, "end-to-end latency"],
    );
    run.assert_line(
        "PASS  burst: pact-producer 0 → ",
        &["→ 0", "back to zero", "pact-translation", "chart"],
    );
    assert!(
        run.summary().ends_with("20 passed, 0 failed, 1 skipped"),
        "{}",
        run.stdout
    );
    assert_eq!(run.count("FAIL"), 0);
    // The producer's ids are those derived from the probes' keys.
    assert!(
        !run.stderr().contains("section 3 derives"),
        "{}",
        run.stderr()
    );
}

/// The wrong token: refused at once, with the token's origin named.
async fn the_wrong_token_is_refused_at_once(fake: &FakeApi, dir: &Path) {
    let wrong = dir.join("wrong-token");
    std::fs::write(&wrong, "not-the-token-of-this-query").expect("write");
    let run = fake
        .check(
            dir,
            &[
                "--query-token-file",
                wrong.to_str().expect("path"),
                "--skip-burst",
            ],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(run.code(), Some(1), "{}", run.stdout);
    run.assert_line("FAIL  contacts", &["cannot be read", "401", "wrong-token"]);
    run.assert_line("SKIP  burst", &["--skip-burst"]);
}

/// Contacts accepted and dropped: nothing to read back; fails when
/// --arrival-timeout ends, not later.
async fn dropped_contacts_fail_when_the_arrival_timeout_ends(
    fake: &FakeApi,
    dir: &Path,
    token_file: &Path,
) {
    let dropping = dropping_producer().await;
    let run = fake
        .check(
            dir,
            &[
                "--producer-url",
                &dropping,
                "--query-token-file",
                token_file.to_str().expect("path"),
                "--arrival-timeout",
                "3s",
                "--skip-burst",
            ],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(run.code(), Some(1), "{}", run.stdout);
    run.assert_line(
        "FAIL  contacts: 0 of 5 contacts",
        &[&dropping, "after 3", "--arrival-timeout", "missing"],
    );
    assert!(run.took < Duration::from_secs(20), "took {:?}", run.took);
}

#[tokio::test]
async fn a_resource_not_ready_or_missing_fails_with_its_conditions() {
    bounded(async {
        let dir = temp_dir();
        // All Ready: the baseline passes.
        let fake = FakeApi::start(dir.path(), &[]).await;
        let run = fake.check_resources(dir.path()).await;
        assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout, run.stderr());
        assert_eq!(run.count("PASS"), 18, "{}", run.stdout);

        let message = "KafkaSink pact-translated is not ready: topic pact-translated not found";
        let not_ready = format!("kafkasources/pact-translated=SinkNotReady:{message}");
        let fake = FakeApi::start(
            dir.path(),
            &[
                "--not-ready",
                &not_ready,
                "--missing",
                "kafkasinks/pact-deadletter",
            ],
        )
        .await;
        let run = fake.check_resources(dir.path()).await;
        assert_eq!(run.code(), Some(1), "{}", run.stdout);
        run.assert_line(
            "FAIL  kafkasource pact-translated: not Ready:",
            &["Ready=False", "SinkNotReady", message],
        );
        run.assert_line(
            "FAIL  kafkasink pact-deadletter: missing",
            &["knative/overlays/<platform> creates it"],
        );
        run.assert_line("PASS  kafkasource pact-untranslated", &[]);
        assert_eq!(run.count("FAIL"), 2, "{}", run.stdout);
        assert!(
            run.summary().ends_with("16 passed, 2 failed, 3 skipped"),
            "{}",
            run.stdout
        );
    })
    .await;
}

#[tokio::test]
async fn the_broker_topology_is_checked_with_its_own_objects() {
    bounded(async {
        let dir = temp_dir();
        let fake = FakeApi::start(dir.path(), &["--topology", "broker"]).await;
        let skip = ["--skip-contacts", "--skip-burst", "--topology", "broker"];
        let run = fake.check(dir.path(), &skip, Duration::from_secs(30)).await;
        assert_eq!(run.code(), Some(0), "{}\n{}", run.stdout, run.stderr());
        for line in [
            "PASS  broker pact",
            "PASS  trigger pact-translation",
            "PASS  trigger pact-contactlog",
            "PASS  trigger pact-notify",
            "PASS  kafkasource pact-untranslated",
            "PASS  kafkasink pact-notifications",
            "PASS  sinkbinding pact-producer-sink",
            "PASS  sinkbinding pact-query-sink",
            "PASS  sinkbinding pact-notify-sink",
        ] {
            run.assert_line(line, &[]);
        }
        // 5 services, 1 KafkaSource, 2 KafkaSinks (the output's and the
        // dead letters'), 3 SinkBindings, 1 PingSource, the Broker and 3
        // Triggers.
        assert_eq!(run.count("PASS"), 16, "{}", run.stdout);

        // Checked as the explicit topology, a Broker's cluster misses the
        // objects of a topic per hop, and says where they come from.
        let run = fake.check_resources(dir.path()).await;
        assert_eq!(run.code(), Some(1), "{}", run.stdout);
        run.assert_line(
            "FAIL  kafkasource pact-translated: missing",
            &["knative/overlays/<platform>", "--topology"],
        );
        run.assert_line("FAIL  kafkasink pact-untranslated: missing", &[]);
        run.assert_line("FAIL  sinkbinding pact-translation-sink: missing", &[]);
        run.assert_line("FAIL  kafkasource pact-cases: missing", &[]);
        run.assert_line("FAIL  kafkasink pact-cases: missing", &[]);
        assert_eq!(run.count("FAIL"), 6, "{}", run.stdout);

        // And the other way round.
        let fake = FakeApi::start(dir.path(), &[]).await;
        let run = fake.check(dir.path(), &skip, Duration::from_secs(30)).await;
        assert_eq!(run.code(), Some(1), "{}", run.stdout);
        run.assert_line(
            "FAIL  broker pact: missing",
            &["knative/overlays/broker/<platform>"],
        );
        run.assert_line("FAIL  trigger pact-contactlog: missing", &[]);
    })
    .await;
}

#[tokio::test]
async fn refusals_and_missing_configuration_are_one_clear_line() {
    bounded(async {
        let dir = temp_dir();
        // 403 on one kind: that line says which permission; the rest run.
        let fake = FakeApi::start(dir.path(), &["--forbid", "kafkasinks"]).await;
        let run = fake.check_resources(dir.path()).await;
        assert_eq!(run.code(), Some(1), "{}", run.stdout);
        run.assert_line(
            "FAIL  kafkasinks.eventing.knative.dev: 403 Forbidden",
            &[
                "\"list\"",
                "namespace \"pact\"",
                "kubectl -n pact create role pact-check-cluster --verb=list,watch --resource=services.serving.knative.dev,",
                "docs/check-cluster.md",
            ],
        );
        assert_eq!(run.count("FAIL"), 1, "{}", run.stdout);
        run.assert_line("PASS  ksvc pact-producer", &[]);

        // Pods not readable: the burst fails, saying so.
        let fake = FakeApi::start(dir.path(), &["--forbid", "pods"]).await;
        let producer = dropping_producer().await;
        let run = fake
            .check(
                dir.path(),
                &[
                    "--skip-contacts",
                    "--producer-url",
                    &producer,
                    "--burst-duration",
                    "1s",
                    "--burst-settle",
                    "5s",
                ],
                Duration::from_secs(60),
            )
            .await;
        assert_eq!(run.code(), Some(1), "{}", run.stdout);
        run.assert_line("FAIL  burst", &["403", "pods", "kubectl create role"]);

        // No kubeconfig and not in a pod: one line, and nothing else tried.
        let run = check_cluster(
            dir.path(),
            &["--skip-contacts", "--skip-burst"],
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(run.code(), Some(1), "{}", run.stdout);
        run.assert_line(
            "FAIL  kubernetes",
            &["no Kubernetes configuration", "--kubeconfig"],
        );
        assert_eq!(run.count("FAIL"), 1, "{}", run.stdout);
        assert_eq!(run.count("PASS"), 0, "{}", run.stdout);

        // An API server that is not there: one line naming it.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let nothing = format!("http://{}", closed.local_addr().expect("address"));
        drop(closed);
        let config = dir.path().join("kubeconfig-nothing");
        let text = std::fs::read_to_string(&fake.kubeconfig).expect("the fake's kubeconfig");
        let server = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .expect("a server line")
            .to_owned();
        std::fs::write(&config, text.replace(&server, &nothing)).expect("write");
        let args = [
            "--kubeconfig",
            config.to_str().expect("path"),
            "--skip-contacts",
            "--skip-burst",
        ];
        let run = check_cluster(dir.path(), &args, Duration::from_secs(60)).await;
        assert_eq!(run.code(), Some(1), "{}", run.stdout);
        run.assert_line(
            "FAIL  services.serving.knative.dev",
            &["cannot reach", &nothing],
        );
        assert_eq!(run.count("FAIL"), 1, "{}", run.stdout);
    })
    .await;
}
