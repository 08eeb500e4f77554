//! The harness of the pipeline tests: `pact dev` as a child process read
//! through its JSON lines, a contact sender that retries until every batch is
//! accepted, waits with deadlines, and a fresh PostgreSQL database per test.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pact::topology::{TOPOLOGY, Wiring};
use pact_runtime::database::{Database, DatabaseConfig, DatabaseUrl};
use serde::Serialize;
use serde_json::Value;
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

const PACT: &str = env!("CARGO_BIN_EXE_pact");

/// How long `pact dev` may take to print its ready line.
const READY_LIMIT: Duration = Duration::from_secs(60);
/// How long every contact may take to be stored once the last was sent.
const STORED_LIMIT: Duration = Duration::from_secs(60);
/// How long `pact dev` may take to stop after SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(40);
/// How long one batch may keep failing before the sender gives up.
const BATCH_LIMIT: Duration = Duration::from_secs(60);
/// Stderr lines kept for failure messages.
const LOG_LINES: usize = 600;

/// Environment passed through to `pact dev`; everything else is cleared so
/// that a developer's or CI's settings (`DATABASE_URL`, `PACT_GEOCODER`,
/// `K_SINK`…) cannot change what is tested.
const PASSED_THROUGH: [&str; 5] = [
    "PATH",
    "HOME",
    "TMPDIR",
    "RUST_BACKTRACE",
    "LLVM_PROFILE_FILE",
];

/// Where the parts of a running `pact dev` listen.
#[derive(Debug, Clone)]
pub struct Urls {
    /// Every function of pipeline.toml, by its short name.
    pub functions: HashMap<String, String>,
    /// The eventing stand-in.
    pub eventing: String,
}

/// A running `pact dev --json`.
pub struct Dev {
    child: Child,
    /// Its process id.
    pub pid: i32,
    /// From the ready line.
    pub urls: Urls,
    /// The functions' process ids, from the ready line.
    pub pids: HashMap<String, i32>,
    /// The database its functions use.
    pub database_url: String,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Reads stdout; aborted to close it.
    reader: tokio::task::JoinHandle<()>,
    stdout_closed: bool,
    /// JSON lines seen after the ready line.
    seen: Vec<Value>,
    logs: Arc<Mutex<VecDeque<String>>>,
    client: reqwest::Client,
}

/// `pact dev --dir <dir> --port 0 --json --topology <wiring> <extra>` in a
/// clean environment, with stdin closed and output discarded unless the
/// caller pipes it. A
/// failing test leaves no pipeline behind: pact dev is killed when the
/// command is dropped, and its functions stop when it dies (they watch
/// their stdin).
pub fn dev_command(dir: &Path, wiring: Wiring, extra: &[&str]) -> Command {
    let mut command = Command::new(PACT);
    command
        .arg("dev")
        .arg("--dir")
        .arg(dir)
        .args(["--port", "0", "--json"])
        .args(["--topology", &wiring_name(wiring)])
        .args(extra)
        .env_clear()
        .envs(
            PASSED_THROUGH
                .iter()
                .filter_map(|name| std::env::var_os(name).map(|value| (name.to_string(), value))),
        )
        // Plain log lines in failure messages.
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    command
}

/// The name `--topology` takes, as the ready line spells it.
pub fn wiring_name(wiring: Wiring) -> String {
    serde_json::to_value(wiring)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .expect("a wiring serializes as its name")
}

/// Keeps the last [`LOG_LINES`] lines of `pact dev`'s stderr, for failure
/// messages.
fn keep_logs(stderr: tokio::process::ChildStderr) -> Arc<Mutex<VecDeque<String>>> {
    let logs = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_LINES)));
    tokio::spawn({
        let logs = logs.clone();
        async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut logs = lock(&logs);
                if logs.len() == LOG_LINES {
                    logs.pop_front();
                }
                logs.push_back(line);
            }
        }
    });
    logs
}

