//! The server against slow, idle and surplus clients, over raw TCP on
//! 127.0.0.1: header-read timeout, idle keep-alive timeout, the connection
//! cap, and the graceful drain. Every wait is bounded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use pact_runtime::config::ConnectionLimits;
use pact_runtime::server::serve_with;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const GET: &[u8] = b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n";

struct Server {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(limits: ConnectionLimits, grace: Duration) -> Self {
        let app = Router::new()
            .route("/hello", get(|| async { "hello" }))
            .route(
                "/sleep/{ms}",
                get(|Path(ms): Path<u64>| async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    "slept"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a test port");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(serve_with(
            listener,
            app,
            async {
                let _ = stopped.await;
            },
            grace,
            limits,
        ));
        Self {
            address,
            stop: Some(stop),
            served,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.address).await.expect("connect")
    }

    /// Sends the stop signal (SIGTERM in a function).
    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn limits(header_ms: u64, idle_ms: u64, max_connections: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_millis(header_ms),
        idle_timeout: Duration::from_millis(idle_ms),
        max_connections,
    }
}

/// Reads one response (head and `Content-Length` body); `None` when the
/// server closed the connection first.
async fn read_response(stream: &mut TcpStream) -> Option<String> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&data[..end + 4 + length]).into_owned());
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Waits until the server closes `stream` (end of stream or reset); how
/// long that took. Panics after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut chunk = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the server did not close the connection within {limit:?}"));
    started.elapsed()
}

/// Nothing arrives on `stream` for `wait`: the connection is still open.
async fn stays_open(stream: &mut TcpStream, wait: Duration) {
    let mut chunk = [0u8; 1];
    if let Ok(read) = tokio::time::timeout(wait, stream.read(&mut chunk)).await {
        panic!("expected an open, silent connection for {wait:?}, got {read:?}");
    }
}

async fn hello_on(stream: &mut TcpStream) {
    stream.write_all(GET).await.expect("send");
    let response = read_response(stream).await.expect("a response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("hello"), "{response}");
}

#[tokio::test]
async fn a_partial_request_head_is_closed_within_the_header_timeout() {
    let server = Server::start(limits(300, 60_000, 100), Duration::from_secs(5)).await;
    let mut slow = server.connect().await;
    slow.write_all(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Type: text/csv\r\n")
        .await
        .expect("send");
    let took = closed_within(&mut slow, Duration::from_secs(5)).await;
    assert!(took >= Duration::from_millis(200), "closed after {took:?}");
    // Generous for a loaded CI machine; without the timeout it never closes.
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    // A client that says nothing at all is closed too.
    let mut silent = server.connect().await;
    closed_within(&mut silent, Duration::from_secs(5)).await;
    // And the server still serves.
    hello_on(&mut server.connect().await).await;
}

/// A header read one byte at a time never resets the clock: the timeout
/// runs from the head's first byte.
#[tokio::test]
async fn a_trickled_request_head_is_closed_from_its_first_byte() {
    let server = Server::start(limits(500, 60_000, 100), Duration::from_secs(5)).await;
    let stream = server.connect().await;
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        let mut sent = writer.write_all(b"GET /hello HTTP/1.1\r\nX-Slow: ").await;
        while sent.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            sent = writer.write_all(b"a").await;
        }
    });
    let mut chunk = [0u8; 256];
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut chunk))
        .await
        .expect("closed within 5 s");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    let _ = tokio::time::timeout(Duration::from_secs(5), trickle).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // Idle longer than the header timeout: a connection waiting for its next
    // request is judged by the idle timeout alone.
    let server = Server::start(limits(200, 1_000, 100), Duration::from_secs(5)).await;
    let mut stream = server.connect().await;
    hello_on(&mut stream).await;
    stays_open(&mut stream, Duration::from_millis(500)).await;
    // Kept alive: a second request on it is served, and restarts the clock.
    hello_on(&mut stream).await;
    let idle_from = Instant::now();
    closed_within(&mut stream, Duration::from_secs(5)).await;
    let idle = idle_from.elapsed();
    assert!(idle >= Duration::from_millis(800), "closed after {idle:?}");
    assert!(idle < Duration::from_secs(4), "closed after {idle:?}");
}

