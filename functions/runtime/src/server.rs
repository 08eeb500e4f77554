//! The HTTP side of the function contract: the standard endpoints and
//! middleware around a function's routes, graceful shutdown, and [`run`],
//! the one start-up path every function's `main` takes.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::CatchUnwind;

use axum::Router;
use axum::extract::{MatchedPath, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::config::{ConfigError, ConnectionLimits, Env, ProcessEnv, RuntimeConfig};
use crate::error::Error;
use crate::metrics::{Metrics, serve_metrics};
use crate::problem::Problem;

/// Tells whether a function's dependencies are usable (`GET /readyz`).
pub trait Readiness: Clone + Send + Sync + 'static {
    /// `Err(why)` while not ready.
    fn check(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// For functions with no dependency to wait for.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysReady;

impl Readiness for AlwaysReady {
    async fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Tells whether the process can still do its work (`GET /healthz`): when it
/// fails, the kubelet's liveness probe restarts the container. It must not
/// wait on anything (no I/O): it judges the process from what it recorded,
/// such as a worker that stopped making progress.
pub trait Liveness: Clone + Send + Sync + 'static {
    /// `Err(why)` while the process is wedged.
    fn check(&self) -> Result<(), String>;
}

/// For functions whose liveness is the process answering at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysLive;

impl Liveness for AlwaysLive {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

async fn live<L: Liveness>(State(liveness): State<L>) -> Response {
    match liveness.check() {
        Ok(()) => "ok".into_response(),
        Err(why) => {
            tracing::error!(%why, "liveness check failed");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not_live", why).into_response()
        }
    }
}

/// Wraps a function's routes with the contract: `/healthz`, `/readyz`,
/// `/metrics`, problem+json for unknown routes and methods, request metrics,
/// a request span, a per-request timeout (504) and panic containment (500).
pub fn contract<R: Readiness>(
    routes: Router,
    config: &RuntimeConfig,
    metrics: Arc<Metrics>,
    readiness: R,
) -> Router {
    contract_with_liveness(routes, config, metrics, readiness, AlwaysLive)
}

/// [`contract`] whose `/healthz` answers 503 while `liveness` fails.
pub fn contract_with_liveness<R: Readiness, L: Liveness>(
    routes: Router,
    config: &RuntimeConfig,
    metrics: Arc<Metrics>,
    readiness: R,
    liveness: L,
) -> Router {
    let service = config.service.clone().unwrap_or_default();
    let revision = config.revision.clone().unwrap_or_default();
    let sink_missing = config.require_sink && config.sink.is_none();
    routes
        .route("/healthz", get(live::<L>).with_state(liveness))
        .route(
            "/readyz",
            get(ready::<R>).with_state((readiness, sink_missing)),
        )
        .route("/metrics", get(serve_metrics).with_state(metrics.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(ContractLayer {
            metrics,
            limit: config.request_timeout,
        })
        .layer(
            // Failures are logged once, where the error is answered.
            TraceLayer::new_for_http().on_failure(()).make_span_with(
                move |request: &Request<_>| {
                    let route = request
                        .extensions()
                        .get::<axum::extract::MatchedPath>()
                        .map_or(request.uri().path(), |p| p.as_str());
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        route,
                        service = %service,
                        revision = %revision,
                    )
                },
            ),
        )
}

/// The contract's per-request middleware as one layer with a concrete
/// future: panic containment (500), the time limit (504, a problem
/// document) and the request metrics, in that order from the inside. (An
/// `axum::middleware::from_fn` layer boxes a future and clones the inner
/// service per request; tower-http's catch-panic layer boxes the body.)
#[derive(Debug, Clone)]
struct ContractLayer {
    metrics: Arc<Metrics>,
    limit: Duration,
}

impl<S> tower::Layer<S> for ContractLayer {
    type Service = ContractService<S>;

    fn layer(&self, inner: S) -> ContractService<S> {
        ContractService {
            inner,
            metrics: self.metrics.clone(),
            limit: self.limit,
        }
    }
}

#[derive(Debug, Clone)]
struct ContractService<S> {
    inner: S,
    metrics: Arc<Metrics>,
    limit: Duration,
}

impl<S> tower::Service<axum::extract::Request> for ContractService<S>
where
    S: tower::Service<axum::extract::Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ContractFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let started = Instant::now();
        // A handler may panic while its future is made, or while it runs.
        let inner = std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request)))
            .ok()
            .map(|future| {
                // The request is polled before the timer: one that is done at
                // once never registers it (no wake-up of the I/O driver).
                tokio::time::timeout(self.limit, AssertUnwindSafe(future).catch_unwind())
            });
        ContractFuture {
            inner,
            route,
            started,
            metrics: self.metrics.clone(),
            limit: self.limit,
        }
    }
}