/// Reads `pact dev`'s stdout, each line JSON (or the test fails), into a
/// channel; the reader task is aborted to close it.
fn read_json_lines(
    stdout: tokio::process::ChildStdout,
) -> (tokio::task::JoinHandle<()>, mpsc::UnboundedReceiver<Value>) {
    let (tx, lines) = mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut reader = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                panic!("pact dev printed a line that is not JSON ({e}): {line}")
            });
            if tx.send(value).is_err() {
                break;
            }
        }
    });
    (reader, lines)
}

/// The first line of `pact dev --json`, which must be its ready line.
async fn wait_ready(
    child: &mut Child,
    lines: &mut mpsc::UnboundedReceiver<Value>,
    logs: &Mutex<VecDeque<String>>,
) -> Value {
    let ready = match tokio::time::timeout(READY_LIMIT, lines.recv()).await {
        Ok(Some(ready)) => ready,
        Ok(None) => {
            let status = child.wait().await.expect("wait for pact dev");
            panic!(
                "pact dev exited ({status}) before it was ready:\n{}",
                tail(logs, 40)
            );
        }
        Err(_) => panic!(
            "pact dev was not ready within {READY_LIMIT:?}:\n{}",
            tail(logs, 40)
        ),
    };
    assert_eq!(ready["event"], "ready", "first line: {ready}");
    ready
}

/// The URLs and pids of the ready line, checked to name every function of
/// the topology and nothing else.
fn parts_of(ready: &Value) -> (Urls, HashMap<String, i32>) {
    let url = |name: &str| {
        ready["urls"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} URL in {ready}"))
            .to_owned()
    };
    // Every function of the topology, and nothing else.
    let names: Vec<&str> = TOPOLOGY.functions.iter().map(|f| f.name.as_str()).collect();
    let mut listed: Vec<&str> = ready["urls"]
        .as_object()
        .map(|urls| urls.keys().map(String::as_str).collect())
        .unwrap_or_default();
    listed.sort_unstable();
    let mut expected = names.clone();
    expected.push("eventing");
    expected.sort_unstable();
    assert_eq!(listed, expected, "the parts in the ready line: {ready}");
    let urls = Urls {
        functions: names
            .iter()
            .map(|name| ((*name).to_owned(), url(name)))
            .collect(),
        eventing: url("eventing"),
    };
    let pids = names
        .into_iter()
        .map(|name| {
            let pid = ready["pids"][name]
                .as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or_else(|| panic!("no pid of {name} in {ready}"));
            (name.to_owned(), pid)
        })
        .collect();
    (urls, pids)
}

impl Dev {
    /// Starts `pact dev --dir <dir> --port 0 --json --topology <wiring>
    /// <extra>`, on `database` (`None`: its embedded SQLite default), and
    /// reads its ready line.
    pub async fn start(dir: &Path, wiring: Wiring, database: Option<&str>, extra: &[&str]) -> Self {
        let mut command = dev_command(dir, wiring, extra);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        if let Some(url) = database {
            command.env("DATABASE_URL", url);
        }
        let mut child = command.spawn().expect("spawn pact dev");
        let pid = i32::try_from(child.id().expect("pact dev has a pid")).expect("pid fits i32");
        let logs = keep_logs(child.stderr.take().expect("stderr is piped"));
        let (reader, mut lines) = read_json_lines(child.stdout.take().expect("stdout is piped"));
        let ready = wait_ready(&mut child, &mut lines, &logs).await;
        assert_eq!(
            ready["topology"],
            wiring_name(wiring),
            "the topology pact dev runs: {ready}"
        );
        let (urls, pids) = parts_of(&ready);
        let database_url = match database {
            Some(url) => {
                assert_eq!(ready["database_url"], url, "the database pact dev uses");
                url.to_owned()
            }
            None => ready["database_url"]
                .as_str()
                .expect("database_url in the ready line")
                .to_owned(),
        };
        Self {
            child,
            pid,
            urls,
            pids,
            database_url,
            lines,
            reader,
            stdout_closed: false,
            seen: Vec::new(),
            logs,
            client: client(),
        }
    }

