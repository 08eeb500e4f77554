//! Test support (feature `testing`): a real HTTP server standing in for
//! `K_SINK` that records what it receives and answers as scripted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use cloudevents::Event;
use tokio::sync::Notify;

pub mod oidc;

/// Runs one test body on PostgreSQL (a fresh database from `#[sqlx::test]`
/// on the server `DATABASE_URL` names) and on SQLite, with no migrations (the
/// function migrates its own schema): `pg_and_sqlite!(name, body_fn)` makes
/// `name::postgres` and `name::sqlite`, each calling `body_fn(Database)`.
#[macro_export]
macro_rules! pg_and_sqlite {
    ($name:ident, $body:ident) => {
        mod $name {
            use $crate::database::Database;

            #[sqlx::test(migrations = false)]
            async fn postgres(pool: sqlx::PgPool) {
                super::$body(Database::Postgres(pool)).await;
            }

            #[sqlx::test(migrations = false)]
            async fn sqlite(pool: sqlx::SqlitePool) {
                super::$body(Database::Sqlite(pool)).await;
            }
        }
    };
}

/// Starts a function binary as [`spawn_function`] does (a port the OS
/// picks), with its whole log (JSON lines) written to `log`, and waits
/// until `/readyz` answers 200: its child process and base URL. For tests
/// that read what a function logs.
pub async fn spawn_with_log(
    mut command: tokio::process::Command,
    log: &std::path::Path,
) -> (tokio::process::Child, String) {
    let file = std::fs::File::create(log).expect("the log file");
    let child = command
        .env("PORT", "0")
        .env("PACT_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the function");
    let read_port = async {
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(port) = text.lines().find_map(listening_port) {
                return port;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let port = tokio::time::timeout(Duration::from_secs(20), read_port)
        .await
        .expect("the function did not listen within 20 s");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::Client::new(), &format!("{base}/readyz")).await;
    (child, base)
}

/// The port of a function's JSON start-up line (`"message":"listening"`).
fn listening_port(line: &str) -> Option<u16> {
    let entry = serde_json::from_str::<serde_json::Value>(line).ok()?;
    if entry["message"] != "listening" {
        return None;
    }
    entry["address"].as_str()?.rsplit(':').next()?.parse().ok()
}

/// Stops a function as Kubernetes does (SIGTERM) and waits at most 10 s
/// for it to exit.
pub async fn terminate(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

/// How the sink answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Answer at once with this status.
    Status(u16),
    /// Answer with this status after a delay.
    Slow(Duration, u16),
    /// Never answer (the caller's timeout must fire).
    Hang,
}

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Request headers.
    pub headers: HeaderMap,
    /// Request body.
    pub body: Bytes,
    /// The CloudEvent, when the request was one.
    pub event: Option<Event>,
    /// The status it was answered with (`None` while hanging).
    pub status: Option<u16>,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Option<Reply>>,
    changed: Notify,
}

/// A recording sink on `127.0.0.1:<free port>`; stops when dropped.
pub struct CaptureSink {
    /// `http://127.0.0.1:<port>/`, for `K_SINK`.
    pub url: String,
    shared: Arc<Shared>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Serves a test server's `app` with plain `axum::serve` until the returned
/// sender is dropped.
pub(crate) fn serve_until_dropped(
    listener: tokio::net::TcpListener,
    app: Router,
) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    stop
}

impl CaptureSink {
    /// Starts a sink that answers `fallback` once its script is used up.
    pub async fn start(fallback: Reply) -> Self {
        let shared = Arc::new(Shared::default());
        *lock(&shared.fallback) = Some(fallback);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a test port");
        let url = format!("http://{}/", listener.local_addr().expect("local address"));
        let app = Router::new()
            .route("/", post(record))
            .with_state(shared.clone());
        let stop = serve_until_dropped(listener, app);
        Self {
            url,
            shared,
            _stop: stop,
        }
    }

    /// The next requests are answered with these replies, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.shared.script).extend(replies);
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// The events answered with 2xx so far.
    pub fn accepted(&self) -> Vec<Event> {
        lock(&self.shared.received)
            .iter()
            .filter(|r| r.status.is_some_and(|s| (200..300).contains(&s)))
            .filter_map(|r| r.event.clone())
            .collect()
    }

    /// Waits until `n` requests arrived; panics after `deadline`.
    pub async fn wait_for_requests(&self, n: usize, deadline: Duration) -> Vec<Received> {
        let wait = async {
            loop {
                let notified = self.shared.changed.notified();
                let received = self.received();
                if received.len() >= n {
                    return received;
                }
                notified.await;
            }
        };
        tokio::time::timeout(deadline, wait)
            .await
            .unwrap_or_else(|_| panic!("the sink did not get {n} requests within {deadline:?}"))
    }
}

/// A router served on `127.0.0.1:<free port>` with the runtime's `serve`
/// (graceful shutdown included); stops when dropped.
pub struct Served {
    /// Where it listens.
    pub address: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Served {
    /// Serves `app` until the returned value is dropped.
    pub async fn start(app: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a test port");
        let address = listener.local_addr().expect("local address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(crate::server::serve(
            listener,
            app,
            async {
                let _ = stopped.await;
            },
            Duration::from_secs(5),
        ));
        Self {
            address,
            _stop: stop,
        }
    }

    /// `http://<address><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

/// Starts a function binary on a port the OS picks (`PORT=0`), so parallel
/// tests never race for a port, and returns it with the port it listens on,
/// read from its JSON start-up log line. The rest of its log is drained.
pub async fn spawn_function(mut command: tokio::process::Command) -> (tokio::process::Child, u16) {
    use tokio::io::AsyncBufReadExt;
    let mut child = command
        .env("PORT", "0")
        .env("PACT_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the function");
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let read_port = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(port) = listening_port(&line) {
                return port;
            }
        }
        panic!("the function exited before it listened");
    };
    let port = tokio::time::timeout(Duration::from_secs(20), read_port)
        .await
        .expect("the function did not listen within 20 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

/// Waits until `GET url` answers 200 (a function's `/readyz`); panics after 20 s.
pub async fn wait_ready(client: &reqwest::Client, url: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(url).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{url} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads a problem+json response, checking its media type.
pub async fn problem(response: reqwest::Response) -> serde_json::Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, crate::problem::PROBLEM_JSON);
    response.json().await.expect("problem body")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn record(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let reply = lock(&shared.script)
        .pop_front()
        .or(*lock(&shared.fallback))
        .unwrap_or(Reply::Status(202));
    let event = crate::binding_event(&headers, &body);
    let index = {
        let mut received = lock(&shared.received);
        received.push(Received {
            headers,
            body,
            event,
            status: None,
        });
        received.len() - 1
    };
    shared.changed.notify_waiters();
    let status = match reply {
        Reply::Status(code) => code,
        Reply::Slow(delay, code) => {
            tokio::time::sleep(delay).await;
            code
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
            500
        }
    };
    lock(&shared.received)[index].status = Some(status);
    shared.changed.notify_waiters();
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
