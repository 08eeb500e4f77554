//! `pact burst --watch` against a fake Kubernetes API server speaking the
//! real list/watch protocol: scripted pod events (added, ready, terminating,
//! deleted, a 410 mid-watch) give the right timeline, RBAC errors the right
//! message, and the chart is valid SVG.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pact::burst::chart;
use pact::burst::timeline::{PodCounts, ServiceScaling, Timeline};
use pact::burst::watch::{Watch, WatchArgs};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

const TOKEN: &str = "test-token";
const SERVICE: &str = "svc";

/// Which collection a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum What {
    Pods,
    Revisions,
}

/// One request the fake server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    what: What,
    watch: bool,
    resource_version: Option<String>,
    label_selector: Option<String>,
}

/// One collection: its objects (what a list returns) and the watch events
/// the test scripts, one line each.
struct Collection {
    objects: Mutex<BTreeMap<String, Value>>,
    events: mpsc::UnboundedSender<String>,
    /// Held by the one open watch; the next waits for it to end.
    stream: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>>,
    /// Answer lists and watches with this status instead.
    refuse: Mutex<Option<StatusCode>>,
}

impl Collection {
    fn new() -> Self {
        let (events, stream) = mpsc::unbounded_channel();
        Self {
            objects: Mutex::new(BTreeMap::new()),
            events,
            stream: Arc::new(tokio::sync::Mutex::new(stream)),
            refuse: Mutex::new(None),
        }
    }
}

/// A fake Kubernetes API server for namespace `pact`.
struct Fake {
    /// etcd's revision: one counter for every object.
    revision: AtomicU64,
    pods: Collection,
    revisions: Collection,
    seen: Mutex<Vec<Seen>>,
}

impl Fake {
    fn collection(&self, what: What) -> &Collection {
        match what {
            What::Pods => &self.pods,
            What::Revisions => &self.revisions,
        }
    }

    fn next_version(&self) -> String {
        (self.revision.fetch_add(1, Ordering::SeqCst) + 1).to_string()
    }

    fn current_version(&self) -> String {
        self.revision.load(Ordering::SeqCst).to_string()
    }

    /// Stores an object; `announce` sends ADDED or MODIFIED to the watch
    /// (false: it changed while the watch was not looking).
    fn put(&self, what: What, mut object: Value, announce: bool) {
        object["metadata"]["resourceVersion"] = self.next_version().into();
        let name = object["metadata"]["name"]
            .as_str()
            .expect("a name")
            .to_owned();
        let collection = self.collection(what);
        let old = collection
            .objects
            .lock()
            .expect("lock")
            .insert(name, object.clone());
        if announce {
            let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
            self.send(what, json!({"type": kind, "object": object}));
        }
    }

    /// Deletes an object; `announce` sends DELETED.
    fn delete(&self, what: What, name: &str, announce: bool) {
        let collection = self.collection(what);
        let mut object = collection
            .objects
            .lock()
            .expect("lock")
            .remove(name)
            .expect("the object exists");
        object["metadata"]["resourceVersion"] = self.next_version().into();
        if announce {
            self.send(what, json!({"type": "DELETED", "object": object}));
        }
    }

    fn bookmark(&self, what: What) {
        let kind = match what {
            What::Pods => json!({"apiVersion": "v1", "kind": "Pod"}),
            What::Revisions => json!({"apiVersion": "serving.knative.dev/v1", "kind": "Revision"}),
        };
        let mut object = kind;
        object["metadata"] = json!({"resourceVersion": self.current_version()});
        self.send(what, json!({"type": "BOOKMARK", "object": object}));
    }

    /// The watch's resource version is too old: the API server says 410 and
    /// closes the stream, as etcd compaction makes it do.
    fn expire(&self, what: What) {
        self.send(
            what,
            json!({"type": "ERROR", "object": {
                "kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "code": 410, "reason": "Expired",
                "message": "too old resource version: 1 (99)"
            }}),
        );
    }

    fn send(&self, what: What, event: Value) {
        self.collection(what)
            .events
            .send(event.to_string())
            .expect("the fake server is up");
    }