    /// The base URL of a function, by its short name in pipeline.toml.
    pub fn url(&self, function: &str) -> String {
        self.urls
            .functions
            .get(function)
            .unwrap_or_else(|| panic!("pipeline.toml has no function {function}"))
            .clone()
    }

    /// The last lines of the functions' logs, for failure messages.
    pub fn logs(&self, n: usize) -> String {
        tail(&self.logs, n)
    }

    /// `GET {path}` of the eventing stand-in, answered 200 with JSON.
    async fn eventing_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        let url = format!("{}{path}", self.urls.eventing);
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(response.status(), 200, "GET {url}");
        response
            .json()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
    }

    /// `GET /topics` of the eventing stand-in.
    pub async fn topics(&self) -> Value {
        self.eventing_json("/topics").await
    }

    /// `GET /topics/{topic}/records` (every partition, up to 1000 each).
    pub async fn records(&self, topic: &str) -> Vec<Value> {
        self.eventing_json(&format!("/topics/{topic}/records?limit=1000"))
            .await
    }

    /// Every record of `topic` (every partition, read to its end).
    pub async fn all_records(&self, topic: &str) -> Vec<Value> {
        let mut all = Vec::new();
        for from in (0..).step_by(1000) {
            let records: Vec<Value> = self
                .eventing_json(&format!("/topics/{topic}/records?from={from}&limit=1000"))
                .await;
            if records.is_empty() {
                return all;
            }
            all.extend(records);
        }
        unreachable!("the pages of a topic end")
    }

    /// How many records of each CloudEvent type `topic` holds (every
    /// partition, read to its end); raw records count as `""`.
    pub async fn record_types(&self, topic: &str) -> BTreeMap<String, u64> {
        let mut types = BTreeMap::new();
        for record in self.all_records(topic).await {
            let ty = record["event"]["type"].as_str().unwrap_or_default();
            *types.entry(ty.to_owned()).or_default() += 1;
        }
        types
    }

    /// pact-query's `/stats` total, or `None` while it does not answer.
    pub async fn stored(&self) -> Option<i64> {
        let response = self
            .client
            .get(format!("{}/stats", self.url("query")))
            .send()
            .await
            .ok()?;
        if response.status() != 200 {
            return None;
        }
        let stats: Value = response.json().await.ok()?;
        stats["total"].as_i64()
    }

    /// Waits until no subscription has lag (everything delivered or dead
    /// lettered) and returns `/topics`.
    pub async fn wait_drained(&self) -> Value {
        let deadline = Instant::now() + STORED_LIMIT;
        loop {
            let topics = self.topics().await;
            if lag(&topics) == 0 {
                return topics;
            }
            assert!(
                Instant::now() < deadline,
                "lag still {} after {STORED_LIMIT:?}: {topics}",
                lag(&topics)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The sum of the samples of a counter in a function's `/metrics`
    /// whose line contains `filter`.
    pub async fn metric(&self, base: &str, name: &str, filter: &str) -> f64 {
        let text = self
            .client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|line| line.starts_with(name) && line.contains(filter))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Checks that exactly the contacts `sent` were stored, each once:
    /// pact-query's count reaches their number and stays there, the table
    /// holds exactly their ids, and a sample reads back translated.
    pub async fn assert_stored_exactly(&self, sent: &[Contact]) {
        self.assert_stored_exactly_and(sent, &[]).await;
    }

    /// [`Dev::assert_stored_exactly`], with the rows `others` (events that
    /// did not come through pact-producer) on top.
    pub async fn assert_stored_exactly_and(&self, sent: &[Contact], others: &[String]) {
        let mut expected: Vec<String> = sent.iter().map(Contact::stored_id).collect();
        expected.extend_from_slice(others);
        self.assert_stored_ids(&expected).await;

        // Translated and queryable: a sample read back through pact-query.
        let step = (sent.len() / 12).max(1);
        for contact in sent.iter().step_by(step) {
            self.assert_queryable(contact).await;
        }
    }

    /// Checks that the table ends up holding exactly the rows `expected`
    /// names (by `event_id`), each once, and stays so.
    pub async fn assert_stored_ids(&self, expected: &[String]) {
        let n = i64::try_from(expected.len()).expect("count fits i64");
        let deadline = Instant::now() + STORED_LIMIT;
        let mut drained_since = None;
        loop {
            let total = self.stored().await;
            if let Some(total) = total {
                assert!(
                    total <= n,
                    "{total} contacts stored for {n} sent: some were stored twice; topics: {}",
                    self.topics().await
                );
                if total == n {
                    break;
                }
            }
            // Fail early when nothing is left to deliver (lost or dead-lettered
            // events): waiting the full limit would only slow CI down.
            let topics = self.topics().await;
            if lag(&topics) > 0 {
                drained_since = None;
            } else if drained_since.get_or_insert_with(Instant::now).elapsed()
                > Duration::from_secs(3)
            {
                panic!(
                    "{total:?} of {n} contacts stored, and nothing is left to deliver; topics: {topics}\nlogs:\n{}",
                    self.logs(60)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "{total:?} of {n} contacts stored after {STORED_LIMIT:?}; topics: {}\nlogs:\n{}",
                    self.topics().await,
                    self.logs(60)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Late redeliveries would show up now.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            self.stored().await,
            Some(n),
            "the count moved after reaching {n}; topics: {}",
            self.topics().await
        );

        // The table itself: exactly the ids expected, none twice, none missing.
        let stored = stored_event_ids(&self.database_url).await;
        assert_eq!(stored.len(), expected.len(), "rows in contactlist");
        let stored: BTreeSet<String> = stored.into_iter().collect();
        let expected: BTreeSet<String> = expected.iter().cloned().collect();
        assert_eq!(stored.len(), expected.len(), "an event_id is stored twice");
        let missing: Vec<_> = expected.difference(&stored).take(5).collect();
        let extra: Vec<_> = stored.difference(&expected).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "stored event ids differ from those sent: missing {missing:?}, unexpected {extra:?}"
        );
    }

    /// `GET /contacts/{mmid1}` shows this contact once, translated offline.
    async fn assert_queryable(&self, contact: &Contact) {
        let url = format!("{}/contacts/{}", self.url("query"), contact.mmid1);
        let response = self
            .client
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(response.status(), 200, "GET {url}");
        let page: Value = response.json().await.expect("a contacts page");
        let items = page["items"].as_array().expect("items");
        // Every person of the test meets exactly one other.
        assert_eq!(items.len(), 1, "contacts of {}: {page}", contact.mmid1);
        let item = &items[0];
        assert_eq!(item["mmid1"], contact.mmid1, "{item}");
        assert_eq!(item["mmid2"], contact.mmid2, "{item}");
        assert_eq!(item["lat"], contact.lat, "{item}");
        assert_eq!(item["lon"], contact.lon, "{item}");
        assert_eq!(item["geocoder"], "offline", "{item}");
        for field in ["city", "state", "country"] {
            assert!(
                item[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field} is empty for Minneapolis coordinates: {item}"
            );
        }
        assert_eq!(item["state"], "MN", "{item}");
        assert_eq!(item["country"], "US", "{item}");
    }

    /// Waits for a `{"event": event, "function": function}` line (one seen
    /// before counts), and returns it.
    pub async fn wait_line(&mut self, event: &str, function: &str, limit: Duration) -> Value {
        let matches = |line: &Value| line["event"] == event && line["function"] == function;
        if let Some(line) = self.seen.iter().find(|line| matches(line)) {
            return line.clone();
        }
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if matches(&line) {
                        return line;
                    }
                }
                Ok(None) => panic!(
                    "pact dev exited while waiting for {event} of {function}:\n{}",
                    self.logs(40)
                ),
                Err(_) => panic!(
                    "no {event} line for {function} within {limit:?}; lines: {:?}\nlogs:\n{}",
                    self.seen,
                    self.logs(40)
                ),
            }
        }
    }

    /// Closes pact dev's stdout, as a script does that read the ready line
    /// and nothing more (`pact dev --json | head -1`).
    pub async fn close_stdout(&mut self) {
        self.reader.abort();
        let _ = (&mut self.reader).await;
        self.stdout_closed = true;
    }

    /// Whether `GET {base}/healthz` answers 200.
    pub async fn healthy(&self, base: &str) -> bool {
        self.client
            .get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    }

    /// Every process of the pipeline now: the functions of the ready line,
    /// and pact dev's current children (restarted functions have new pids).
    pub fn function_pids(&self) -> BTreeSet<i32> {
        let mut pids: BTreeSet<i32> = self.pids.values().copied().collect();
        pids.extend(children_of(self.pid));
        pids
    }

    /// SIGTERM: see [`Dev::stop_with`].
    pub async fn stop(self) {
        self.stop_with(Signal::SIGTERM).await;
    }

    /// SIGTERM or SIGINT (Ctrl-C): pact dev must stop in order, print
    /// `stopped`, exit 0 within [`STOP_LIMIT`], and leave no function
    /// process behind.
    pub async fn stop_with(mut self, signal: Signal) {
        let functions = self.function_pids();
        kill(Pid::from_raw(self.pid), signal).expect("signal pact dev");
        let status = self.wait_exit(STOP_LIMIT).await;
        assert!(
            status.success(),
            "pact dev exited with {status} after {signal}:\n{}",
            self.logs(40)
        );
        // Its stdout ends with the `stopped` line.
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(5), self.lines.recv()).await
        {
            self.seen.push(line);
        }
        if !self.stdout_closed {
            assert_eq!(
                self.seen.last().map(|l| l["event"].clone()),
                Some(Value::from("stopped")),
                "the last line of pact dev: {:?}",
                self.seen
            );
        }
        // It waited for its functions: none may be running any more.
        for pid in functions {
            assert!(
                gone(pid),
                "function process {pid} survived pact dev's stop:\n{}",
                self.logs(20)
            );
        }
        self.assert_no_panic();
    }

    /// SIGKILL of pact dev itself: its functions get no signal, only the end
    /// of their stdin, and must exit by themselves within `limit`.
    pub async fn kill_and_wait_orphans(mut self, limit: Duration) {
        let functions = self.function_pids();
        assert!(
            functions.len() >= 4,
            "the four functions run: {functions:?}"
        );
        kill(Pid::from_raw(self.pid), Signal::SIGKILL).expect("SIGKILL pact dev");
        let status = self.wait_exit(Duration::from_secs(10)).await;
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "{status}"
        );
        let deadline = Instant::now() + limit;
        for pid in functions {
            while !gone(pid) {
                assert!(
                    Instant::now() < deadline,
                    "function process {pid} still runs {limit:?} after pact dev was killed (stdin closed)"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => status.expect("wait for pact dev"),
            Err(_) => {
                let _ = self.child.start_kill();
                panic!("pact dev did not exit within {limit:?}:\n{}", self.logs(40));
            }
        }
    }

    fn assert_no_panic(&self) {
        let logs = self.logs(LOG_LINES);
        assert!(!logs.contains("panicked"), "a process panicked:\n{logs}");
    }
}