pin_project_lite::pin_project! {
    struct ContractFuture<F> {
        #[pin]
        inner: Option<tokio::time::Timeout<CatchUnwind<AssertUnwindSafe<F>>>>,
        route: Option<MatchedPath>,
        started: Instant,
        metrics: Arc<Metrics>,
        limit: Duration,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for ContractFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.inner.as_pin_mut() {
            None => panicked(),
            Some(inner) => match std::task::ready!(inner.poll(cx)) {
                Ok(Ok(Ok(response))) => response,
                Ok(Ok(Err(never))) => match never {},
                Ok(Err(_)) => panicked(),
                Err(_) => Error::UpstreamTimeout(format!(
                    "the request was not done within {} s; retry later",
                    this.limit.as_secs()
                ))
                .into_response(),
            },
        };
        this.metrics
            .request_done(this.route.as_ref(), &response, this.started.elapsed());
        Poll::Ready(Ok(response))
    }
}

fn panicked() -> Response {
    Error::Internal("a handler panicked".into()).into_response()
}

async fn ready<R: Readiness>(State((readiness, sink_missing)): State<(R, bool)>) -> Response {
    let status = if sink_missing {
        Err(crate::emit::SINK_MISSING.to_owned())
    } else {
        readiness.check().await
    };
    match status {
        Ok(()) => "ready".into_response(),
        Err(why) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why)
            .with_retry_after(Duration::from_secs(1))
            .into_response(),
    }
}

async fn not_found() -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see the function's documentation",
    )
    .into_response()
}

async fn method_not_allowed() -> Response {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
    .into_response()
}

/// Resolves on SIGTERM (Kubernetes) or Ctrl-C (SIGINT).
///
/// The handlers are installed when this is called, not when the future is
/// first polled: a signal that arrives while start-up work runs, before
/// anything awaits the future, still stops the process in order instead of
/// killing it. Must be called inside a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // A handler that cannot be installed never fires (the default
        // action then stays in place for that signal).
        let mut terminate = signal(SignalKind::terminate()).ok();
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            let terminate = async {
                match terminate.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(s) => drop(s.recv().await),
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = terminate => {},
                () = interrupt => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves `app` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish for at most `grace`; the connection limits are
/// the defaults ([`serve_with`] takes them from the configuration).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, grace, ConnectionLimits::default()).await
}

/// [`serve`] with these connection limits: a request head must arrive
/// within `header_read_timeout` of its first byte (or of the connection's
/// opening), a keep-alive connection waits `idle_timeout` for its next
/// request, and at most `max_connections` are open; at the cap no more are
/// accepted until one closes (they wait in the listen backlog). HTTP/1.1 and
/// HTTP/2 with prior knowledge, as `axum::serve`.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    crate::connection::run(listener, app, shutdown, grace, limits).await;
    Ok(())
}

/// The settings of one function: the runtime's and its own, read from the
/// environment once, before anything else happens.
pub trait Settings: Sized + Send + 'static {
    /// Reads every variable, reporting all bad ones together; `Ok` carries
    /// warnings (unknown `PACT_*` variables). Runs before the async runtime
    /// starts, so it may read files.
    fn from_env<E: Env + ?Sized>(env: &E) -> Result<(Self, Vec<String>), ConfigError>;

    /// The function contract's part (port, sink, logs, limits).
    fn runtime(&self) -> &RuntimeConfig;
}