    fn refuse(&self, what: What, status: StatusCode) {
        *self.collection(what).refuse.lock().expect("lock") = Some(status);
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16()
    });
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn serve(
    fake: Arc<Fake>,
    what: What,
    headers: HeaderMap,
    query: HashMap<String, String>,
) -> Response {
    let watch = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    fake.seen.lock().expect("lock").push(Seen {
        what,
        watch,
        resource_version: query.get("resourceVersion").cloned(),
        label_selector: query.get("labelSelector").cloned(),
    });
    let bearer = format!("Bearer {TOKEN}");
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(bearer.as_str())
    {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let (resource, group, list_kind, api_version) = match what {
        What::Pods => ("pods", "", "PodList", "v1"),
        What::Revisions => (
            "revisions",
            "serving.knative.dev",
            "RevisionList",
            "serving.knative.dev/v1",
        ),
    };
    let collection = fake.collection(what);
    if let Some(code) = *collection.refuse.lock().expect("lock") {
        let verb = if watch { "watch" } else { "list" };
        let message = format!(
            "{resource}{dot}{group} is forbidden: User \"tester\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"pact\"",
            dot = if group.is_empty() { "" } else { "." },
        );
        let reason = if code == StatusCode::NOT_FOUND {
            "NotFound"
        } else {
            "Forbidden"
        };
        return status(code, reason, &message);
    }
    if !watch {
        let items: Vec<Value> = collection
            .objects
            .lock()
            .expect("lock")
            .values()
            .cloned()
            .collect();
        let list = json!({
            "apiVersion": api_version, "kind": list_kind,
            "metadata": {"resourceVersion": fake.current_version()},
            "items": items,
        });
        return (
            [(header::CONTENT_TYPE, "application/json")],
            list.to_string(),
        )
            .into_response();
    }
    // One watch at a time reads the script; it ends after an ERROR event,
    // as the API server's does.
    let events = Arc::clone(&collection.stream).lock_owned().await;
    let lines = futures_util::stream::unfold((events, false), |(mut events, done)| async move {
        if done {
            return None;
        }
        let line = events.recv().await?;
        let done = line.contains("\"type\":\"ERROR\"");
        Some((
            Ok::<_, Infallible>(Bytes::from(line + "\n")),
            (events, done),
        ))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(lines),
    )
        .into_response()
}

/// Starts the fake server on 127.0.0.1:0 with one revision of the service
/// (desiredReplicas 0) and no pods.
async fn spawn_fake() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake {
        revision: AtomicU64::new(100),
        pods: Collection::new(),
        revisions: Collection::new(),
        seen: Mutex::new(Vec::new()),
    });
    fake.put(What::Revisions, revision(0), false);
    let app = Router::new()
        .route(
            "/api/v1/namespaces/pact/pods",
            get(
                |State(fake): State<Arc<Fake>>,
                 headers: HeaderMap,
                 Query(q): Query<HashMap<String, String>>| {
                    serve(fake, What::Pods, headers, q)
                },
            ),
        )
        .route(
            "/apis/serving.knative.dev/v1/namespaces/pact/revisions",
            get(
                |State(fake): State<Arc<Fake>>,
                 headers: HeaderMap,
                 Query(q): Query<HashMap<String, String>>| {
                    serve(fake, What::Revisions, headers, q)
                },
            ),
        )
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, url)
}

fn pod(name: &str, ready: bool, terminating: bool) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "pact",
            "labels": {"serving.knative.dev/service": SERVICE, "serving.knative.dev/revision": "svc-00001"}
        },
        "status": {
            "phase": if ready { "Running" } else { "Pending" },
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]
        }
    });
    if terminating {
        pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:30Z".into();
    }
    pod
}

fn revision(desired: u32) -> Value {
    json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
        "metadata": {
            "name": "svc-00001", "namespace": "pact",
            "labels": {"serving.knative.dev/service": SERVICE}
        },
        "status": {"desiredReplicas": desired, "actualReplicas": 0}
    })
}