/// One contact as `POST /contacts` takes it.
#[derive(Debug, Clone, Serialize)]
pub struct Contact {
    pub id: String,
    pub mmid1: i64,
    pub mmid2: i64,
    pub lat: f64,
    pub lon: f64,
    pub observed_at: String,
}

impl Contact {
    /// The producer's event id for this contact: the UUIDv5 of its `id` and
    /// the contact as sent (DESIGN.md section 3), written out from the
    /// documented name.
    pub fn event_id(&self) -> String {
        let name = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.id, self.mmid1, self.mmid2, self.lat, self.lon, self.observed_at
        );
        uuid::Uuid::new_v5(&pact_runtime::identity::NAMESPACE, name.as_bytes()).to_string()
    }

    /// The `event_id` its row gets: pact-translation's id for the
    /// producer's event, the UUIDv5 of `/pact/producer`, a line feed, and it.
    pub fn stored_id(&self) -> String {
        stored_id(&self.event_id())
    }
}

/// The `event_id` pact-translation gives the producer's event `id`.
pub fn stored_id(producer_event_id: &str) -> String {
    derived_id("/pact/producer", producer_event_id)
}

/// The id DESIGN.md section 3 derives from input `source` + `id`: the UUIDv5
/// of `source`, a line feed, `id`, written out from the documented name.
pub fn derived_id(source: &str, id: &str) -> String {
    let name = format!("{source}\n{id}");
    uuid::Uuid::new_v5(&pact_runtime::identity::NAMESPACE, name.as_bytes()).to_string()
}

