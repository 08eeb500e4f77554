//! The accept loop and each connection's watch: hyper-util's HTTP/1 and
//! HTTP/2 (prior knowledge) server, as `axum::serve` runs it, plus what that
//! lacks: a header-read timeout, an idle keep-alive timeout, a cap on open
//! connections and a drain bounded by the grace period.
//!
//! The two timeouts are measured here rather than with hyper's own
//! `header_read_timeout`: hyper starts that timer as soon as a keep-alive
//! connection goes idle, so idle connections would be closed after the
//! (short) header timeout. Knative's queue-proxy keeps idle connections for
//! 90 s and sends a request on one at any moment; closing them sooner than
//! the proxy does invites a request racing the close, which the proxy answers
//! 502. So: the header timeout runs from the first byte of a request head
//! (or from the connection's opening), the idle timeout from the end of the
//! last response.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::ConnectionLimits;

/// Largest request head (request line and headers) taken; hyper answers 431
/// beyond it. Hyper's read buffer otherwise grows to about 400 KiB per
/// connection, so a thousand slow clients could hold 400 MiB in a 256 MiB
/// container: with this, the connection cap bounds memory too.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, asks every connection to close once its requests are answered,
/// and waits for them for at most `grace`.
pub(crate) async fn run(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    limits: ConnectionLimits,
) {
    let builder = Arc::new(builder());
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut at_cap = false;
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        // A free slot before accepting: at the cap, new connections wait in
        // the listen backlog (queue-proxy's connect succeeds and its request
        // is served when a slot frees) instead of being accepted and reset,
        // which the proxy would answer 502.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                at_cap = false;
                permit
            }
            Err(_) => {
                if !at_cap {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached; new connections wait until one closes"
                    );
                    at_cap = true;
                }
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break, // never closed
                    },
                }
            }
        };
        let tcp = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of file descriptors and the like: wait, as
                        // axum::serve does, rather than spin.
                        tracing::error!(error = %e, "cannot accept connections");
                        tokio::select! {
                            () = &mut shutdown => break,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                    continue;
                }
            },
        };
        connections.spawn(connection(
            tcp,
            builder.clone(),
            router.clone(),
            limits,
            stopped.clone(),
            permit,
        ));
    }
    // From here new connections are refused.
    drop(listener);
    tracing::info!(
        grace_s = grace.as_secs(),
        "shutting down, draining in-flight requests"
    );
    let _ = stop.send(true);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "grace period over with requests still in flight; they were not acknowledged"
        );
    }
    // Dropping the set ends the connections still open.
}

fn builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Ours instead, from the first byte (see the module's comment).
        .header_read_timeout(None)
        .max_buf_size(MAX_HEAD_BYTES);
    builder.http2().timer(TokioTimer::new());
    builder
}

/// Errors about one connection, not the listener: accept the next.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection and closes it when a timeout runs out: at once when
/// a request head is too slow (nothing is in flight to answer), gracefully
/// when it was idle too long or the server stops.
async fn connection(
    tcp: TcpStream,
    builder: Arc<auto::Builder<TokioExecutor>>,
    router: Router,
    limits: ConnectionLimits,
    mut stopped: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    // Small responses go out at once (no Nagle delay on keep-alive connections).
    let _ = tcp.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        tcp,
        activity: activity.clone(),
    });
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |request: http::Request<Incoming>| {
            let in_flight = activity.request_started();
            let router = router.clone();
            async move {
                let response = match router.oneshot(request.map(Body::new)).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|body| Tracked {
                    body,
                    _in_flight: in_flight,
                }))
            }
        }
    });
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = false;
    // Set once an idle close was asked: the peer gets this long to take it.
    let mut close_by: Option<Instant> = None;
    let due = |close_by: Option<Instant>| {
        close_by
            .map(|at| (at, Due::Close))
            .or_else(|| activity.due(&limits))
    };
    loop {
        let next = due(close_by);
        let timer = async {
            match next {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = activity.changed.notified() => {}
            _ = stopped.changed(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = timer => {
                // The phase may have moved on since the timer was set.
                match due(close_by) {
                    Some((at, why)) if at <= Instant::now() => match why {
                        Due::Head => {
                            tracing::debug!("request head not received in time; connection closed");
                            return;
                        }
                        Due::Idle if !closing => {
                            conn.as_mut().graceful_shutdown();
                            closing = true;
                            close_by = Some(
                                Instant::now()
                                    .checked_add(limits.header_read_timeout)
                                    .unwrap_or_else(Instant::now),
                            );
                        }
                        Due::Idle | Due::Close => return,
                    },
                    _ => {}
                }
            }
        }
    }
}

/// What one connection is doing, for its two timeouts.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for the first byte of the next request since then.
    Idle(Instant),
    /// A request head started arriving then (or the connection opened then).
    Head(Instant),
    /// This many requests in flight (several with HTTP/2 or pipelining).
    Busy(usize),
}

/// Which timeout is due.
#[derive(Debug, Clone, Copy)]
enum Due {
    Head,
    Idle,
    Close,
}

struct Activity {
    phase: Mutex<Phase>,
    /// Woken when a deadline comes nearer (idle began, or a head started).
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the current phase's timeout runs out, if it has one.
    fn due(&self, limits: &ConnectionLimits) -> Option<(Instant, Due)> {
        match *self.phase() {
            // A deadline too far for the clock is no deadline.
            Phase::Idle(since) => since
                .checked_add(limits.idle_timeout)
                .map(|at| (at, Due::Idle)),
            Phase::Head(since) => since
                .checked_add(limits.header_read_timeout)
                .map(|at| (at, Due::Head)),
            Phase::Busy(_) => None,
        }
    }

    fn bytes_read(&self) {
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
            drop(phase);
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy(n) => Phase::Busy(n.saturating_add(1)),
            Phase::Idle(_) | Phase::Head(_) => Phase::Busy(1),
        };
        InFlight(self.clone())
    }

    fn request_done(&self) {
        let mut phase = self.phase();
        match *phase {
            Phase::Busy(n) if n > 1 => *phase = Phase::Busy(n - 1),
            Phase::Busy(_) => {
                *phase = Phase::Idle(Instant::now());
                drop(phase);
                self.changed.notify_one();
            }
            Phase::Idle(_) | Phase::Head(_) => {}
        }
    }
}

/// A request from the call of the router until its response body is done
/// (or dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

/// A response body that keeps its request in flight until hyper drops it.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The TCP stream, noting when bytes arrive on an idle connection (the start
/// of a request head, whose timeout runs from there).
struct Watched {
    tcp: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}