/// A kubeconfig for the fake server, context namespace `pact`.
fn kubeconfig(dir: &tempfile::TempDir, url: &str, token: &str) -> PathBuf {
    let path = dir.path().join("kubeconfig");
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {url}
users:
- name: tester
  user:
    token: {token}
contexts:
- name: fake
  context:
    cluster: fake
    user: tester
    namespace: pact
current-context: fake
"
    );
    std::fs::write(&path, text).expect("write the kubeconfig");
    path
}

fn args(path: PathBuf) -> WatchArgs {
    WatchArgs {
        watch: true,
        kubeconfig: Some(path),
        ..WatchArgs::default()
    }
}

fn counts(desired: Option<u32>, ready: u32, pending: u32, terminating: u32) -> PodCounts {
    PodCounts {
        desired,
        ready,
        pending,
        terminating,
    }
}

/// Polls until the watch shows these counts for the service, or fails
/// loudly after 10 s.
async fn until_counts(watch: &Watch, want: PodCounts) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = watch.snapshot().get(SERVICE).copied();
        if now == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited 10 s for {want:?}, still {now:?}; warnings {:?}",
            watch.warnings()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls until the fake server has seen a request matching `test`.
async fn until_seen(fake: &Fake, what: &str, test: impl Fn(&[Seen]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !test(&fake.seen()) {
        assert!(
            Instant::now() < deadline,
            "waited 10 s for {what}: {:#?}",
            fake.seen()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One step of a script: what the API server does, and the counts the
/// watch must then show.
type Step = (Box<dyn Fn(&Fake)>, PodCounts);

#[tokio::test]
async fn a_scripted_scale_up_and_down_gives_the_timeline_and_the_chart() {
    let (fake, url) = spawn_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let origin = Instant::now();
    let watch = Watch::start(&args(kubeconfig(&dir, &url, TOKEN)), origin)
        .await
        .expect("the watch starts");
    assert_eq!(watch.namespace(), "pact", "the context's namespace");
    // Known from start's own lists: the revision, no pod yet.
    assert_eq!(watch.snapshot()[SERVICE], counts(Some(0), 0, 0, 0));
    until_seen(&fake, "both watches", |seen| {
        [What::Pods, What::Revisions]
            .iter()
            .all(|&what| seen.iter().any(|s| s.what == what && s.watch))
    })
    .await;

    play(&fake, &watch, scale_up()).await;
    // A bookmark moves the resource version on and changes nothing.
    fake.bookmark(What::Pods);
    expire_and_relist(&fake, &watch).await;
    play(&fake, &watch, scale_down()).await;
    assert_eq!(watch.warnings(), Vec::<String>::new());
    let until_s = origin.elapsed().as_secs_f64();
    let timeline = watch.stop().await;

    assert_changes(&timeline);
    for seen in fake.seen() {
        assert_eq!(
            seen.label_selector.as_deref(),
            Some("serving.knative.dev/service"),
            "{seen:?}"
        );
    }
    let scaling = timeline.scaling(0.0, None);
    assert_eq!(scaling.len(), 1);
    assert_eq!(scaling[0].peak_ready, 2);
    assert_eq!(scaling[0].ready_at_start, 0);
    assert!(
        scaling[0].scale_up_delay_s.is_some() && scaling[0].to_zero_s.is_some(),
        "{scaling:?}"
    );

    assert_chart(&dir.path().join("burst.svg"), &timeline, &scaling, until_s);
}

/// Runs a script: each step, then a wait until the watch shows its counts.
async fn play(fake: &Fake, watch: &Watch, script: Vec<Step>) {
    for (step, want) in &script {
        step(fake);
        until_counts(watch, *want).await;
    }
}

/// Two pods start and become ready, the revision asking for 2.
fn scale_up() -> Vec<Step> {
    vec![
        (
            Box::new(|f| f.put(What::Pods, pod("a", false, false), true)),
            counts(Some(0), 0, 1, 0),
        ),
        (
            Box::new(|f| f.put(What::Revisions, revision(2), true)),
            counts(Some(2), 0, 1, 0),
        ),
        (
            Box::new(|f| f.put(What::Pods, pod("a", true, false), true)),
            counts(Some(2), 1, 0, 0),
        ),
        (
            Box::new(|f| f.put(What::Pods, pod("b", false, false), true)),
            counts(Some(2), 1, 1, 0),
        ),
        (
            Box::new(|f| f.put(What::Pods, pod("b", true, false), true)),
            counts(Some(2), 2, 0, 0),
        ),
    ]
}

/// While the watch is down, b is deleted and c added, unannounced; then the
/// watch expires (410): the watch re-lists and watches from the list's
/// version.
async fn expire_and_relist(fake: &Fake, watch: &Watch) {
    let lists_before = fake
        .seen()
        .iter()
        .filter(|s| s.what == What::Pods && !s.watch)
        .count();
    fake.delete(What::Pods, "b", false);
    fake.put(What::Pods, pod("c", false, false), false);
    let relist_version = fake.current_version();
    fake.expire(What::Pods);
    until_counts(watch, counts(Some(2), 1, 1, 0)).await;
    until_seen(fake, "a re-list, then a watch from its version", |seen| {
        let pods: Vec<&Seen> = seen.iter().filter(|s| s.what == What::Pods).collect();
        let lists = pods.iter().filter(|s| !s.watch).count();
        lists == lists_before + 1
            && pods.last().is_some_and(|s| {
                s.watch && s.resource_version.as_deref() == Some(relist_version.as_str())
            })
    })
    .await;
    assert_eq!(watch.relists(), 1);
}

/// The pods terminate, the revision goes to 0, and the last pod is deleted.
fn scale_down() -> Vec<Step> {
    vec![
        (
            Box::new(|f| f.put(What::Pods, pod("a", true, true), true)),
            counts(Some(2), 0, 1, 1),
        ),
        (
            Box::new(|f| f.delete(What::Pods, "a", true)),
            counts(Some(2), 0, 1, 0),
        ),
        (
            Box::new(|f| f.put(What::Pods, pod("c", true, false), true)),
            counts(Some(2), 1, 0, 0),
        ),
        (
            Box::new(|f| f.put(What::Revisions, revision(0), true)),
            counts(Some(0), 1, 0, 0),
        ),
        (
            Box::new(|f| f.put(What::Pods, pod("c", true, true), true)),
            counts(Some(0), 0, 0, 1),
        ),
        (
            Box::new(|f| f.delete(What::Pods, "c", true)),
            counts(Some(0), 0, 0, 0),
        ),
    ]
}

/// The service's changes, in order, one per step (the re-list one change).
fn assert_changes(timeline: &Timeline) {
    let changes: Vec<PodCounts> = timeline
        .changes()
        .iter()
        .filter(|c| c.service == SERVICE)
        .map(|c| c.counts)
        .collect();
    assert_eq!(
        changes,
        vec![
            counts(Some(0), 0, 0, 0),
            counts(Some(0), 0, 1, 0),
            counts(Some(2), 0, 1, 0),
            counts(Some(2), 1, 0, 0),
            counts(Some(2), 1, 1, 0),
            counts(Some(2), 2, 0, 0),
            // The re-list: b gone, c pending, in one change.
            counts(Some(2), 1, 1, 0),
            counts(Some(2), 0, 1, 1),
            counts(Some(2), 0, 1, 0),
            counts(Some(2), 1, 0, 0),
            counts(Some(0), 1, 0, 0),
            counts(Some(0), 0, 0, 1),
            counts(Some(0), 0, 0, 0),
        ]
    );
    assert!(
        timeline
            .changes()
            .windows(2)
            .all(|w| w[0].at_s <= w[1].at_s),
        "{:?}",
        timeline.changes()
    );
}

/// The chart of the timeline is well-formed SVG naming the service, its
/// scale-up, peak and scale to zero.
fn assert_chart(path: &Path, timeline: &Timeline, scaling: &[ServiceScaling], until_s: f64) {
    let rps = [0.0, 12.0, 30.0, 25.0];
    chart::write_svg(
        path,
        "pact burst --watch test",
        &rps,
        timeline,
        scaling,
        Some((0.0, 3.0)),
        until_s,
    )
    .expect("the chart is written");
    let svg = std::fs::read_to_string(path).expect("read the chart");
    let document = roxmltree::Document::parse(&svg).expect("the chart is well-formed XML");
    assert_eq!(document.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = document
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "text")
        .filter_map(|n| n.text().map(str::trim))
        .collect();
    let all = texts.join("\n");
    for wanted in [
        SERVICE,
        "pact burst --watch test",
        "scale-up ",
        "peak 2",
        "to zero ",
        "requests/s",
    ] {
        assert!(
            all.contains(wanted),
            "{wanted:?} missing from the chart's text:\n{all}"
        );
    }
    assert!(
        texts.iter().any(|t| t.starts_with("svc: scale-up ")),
        "a callout for the service:\n{all}"
    );
}

#[tokio::test]
async fn pods_not_listable_stop_the_start_with_the_permission_named() {
    let (fake, url) = spawn_fake().await;
    fake.refuse(What::Pods, StatusCode::FORBIDDEN);
    let dir = tempfile::tempdir().expect("temp dir");
    let error = match Watch::start(&args(kubeconfig(&dir, &url, TOKEN)), Instant::now()).await {
        Ok(_) => panic!("a watch started without the right to list pods"),
        Err(e) => format!("{e:#}"),
    };
    for wanted in [
        "list",
        "\"pods\"",
        "namespace \"pact\"",
        "403",
        "kubectl create role",
        "watch",
    ] {
        assert!(error.contains(wanted), "{wanted:?} missing from: {error}");
    }
}

#[tokio::test]
async fn rejected_credentials_and_unreachable_servers_say_so() {
    let (_fake, url) = spawn_fake().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let error = match Watch::start(&args(kubeconfig(&dir, &url, "wrong")), Instant::now()).await {
        Ok(_) => panic!("a watch started with a wrong token"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains("401") && error.contains("credentials"),
        "{error}"
    );

    // A port nobody listens on any more.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let closed_url = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let path = kubeconfig(&dir, &closed_url, TOKEN);
    let error = match Watch::start(&args(path.clone()), Instant::now()).await {
        Ok(_) => panic!("a watch started against nothing"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("cannot reach"), "{error}");
    assert!(error.contains(&closed_url), "{error}");
    assert!(
        error.contains(&path.display().to_string()) && error.contains("\"fake\""),
        "{error}"
    );
}

#[tokio::test]
async fn revisions_not_readable_are_a_warning_and_pods_still_count() {
    let (fake, url) = spawn_fake().await;
    fake.refuse(What::Revisions, StatusCode::FORBIDDEN);
    let dir = tempfile::tempdir().expect("temp dir");
    let watch = Watch::start(&args(kubeconfig(&dir, &url, TOKEN)), Instant::now())
        .await
        .expect("the watch starts without revisions");
    let warnings = watch.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("revisions.serving.knative.dev")
            && warnings[0].contains("403")
            && warnings[0].contains("desired counts unknown"),
        "{warnings:?}"
    );
    until_seen(&fake, "the pod watch", |seen| {
        seen.iter().any(|s| s.what == What::Pods && s.watch)
    })
    .await;
    fake.put(What::Pods, pod("a", false, false), true);
    until_counts(&watch, counts(None, 0, 1, 0)).await;
    fake.put(What::Pods, pod("a", true, false), true);
    until_counts(&watch, counts(None, 1, 0, 0)).await;
    assert_eq!(watch.warnings(), warnings, "each warning once");
    let timeline = watch.stop().await;
    assert_eq!(timeline.changes().len(), 2);
}

#[tokio::test]
async fn knative_serving_absent_is_a_warning_too() {
    let (fake, url) = spawn_fake().await;
    fake.refuse(What::Revisions, StatusCode::NOT_FOUND);
    let dir = tempfile::tempdir().expect("temp dir");
    let watch = Watch::start(&args(kubeconfig(&dir, &url, TOKEN)), Instant::now())
        .await
        .expect("the watch starts without Knative Serving's CRDs");
    let warnings = watch.warnings();
    assert!(
        warnings.len() == 1
            && warnings[0].contains("404")
            && warnings[0].contains("Knative Serving"),
        "{warnings:?}"
    );
    watch.stop().await;
}

/// Runs the real `pact burst` binary with these arguments.
fn pact_burst(args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pact"));
    command
        .arg("burst")
        .args(args)
        .env_remove("KUBECONFIG")
        .kill_on_drop(true);
    command
}

#[tokio::test]
async fn the_binary_bursts_watches_until_zero_and_writes_the_chart() {
    use pact_runtime::testing::{CaptureSink, Reply};
    let (fake, url) = spawn_fake().await;
    fake.put(What::Pods, pod("a", true, false), false);
    let sink = CaptureSink::start(Reply::Status(202)).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let config = kubeconfig(&dir, &url, TOKEN);
    let chart = dir.path().join("burst.svg");
    let child = pact_burst(&[
        "--watch",
        "--kubeconfig",
        config.to_str().expect("path"),
        "--requests",
        "50",
        "--settle",
        "30s",
        "--chart",
        chart.to_str().expect("path"),
        "--json",
        &sink.url,
    ])
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("pact burst starts");

    // One more pod comes up during the burst; then both go: the burst
    // settles as soon as the service is back to zero.
    until_seen(&fake, "the pod watch", |seen| {
        seen.iter().any(|s| s.what == What::Pods && s.watch)
    })
    .await;
    fake.put(What::Revisions, revision(2), true);
    fake.put(What::Pods, pod("b", true, false), true);
    sink.wait_for_requests(50, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    fake.put(What::Revisions, revision(0), true);
    fake.delete(What::Pods, "a", true);
    fake.delete(What::Pods, "b", true);

    let output = tokio::time::timeout(Duration::from_secs(25), child.wait_with_output())
        .await
        .expect("settled well before --settle ran out")
        .expect("pact burst ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(report["requests"], 50);
    assert_eq!(report["status"]["202"], 50);
    let watch = &report["watch"];
    assert_eq!(watch["namespace"], "pact");
    let scaling = &watch["scaling"][0];
    assert_eq!(scaling["service"], SERVICE, "{watch}");
    assert_eq!(scaling["ready_at_start"], 1);
    assert_eq!(scaling["peak_ready"], 2);
    assert!(scaling["scale_up_delay_s"].as_f64().is_some(), "{scaling}");
    assert!(scaling["to_zero_s"].as_f64().is_some(), "{scaling}");
    let last = watch["changes"]
        .as_array()
        .and_then(|c| c.last())
        .expect("changes");
    assert_eq!(last["counts"]["ready"], 0);
    assert_eq!(last["counts"]["desired"], 0);
    assert!(!watch["samples"].as_array().expect("samples").is_empty());
    let svg = std::fs::read_to_string(&chart).expect("the chart was written");
    let document = roxmltree::Document::parse(&svg).expect("valid SVG");
    assert_eq!(document.root_element().tag_name().name(), "svg");
    assert!(svg.contains(SERVICE));
}

#[tokio::test]
async fn the_binary_watches_alone_for_the_duration() {
    let (fake, url) = spawn_fake().await;
    fake.put(What::Pods, pod("a", true, false), false);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = kubeconfig(&dir, &url, TOKEN);
    let chart = dir.path().join("watch.svg");
    let started = Instant::now();
    let output = pact_burst(&[
        "--watch",
        "--kubeconfig",
        config.to_str().expect("path"),
        "--duration",
        "1s",
        "--chart",
        chart.to_str().expect("path"),
        "--csv",
    ])
    .output()
    .await
    .expect("pact burst ran");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let csv = String::from_utf8_lossy(&output.stdout);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("second,requests,ok,other,errors,svc_ready,svc_desired")
    );
    // No load; one ready pod, desired 0 as the revision says.
    assert_eq!(lines.next(), Some("0,0,0,0,0,1,0"));
    assert!(chart.exists());

    // Pointed at nothing: exit 1, and the message names the server.
    drop(fake);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let nothing = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let config = kubeconfig(&dir, &nothing, TOKEN);
    let output = pact_burst(&["--watch", "--kubeconfig", config.to_str().expect("path")])
        .output()
        .await
        .expect("pact burst ran");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&nothing));
}