/// Contacts `range` of a test: each person meets exactly one other, at a
/// point in Minneapolis, ten minutes ago (well inside retention, never in
/// the future). Ids carry `tag` and the index.
pub fn contacts(tag: &str, range: std::ops::Range<usize>) -> Vec<Contact> {
    let observed_at = (chrono::Utc::now() - chrono::Duration::minutes(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    range
        .map(|i| {
            let person = i64::try_from(i).expect("index fits i64") * 2 + 1;
            // Downtown Minneapolis: 44.955-44.985 N, 93.25-93.28 W.
            let step = (i % 100) as f64;
            Contact {
                id: format!("{tag}-{i:06}"),
                mmid1: person,
                mmid2: person + 1,
                lat: 44.955 + step * 0.0003,
                lon: -93.28 + ((i / 100) % 100) as f64 * 0.0003,
                observed_at: observed_at.clone(),
            }
        })
        .collect()
}

/// Sends `contacts` in batches to the producer named by `url` (read again
/// before every attempt, so a restarted pipeline's new URL is followed).
/// A batch is retried on 502/503/504 and on connection errors until it is
/// accepted, so a restart loses nothing from the test's point of view; ids
/// make those retries idempotent. `progress` counts contacts accepted.
pub async fn send(
    url: watch::Receiver<String>,
    contacts: Vec<Contact>,
    batch: usize,
    progress: watch::Sender<usize>,
) {
    let client = client();
    for chunk in contacts.chunks(batch) {
        let ids: Vec<String> = chunk.iter().map(Contact::event_id).collect();
        let deadline = Instant::now() + BATCH_LIMIT;
        let mut last = String::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "a batch was not accepted within {BATCH_LIMIT:?}; last: {last}"
            );
            let target = format!("{}/contacts", url.borrow().as_str());
            match client
                .post(&target)
                .json(chunk)
                .timeout(Duration::from_secs(30))
                .send()
                .await
            {
                Ok(response) if response.status() == 202 => {
                    let body: Value = response.json().await.expect("202 body is JSON");
                    assert_eq!(body["accepted"], serde_json::json!(ids), "accepted ids");
                    break;
                }
                Ok(response) if matches!(response.status().as_u16(), 502..=504) => {
                    last = format!(
                        "{} {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    );
                }
                Ok(response) => panic!(
                    "POST {target}: {} {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                ),
                Err(e) => last = format!("{e:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        progress.send_modify(|n| *n += chunk.len());
    }
}

/// [`send`] to a fixed URL, awaited.
pub async fn send_all(producer: &str, contacts: &[Contact]) {
    let (_url_tx, url) = watch::channel(producer.to_owned());
    let (progress, _) = watch::channel(0);
    send(url, contacts.to_vec(), 100, progress).await;
}

/// Waits until `progress` reaches `n`.
pub async fn wait_sent(progress: &mut watch::Receiver<usize>, n: usize) {
    tokio::time::timeout(STORED_LIMIT, progress.wait_for(|&sent| sent >= n))
        .await
        .unwrap_or_else(|_| panic!("{n} contacts were not accepted within {STORED_LIMIT:?}"))
        .expect("the sender is running");
}

/// The `event_id` of every row of `contactlist`, read through the
/// project's database seam (either backend, one statement).
pub async fn stored_event_ids(database_url: &str) -> Vec<String> {
    let url = DatabaseUrl::parse(database_url)
        .unwrap_or_else(|e| panic!("DATABASE_URL {database_url}: {e}"));
    let database = Database::connect_lazy(&DatabaseConfig {
        url,
        max_connections: 1,
    });
    let rows: Vec<(String,)> = database
        .query("SELECT event_id FROM contactlist")
        .fetch_all()
        .await
        .unwrap_or_else(|e| panic!("read contactlist of {database_url}: {e}"));
    database.close().await;
    rows.into_iter().map(|(id,)| id).collect()
}

/// A PostgreSQL database of its own for one test, dropped (`WITH (FORCE)`)
/// when the test ends, passed or not.
pub struct TestDatabase {
    /// Its URL, for `DATABASE_URL`.
    pub url: String,
    admin: String,
    name: String,
}

impl TestDatabase {
    /// Creates `pact_e2e_<uuid>` on the server of `DATABASE_URL` (CI sets
    /// it), or of the local default when it is unset. Never skipped.
    pub async fn create() -> Self {
        let admin = std::env::var("DATABASE_URL")
            .ok()
            .filter(|url| url.starts_with("postgres"))
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("pact_e2e_{}", uuid::Uuid::now_v7().simple());
        let mut connection = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed by this test: {e}"));
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = connection.close().await;
        let mut url = reqwest::Url::parse(&admin).expect("DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Self {
            url: url.to_string(),
            admin,
            name,
        }
    }
}

/// The longest dropping a test database may take.
const DROP_LIMIT: Duration = Duration::from_secs(30);

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop cannot await: a runtime of its own on a thread of its own.
        // Bounded: a drop runs when a test's own limit fires too, and an
        // unbounded one would hold the test past it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                tokio::time::timeout(DROP_LIMIT, async {
                    let mut connection = sqlx::PgConnection::connect(&admin)
                        .await
                        .map_err(|e| e.to_string())?;
                    sqlx::raw_sql(&statement)
                        .execute(&mut connection)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>(())
                })
                .await
                .map_err(|_| format!("no answer within {DROP_LIMIT:?}"))?
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "panicked".to_owned()) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

/// A temporary directory for one pact dev (removed at the end).
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("pact-e2e-")
        .tempdir()
        .expect("a temporary directory")
}

/// Whether a process is gone: no such pid, or a zombie (it exited and
/// only waits to be reaped by whoever adopted it).
pub fn gone(pid: i32) -> bool {
    match kill(Pid::from_raw(pid), None) {
        Err(Errno::ESRCH) => true,
        _ => process_state(pid) == Some('Z'),
    }
}

/// The state letter of `/proc/<pid>/stat`.
fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid …": comm may hold spaces and parentheses.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The pids whose parent is `parent`, from `/proc`.
fn children_of(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let rest = stat.rsplit_once(')')?.1.to_owned();
                    rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

/// Sum of a JSON array of numbers.
pub fn sum(values: &Value) -> u64 {
    values
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).sum())
        .unwrap_or_default()
}

/// The lag of every subscription together, in a `/topics` answer.
pub fn lag(topics: &Value) -> u64 {
    topics["subscriptions"]
        .as_array()
        .expect("subscriptions")
        .iter()
        .filter_map(|s| s["lag"].as_u64())
        .sum()
}

/// The subscription of `group` in a `/topics` answer.
pub fn subscription<'a>(topics: &'a Value, group: &str) -> &'a Value {
    topics["subscriptions"]
        .as_array()
        .and_then(|subs| subs.iter().find(|s| s["group"] == group))
        .unwrap_or_else(|| panic!("no subscription {group} in {topics}"))
}

/// The topic `name` in a `/topics` answer.
pub fn topic<'a>(topics: &'a Value, name: &str) -> &'a Value {
    topics["topics"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no topic {name} in {topics}"))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn tail(logs: &Mutex<VecDeque<String>>, n: usize) -> String {
    let logs = lock(logs);
    let skip = logs.len().saturating_sub(n);
    logs.iter()
        .skip(skip)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
}