#[tokio::test]
async fn a_request_in_flight_is_not_cut_by_either_timeout() {
    let server = Server::start(limits(200, 300, 100), Duration::from_secs(5)).await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"GET /sleep/900 HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("send");
    let response = tokio::time::timeout(Duration::from_secs(5), read_response(&mut stream))
        .await
        .expect("answered within 5 s")
        .expect("a response");
    assert!(response.ends_with("slept"), "{response}");
}

#[tokio::test]
async fn a_request_head_over_64_kib_is_answered_431() {
    let server = Server::start(limits(5_000, 60_000, 100), Duration::from_secs(5)).await;
    let mut stream = server.connect().await;
    let mut request = b"GET /hello HTTP/1.1\r\nHost: test\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 100 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    // The server may stop reading (and close) before all of it is written.
    let _ = stream.write_all(&request).await;
    let response = tokio::time::timeout(Duration::from_secs(5), read_response(&mut stream))
        .await
        .expect("answered within 5 s")
        .expect("a response");
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
}

/// At the cap the server accepts nothing more: the next connection waits in
/// the listen backlog (its connect succeeds), the open ones keep being
/// served, and the waiting one is served as soon as a slot frees.
#[tokio::test]
async fn at_the_connection_cap_the_next_connection_waits_for_a_free_slot() {
    let server = Server::start(limits(10_000, 60_000, 2), Duration::from_secs(5)).await;
    let mut first = server.connect().await;
    hello_on(&mut first).await;
    let mut second = server.connect().await;
    hello_on(&mut second).await;

    let mut third = server.connect().await;
    third.write_all(GET).await.expect("send");
    stays_open(&mut third, Duration::from_millis(500)).await;
    // The two open connections are still served meanwhile.
    hello_on(&mut first).await;
    hello_on(&mut second).await;

    drop(second);
    let response = tokio::time::timeout(Duration::from_secs(5), read_response(&mut third))
        .await
        .expect("served once a slot is free")
        .expect("a response");
    assert!(response.ends_with("hello"), "{response}");
    hello_on(&mut first).await;
}

/// Slow-header clients cannot hold the cap for long: once the header
/// timeout closes them, a waiting connection gets their slot.
#[tokio::test]
async fn slow_clients_at_the_cap_give_way_after_the_header_timeout() {
    let server = Server::start(limits(400, 60_000, 2), Duration::from_secs(5)).await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut holder = server.connect().await;
        holder
            .write_all(b"GET /hello HTTP/1.1\r\n")
            .await
            .expect("send");
        holders.push(holder);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let mut waiting = server.connect().await;
    waiting.write_all(GET).await.expect("send");
    let response = tokio::time::timeout(Duration::from_secs(5), read_response(&mut waiting))
        .await
        .expect("served within 5 s")
        .expect("a response");
    assert!(response.ends_with("hello"), "{response}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_closes_idle_connections_at_once() {
    let mut server = Server::start(limits(10_000, 60_000, 100), Duration::from_secs(10)).await;
    // An idle keep-alive connection must not hold the drain for its 60 s.
    let mut idle = server.connect().await;
    hello_on(&mut idle).await;
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn(client.get(server.url("/sleep/700")).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.shut_down();
    closed_within(&mut idle, Duration::from_secs(2)).await;
    let response = in_flight.await.expect("join").expect("answered");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "slept");
    let served = tokio::time::timeout(Duration::from_secs(5), &mut server.served)
        .await
        .expect("stops once drained")
        .expect("join");
    assert!(served.is_ok());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // No longer accepting.
    assert!(TcpStream::connect(server.address).await.is_err());
}

#[tokio::test]
async fn the_drain_ends_at_the_grace_period() {
    let mut server = Server::start(limits(10_000, 60_000, 100), Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn(client.get(server.url("/sleep/10000")).send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.shut_down();
    tokio::time::timeout(Duration::from_secs(3), &mut server.served)
        .await
        .expect("stops at the grace period")
        .expect("join")
        .expect("served");
    assert!(started.elapsed() >= Duration::from_millis(250));
    // The request was never answered: its connection was closed.
    let answered = tokio::time::timeout(Duration::from_secs(3), in_flight)
        .await
        .expect("the client hears the close")
        .expect("join");
    assert!(answered.is_err(), "{answered:?}");
}