/// Implements [`Settings`] for a function's `Config` that has an inherent
/// `Config::from_env` and a `runtime: RuntimeConfig` field, as every
/// function's `config.rs` does: `pact_runtime::settings!(Config);`.
#[macro_export]
macro_rules! settings {
    ($config:ty) => {
        impl $crate::server::Settings for $config {
            fn from_env<E: $crate::config::Env + ?Sized>(
                env: &E,
            ) -> ::std::result::Result<
                (Self, ::std::vec::Vec<::std::string::String>),
                $crate::config::ConfigError,
            > {
                <$config>::from_env(env)
            }

            fn runtime(&self) -> &$crate::config::RuntimeConfig {
                &self.runtime
            }
        }
    };
}

/// A PACT function, as [`run`] starts it: what each crate's `app.rs`
/// implements.
pub trait Function {
    /// The function's name, in logs and problem documents (`pact-query`).
    const NAME: &'static str;
    /// Its settings (the crate's `config.rs`).
    type Settings: Settings;

    /// Builds the router from the settings: inside the Tokio runtime, with
    /// logs set up, before the port is bound. Background work it starts
    /// (a migration, a writer) must not delay it.
    fn start(settings: Self::Settings) -> Started;
}

/// A started function: its router, and what to do once the server has
/// stopped (flush writes, close the database).
pub struct Started {
    app: Router,
    stop: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Started {
    /// A function with nothing to do after the server stops.
    pub fn new(app: Router) -> Self {
        Self { app, stop: None }
    }

    /// `stop` runs after the server has stopped and drained, before exit.
    pub fn then(mut self, stop: impl Future<Output = ()> + Send + 'static) -> Self {
        self.stop = Some(Box::pin(stop));
        self
    }
}

/// The whole process of a function, the one start-up path every function's
/// binary (and `pact function <name>`) takes: read the settings (exit 2
/// when one is bad), start the async runtime, set up logs once, log the
/// warnings, [`Function::start`], bind `0.0.0.0:$PORT`, serve until SIGTERM
/// or Ctrl-C and drain, then the function's stop work. Exit code 0 after a
/// clean shutdown, 1 when the port cannot be bound.
pub fn run<F: Function>() -> ExitCode {
    let (settings, warnings) = match F::Settings::from_env(&ProcessEnv) {
        Ok(read) => read,
        Err(e) => return config_failed(F::NAME, &e),
    };
    block_on(F::NAME, async move {
        let config = settings.runtime().clone();
        crate::telemetry::init(&config);
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        let started = F::start(settings);
        let code = listen(F::NAME, &config, started.app).await;
        if let Some(stop) = started.stop {
            stop.await;
        }
        code
    })
}

/// Binds `0.0.0.0:$PORT`, serves `app`, drains on SIGTERM.
async fn listen(name: &str, config: &RuntimeConfig, app: Router) -> ExitCode {
    let address = SocketAddr::from((config.listen, config.port));
    let listener = match TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(%address, error = %e, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().unwrap_or(address);
    tracing::info!(
        function = name,
        address = %local,
        sink = config.sink.as_ref().map_or("reply mode", |u| u.as_str()),
        service = config.service.as_deref().unwrap_or_default(),
        revision = config.revision.as_deref().unwrap_or_default(),
        "listening"
    );
    let served = serve_with(
        listener,
        app,
        shutdown_signal(),
        config.shutdown_grace,
        config.connections,
    );
    match served.await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// Runs a process body on a new multi-threaded runtime ([`run`] does, after
/// reading the settings). Exit code 1 if the runtime cannot start.
pub fn block_on(name: &str, body: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(body),
        Err(e) => {
            eprintln!("{name}: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reports a configuration error the way every function does, before logs
/// are set up: one clear message on stderr, exit code 2.
pub fn config_failed(name: &str, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("{name}: {error}");
    ExitCode::from(2)
}
