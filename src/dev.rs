//! `pact dev`: the whole pipeline on one machine, with no cluster.
//!
//! Each function runs as its own process (`pact function <name>`, the same
//! code as its own binary) on its own port, with the environment it gets in
//! the cluster: `PORT`, `K_SINK`, `K_SERVICE`, `DATABASE_URL`. The stand-in
//! of [`crate::eventing`] plays KafkaSink, Kafka and KafkaSource between them:
//!
//! ```text
//! pact-producer ─K_SINK─▶ topic pact-untranslated ─▶ pact-translation
//! pact-translation ─K_SINK─▶ topic pact-translated ─▶ pact-contactlog ─▶ DATABASE_URL
//! undeliverable ─▶ topic pact-deadletter        a daily ping ─▶ pact-contactlog
//! ```
//!
//! A function that dies is started again on the same port, as Kubernetes
//! would restart its container. Ctrl-C stops the producer first, then the
//! deliveries (offsets committed), then the other functions, each draining
//! what it acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pact_runtime::cloudevents::{EventBuilder, EventBuilderV10};
use serde::Serialize;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::Function;
use crate::eventing::{DeliveryOrder, DeliverySpec, Eventing, Retention, Subscription};
use crate::topology::{Stage, TOPOLOGY};

/// Arguments of `pact dev`.
#[derive(Debug, clap::Args)]
#[command(after_help = after_help())]
pub struct Args {
    /// How the pipeline is set up.
    #[command(flatten)]
    pub settings: Settings,
    /// Print JSON lines on stdout (ready, restarted, stopped) for scripts.
    #[arg(long)]
    pub json: bool,
}

/// How the local pipeline is set up.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Directory of the topics, offsets and (by default) the SQLite database;
    /// kept between runs.
    #[arg(long, env = "PACT_DEV_DIR", default_value = ".pact-dev")]
    pub dir: PathBuf,
    /// First of the ports: one per function, then the eventing stand-in
    /// (0: ports the OS picks).
    #[arg(long, env = "PACT_DEV_PORT", default_value_t = 8180,
          value_parser = clap::value_parser!(u16).range(0..=i64::from(u16::MAX - last_port_offset())))]
    pub port: u16,
    /// Partitions of each topic (when it is created), 1 to 64.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub partitions: u32,
    /// Delivery order of both subscriptions.
    #[arg(long, value_enum, default_value_t = DeliveryOrder::Unordered)]
    pub ordering: DeliveryOrder,
    /// Events in flight per partition when unordered, 1 to 4096.
    #[arg(long, default_value_t = 64,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=4096))]
    pub max_in_flight: usize,
    /// Retries before an event goes to the dead-letter topic, 0 to 100.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub retry: u32,
    /// Delay before the first retry; doubles at each retry (1ms to 1h).
    #[arg(long, default_value = "200ms",
          value_parser = duration_within(Duration::from_millis(1), HOUR))]
    pub backoff_delay: Duration,
    /// Time limit of one delivery attempt (1ms to 1h).
    #[arg(long, default_value = "30s",
          value_parser = duration_within(Duration::from_millis(1), HOUR))]
    pub delivery_timeout: Duration,
    /// Largest record a topic takes, in bytes (1 to 256 MiB).
    #[arg(long, default_value_t = 8 << 20,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256 << 20))]
    pub max_record_bytes: usize,
    /// Deliver every event this many times (1 to 10; above 1, a test of
    /// idempotence: the contact log must still hold each contact once).
    #[arg(long, env = "PACT_DEV_DELIVERIES", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=10))]
    pub deliveries: u32,
    /// Time between retention pings to pact-contactlog (the PingSource; 1s
    /// to 366d).
    #[arg(long, default_value = "24h",
          value_parser = duration_within(Duration::from_secs(1), 366 * DAY))]
    pub ping_every: Duration,
    /// How long a record is kept once every subscriber committed past it
    /// (Kafka's retention.ms; 0s to 3650d).
    #[arg(long, default_value = "1h", value_parser = duration_within(Duration::ZERO, 3650 * DAY))]
    pub retention: Duration,
    /// How long a dead letter is kept (no subscriber reads them; 0s to 3650d).
    #[arg(long, default_value = "7d", value_parser = duration_within(Duration::ZERO, 3650 * DAY))]
    pub dead_letter_retention: Duration,
    /// How often records past their retention are deleted (100ms to 1d).
    #[arg(long, default_value = "1m",
          value_parser = duration_within(Duration::from_millis(100), DAY))]
    pub retention_check_interval: Duration,
}

/// The largest port offset of pipeline.toml: `--port` plus it must fit.
fn last_port_offset() -> u16 {
    TOPOLOGY
        .functions
        .iter()
        .map(|f| f.port_offset)
        .chain([TOPOLOGY.eventing_port_offset])
        .max()
        .unwrap_or(0)
}

/// `pact dev --help`'s last lines; the ports in the order of pipeline.toml.
fn after_help() -> String {
    let mut parts: Vec<(u16, &str)> = TOPOLOGY
        .functions
        .iter()
        .map(|f| (f.port_offset, f.name.as_str()))
        .collect();
    parts.push((TOPOLOGY.eventing_port_offset, "eventing"));
    parts.sort_unstable();
    let ports: Vec<&str> = parts.into_iter().map(|(_, name)| name).collect();
    format!(
        "Ports, from --port on: {}.
Every setting of the functions can be given in the environment and is passed on,
e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres pact dev.

Examples:
  pact dev                              state in ./.pact-dev, ports 8180-{}
  pact dev --port 0 --json              ports the OS picks; JSON lines on stdout
  curl -X POST 'http://127.0.0.1:8180/pact/producer?message=1,2,44.98,-93.25'
  curl http://127.0.0.1:{}/topics     offsets, lag, dead letters",
        ports.join(", "),
        8180 + last_port_offset(),
        8180 + TOPOLOGY.eventing_port_offset,
    )
}

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// A duration option (`200ms`, `1h`, `7d`) within `min..=max`, refused by
/// clap otherwise: bounded values cannot overflow the arithmetic done on
/// them later, and a zero period would panic a timer.
fn duration_within(
    min: Duration,
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text| {
        let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
        if duration < min || duration > max {
            return Err(format!("must be from {} to {}", short(min), short(max)));
        }
        Ok(duration)
    }
}

/// A bound as it would be typed: `3650d`, not humantime's `9years 11months…`.
fn short(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match (seconds, duration.subsec_nanos()) {
        (0, 0) => "0s".to_owned(),
        (s, 0) if s % 86_400 == 0 => format!("{}d", s / 86_400),
        (s, 0) if s % 3600 == 0 => format!("{}h", s / 3600),
        (s, 0) if s % 60 == 0 => format!("{}m", s / 60),
        (s, 0) => format!("{s}s"),
        _ => format!("{}ms", duration.as_millis()),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(".pact-dev"),
            port: 8180,
            partitions: 4,
            ordering: DeliveryOrder::Unordered,
            max_in_flight: 64,
            retry: 10,
            backoff_delay: Duration::from_millis(200),
            delivery_timeout: Duration::from_secs(30),
            max_record_bytes: 8 << 20,
            deliveries: 1,
            ping_every: DAY,
            retention: HOUR,
            dead_letter_retention: 7 * DAY,
            retention_check_interval: Duration::from_secs(60),
        }
    }
}

/// Start-up was interrupted (a signal); what had started was stopped.
#[derive(Debug, thiserror::Error)]
#[error("interrupted while starting")]
pub struct Cancelled;

/// Where the parts listen: each function by its short name, and
/// `eventing`.
#[derive(Debug, Clone, Serialize)]
pub struct Urls {
    /// Each function of pipeline.toml, by its short name (`producer`).
    #[serde(flatten)]
    pub functions: BTreeMap<String, String>,
    /// The eventing stand-in.
    pub eventing: String,
}

impl Urls {
    /// The base URL of the function with this short name (`""` for a name
    /// pipeline.toml does not list; the unit tests of the callers' names
    /// keep that from happening).
    pub fn of(&self, function: Function) -> &str {
        self.functions
            .get(function.name())
            .map_or("", String::as_str)
    }
}

/// The running pipeline.
pub struct Pipeline {
    urls: Urls,
    database_url: String,
    eventing: Eventing,
    server: JoinHandle<std::io::Result<()>>,
    server_stop: CancellationToken,
    ping: JoinHandle<()>,
    functions: HashMap<&'static str, Supervised>,
    events: Events,
}

/// Where lifecycle events go: human lines, JSON lines, or nowhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Events {
    /// Human lines on stderr.
    Text,
    /// JSON lines on stdout.
    Json,
    /// Nothing (the demo prints its own).
    Quiet,
}

impl Pipeline {
    /// Starts everything; fails, saying which part and why, if a part does
    /// not start, and with [`Cancelled`] (after stopping what started) when
    /// `cancel` fires first.
    pub async fn start(
        settings: &Settings,
        events: Events,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.dir)
            .with_context(|| format!("cannot create {}", settings.dir.display()))?;
        let dir = settings.dir.canonicalize()?;
        let port = |i: u16| {
            if settings.port == 0 {
                0
            } else {
                settings.port.saturating_add(i)
            }
        };
        let mut eventing = Eventing::open(
            &dir.join("topics.db"),
            &TOPOLOGY.all_topics(),
            settings.partitions,
        )
        .await?;
        let eventing_port = port(TOPOLOGY.eventing_port_offset);
        let listener =
            tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, eventing_port)))
                .await
                .with_context(|| format!("eventing: cannot listen on port {eventing_port}"))?;
        let eventing_url = format!("http://{}", listener.local_addr()?);
        let server_stop = CancellationToken::new();
        let server = tokio::spawn({
            let router = eventing.router(settings.max_record_bytes);
            let stop = server_stop.clone();
            async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await
            }
        });

        let database_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}", dir.join("pact.db").display()));
        let mut functions = HashMap::new();
        for stage in TOPOLOGY.start_order() {
            let env = environment(stage, &eventing_url, &database_url);
            let Some(function) = Function::named(&stage.name) else {
                bail!(
                    "pipeline.toml lists {}, which `pact function` cannot run",
                    stage.name
                );
            };
            match Supervised::start(function, port(stage.port_offset), env, events, cancel).await {
                Ok(supervised) => functions.insert(stage.name.as_str(), supervised),
                Err(e) => {
                    for (_, started) in functions.drain() {
                        let _ = started.stop().await;
                    }
                    if e.is::<Cancelled>() {
                        return Err(e);
                    }
                    return Err(e.context(format!("{} did not start", stage.service())));
                }
            };
        }
        let urls = Urls {
            functions: functions
                .iter()
                .map(|(name, f)| ((*name).to_owned(), f.url()))
                .collect(),
            eventing: eventing_url,
        };
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1024)
            .build()?;
        let delivery = DeliverySpec {
            retry: settings.retry,
            backoff_delay: settings.backoff_delay,
            timeout: settings.delivery_timeout,
            max_in_flight: settings.max_in_flight,
            deliveries: settings.deliveries,
        };
        // Downstream first, as the functions started.
        for stage in TOPOLOGY.functions.iter().rev() {
            let Some(topic) = &stage.reads else { continue };
            let subscription = Subscription {
                group: stage.consumer_group(),
                topic: topic.clone(),
                subscriber: format!("{}/", functions[stage.name.as_str()].url()).parse()?,
                ordering: settings.ordering,
                dead_letter_topic: TOPOLOGY.dead_letter_topic.clone(),
            };
            eventing
                .subscribe(subscription, delivery.clone(), client.clone())
                .await?;
        }
        // After the subscriptions: their groups hold what they have not
        // committed.
        eventing.retain(Retention {
            default: settings.retention,
            topics: HashMap::from([(
                TOPOLOGY.dead_letter_topic.clone(),
                settings.dead_letter_retention,
            )]),
            check_every: settings.retention_check_interval,
        });
        let pinged: Vec<(String, String)> = TOPOLOGY
            .functions
            .iter()
            .filter_map(|stage| {
                let source = stage.ping_source.clone()?;
                Some((format!("{}/", functions[stage.name.as_str()].url()), source))
            })
            .collect();
        let ping = tokio::spawn(ping_loop(client, pinged, settings.ping_every));
        Ok(Self {
            urls,
            database_url,
            eventing,
            server,
            server_stop,
            ping,
            functions,
            events,
        })
    }

    /// Where each part listens.
    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    /// The database pact-contactlog writes and pact-query reads.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Offsets, lag and counters of the topics and subscriptions.
    pub fn status(&self) -> crate::eventing::Status {
        self.eventing.status()
    }

    /// The process id of a function's current process.
    pub fn pid(&self, function: &str) -> Option<u32> {
        self.functions.get(function).and_then(Supervised::pid)
    }

    /// Stops everything in the order that loses nothing: the producer (its
    /// acknowledged events are in the topic), the deliveries (offsets
    /// committed), then the other functions, then the topic log.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.ping.abort();
        let mut failures = Vec::new();
        let ingress: Vec<_> = TOPOLOGY
            .ingress()
            .filter_map(|stage| self.functions.remove(stage.name.as_str()))
            .map(Supervised::stop)
            .collect();
        for result in futures_util::future::join_all(ingress).await {
            failures.extend(result.err());
        }
        self.eventing.stop_delivery().await;
        let rest: Vec<_> = self.functions.drain().map(|(_, f)| f.stop()).collect();
        for result in futures_util::future::join_all(rest).await {
            failures.extend(result.err());
        }
        self.server_stop.cancel();
        let _ = self.server.await;
        if self.events == Events::Json {
            json_line(&serde_json::json!({"event": "stopped"}));
        }
        match failures.is_empty() {
            true => Ok(()),
            false => bail!(
                "{}",
                failures
                    .iter()
                    .map(|e| format!("{e:#}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

/// Runs `pact dev`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logs();
    let events = if args.json {
        Events::Json
    } else {
        Events::Text
    };
    // Listening from the start: a signal during start-up stops what started.
    let shutdown = CancellationToken::new();
    let signal = pact_runtime::server::shutdown_signal();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            signal.await;
            shutdown.cancel();
        }
    });
    let pipeline = match Pipeline::start(&args.settings, events, &shutdown).await {
        Ok(pipeline) => pipeline,
        Err(e) if e.is::<Cancelled>() => {
            if args.json {
                json_line(&serde_json::json!({"event": "stopped"}));
            }
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e),
    };
    let urls = pipeline.urls().clone();
    if args.json {
        let pids: HashMap<&str, Option<u32>> = TOPOLOGY
            .functions
            .iter()
            .map(|f| (f.name.as_str(), pipeline.pid(&f.name)))
            .collect();
        json_line(&serde_json::json!({
            "event": "ready",
            "urls": urls,
            "pids": pids,
            "database_url": pact_runtime::redact::url(pipeline.database_url()),
            "dir": args.settings.dir,
        }));
    } else {
        text_line(&banner(
            &urls,
            &args.settings.dir,
            &pact_runtime::redact::url(pipeline.database_url()),
        ));
    }
    shutdown.cancelled().await;
    if !args.json {
        text_line("pact dev: stopping");
    }
    pipeline.stop().await?;
    Ok(ExitCode::SUCCESS)
}

/// What `pact dev` prints once everything is ready.
fn banner(urls: &Urls, dir: &std::path::Path, database_url: &str) -> String {
    let mut lines = vec![
        "pact dev: the whole pipeline on this machine (for development; clusters use Knative and Kafka)"
            .to_owned(),
        String::new(),
    ];
    for stage in &TOPOLOGY.functions {
        let url = urls.functions.get(&stage.name).map_or("", String::as_str);
        let what = match (&stage.reads, stage.endpoints.strip_suffix(')')) {
            (Some(topic), Some(open)) => format!("{open}; fed from {topic})"),
            (Some(topic), None) => format!("{} (fed from {topic})", stage.endpoints),
            (None, _) => stage.endpoints.clone(),
        };
        lines.push(format!("  {:<12} {url}   {what}", stage.name));
    }
    lines.push(format!(
        "  {:<12} {}   POST /topics/{{topic}}, GET /topics, GET /topics/{}/records",
        "eventing", urls.eventing, TOPOLOGY.dead_letter_topic
    ));
    lines.push(String::new());
    lines.push(format!(
        "  state        {} (topics, offsets{})",
        dir.display(),
        if std::env::var_os("DATABASE_URL").is_none() {
            ", pact.db"
        } else {
            ""
        }
    ));
    lines.push(format!("  database     {database_url}"));
    lines.push(String::new());
    lines.push("Ctrl-C stops everything.".to_owned());
    lines.join("\n")
}

/// A function's environment under `pact dev`, as in the cluster: its
/// `K_SINK` (the stand-in's endpoint of the topic it emits to), the
/// database, and what pipeline.toml adds on this machine.
fn environment(stage: &Stage, eventing_url: &str, database_url: &str) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(topic) = &stage.emits_to {
        env.push((
            "K_SINK".to_owned(),
            format!("{eventing_url}/topics/{topic}"),
        ));
    }
    if stage.database.is_some() {
        env.push(("DATABASE_URL".to_owned(), database_url.to_owned()));
    }
    env.extend(stage.dev_env(|name| std::env::var_os(name).is_some()));
    env
}

/// A JSON line on stdout. Write errors are ignored: a reader that went away
/// (`pact dev --json | head -1`) must not stop the pipeline.
fn json_line(value: &serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// A line on stderr, write errors ignored, as for [`json_line`].
fn text_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PACT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .compact()
        .try_init();
}

/// Sends a `dev.knative.sources.ping` event to each `(url, ping source)` at
/// start and then every `every`, as the cluster's daily PingSources do.
async fn ping_loop(client: reqwest::Client, targets: Vec<(String, String)>, every: Duration) {
    use pact_runtime::cloudevents::binding::reqwest::RequestBuilderExt;
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        for (url, source) in &targets {
            let event = EventBuilderV10::new()
                .id(uuid::Uuid::now_v7().to_string())
                .source(format!("/apis/v1/namespaces/pact/pingsources/{source}"))
                .ty(pact_runtime::wire::PING)
                .time(chrono::Utc::now())
                .build();
            let Ok(event) = event else { continue };
            let sent = match client.post(url).event(event) {
                Ok(request) => request.send().await,
                Err(_) => continue,
            };
            match sent {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(status = %response.status(), "retention ping refused");
                }
                Err(e) => tracing::warn!(error = %e, "retention ping not delivered"),
            }
        }
    }
}

/// A function process, started again when it dies.
struct Supervised {
    function: Function,
    port: u16,
    pid: Arc<Mutex<Option<u32>>>,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

/// How long a function may take to listen and to become ready.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long a function may drain after SIGTERM before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(35);

impl Supervised {
    async fn start(
        function: Function,
        port: u16,
        env: Vec<(String, String)>,
        events: Events,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the pact executable")?;
        let pid = Arc::new(Mutex::new(None));
        let stop = CancellationToken::new();
        let (listening_tx, listening_rx) = oneshot::channel();
        let task = tokio::spawn(supervise(
            Spawn {
                exe,
                function,
                env,
                events,
            },
            port,
            pid.clone(),
            stop.clone(),
            listening_tx,
        ));
        let listened = tokio::select! {
            listened = tokio::time::timeout(START_LIMIT, listening_rx) => listened,
            () = cancel.cancelled() => {
                stop.cancel();
                let _ = task.await;
                return Err(Cancelled.into());
            }
        };
        let port = match listened {
            Ok(Ok(port)) => port,
            Ok(Err(_)) => {
                // The supervisor gave up: its error says why.
                return Err(match task.await {
                    Ok(Err(e)) => e,
                    _ => anyhow::anyhow!("it exited before listening"),
                });
            }
            Err(_) => {
                stop.cancel();
                bail!("it did not listen within {} s", START_LIMIT.as_secs());
            }
        };
        let supervised = Self {
            function,
            port,
            pid,
            stop,
            task,
        };
        tokio::select! {
            ready = supervised.wait_ready() => ready.map(|()| supervised),
            () = cancel.cancelled() => {
                let _ = supervised.stop().await;
                Err(Cancelled.into())
            }
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn pid(&self) -> Option<u32> {
        *self
            .pid
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.url());
        let deadline = Instant::now() + START_LIMIT;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            match client.get(&url).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    last = format!(
                        "{}: {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    );
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!(
            "pact-{} was not ready within {} s (last /readyz: {last})",
            self.function.name(),
            START_LIMIT.as_secs()
        )
    }

    /// SIGTERM, then wait for the drain (killed after [`STOP_LIMIT`]).
    async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await.context("supervisor")?
    }
}

struct Spawn {
    exe: PathBuf,
    function: Function,
    env: Vec<(String, String)>,
    events: Events,
}

impl Spawn {
    fn command(&self, port: u16) -> tokio::process::Command {
        let name = format!("pact-{}", self.function.name());
        let mut command = tokio::process::Command::new(&self.exe);
        command
            .args(["function", self.function.name(), "--exit-with-parent"])
            .env("PORT", port.to_string())
            .env("K_SERVICE", &name)
            .env("PACT_LOG_FORMAT", "json")
            // Loopback unless asked otherwise: pact-query serves contact
            // data without a token here.
            .env(
                "PACT_LISTEN_ADDRESS",
                std::env::var("PACT_LISTEN_ADDRESS").unwrap_or_else(|_| "127.0.0.1".into()),
            )
            .env_remove("K_SINK")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            // Its own process group: Ctrl-C in a terminal reaches pact dev
            // only, which stops the functions in order.
            .process_group(0)
            // Closed when pact dev dies, however it dies: the function
            // then stops too (no orphans).
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

/// Runs a function, restarting it when it dies, until `stop`.
async fn supervise(
    spawn: Spawn,
    mut port: u16,
    pid: Arc<Mutex<Option<u32>>>,
    stop: CancellationToken,
    listening: oneshot::Sender<u16>,
) -> anyhow::Result<()> {
    let name = format!("pact-{}", spawn.function.name());
    let mut listening = Some(listening);
    let mut restarts: u32 = 0;
    loop {
        let mut child = spawn
            .command(port)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        *pid.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = child.id();
        let stderr = child.stderr.take().context("stderr is piped")?;
        // Held until this process ends: `wait` would close it otherwise.
        let _stdin = child.stdin.take();
        let (port_tx, mut port_rx) = watch::channel(None);
        let tail = Arc::new(Mutex::new(Vec::new()));
        let logs = tokio::spawn(forward_logs(
            spawn.function,
            stderr,
            spawn.events,
            port_tx,
            tail.clone(),
        ));
        let started = Instant::now();
        let mut watching = true;
        let exited = loop {
            tokio::select! {
                status = child.wait() => break Some(status?),
                changed = port_rx.changed(), if watching => {
                    watching = changed.is_ok();
                    if let Some(bound) = *port_rx.borrow_and_update() {
                        port = bound;
                        watching = false;
                        if let Some(tx) = listening.take() {
                            let _ = tx.send(bound);
                        }
                    }
                }
                () = stop.cancelled() => break None,
            }
        };
        let Some(status) = exited else {
            terminate(&mut child, &name).await;
            let _ = logs.await;
            *pid.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            return Ok(());
        };
        let _ = logs.await;
        let last_lines = tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .join("\n");
        if listening.is_some() {
            // It never listened: a configuration error or a port in use.
            bail!("{name} exited ({status}) before listening:\n{last_lines}");
        }
        restarts += 1;
        // Quick restarts, slower when it keeps dying right after starting.
        let delay = if started.elapsed() > Duration::from_secs(10) {
            Duration::from_millis(100)
        } else {
            Duration::from_millis(100 * u64::from(restarts.min(50)))
        };
        match spawn.events {
            Events::Json => json_line(&serde_json::json!({
                "event": "exited",
                "function": spawn.function.name(),
                "status": status.to_string(),
                "restarting_in_ms": delay.as_millis(),
            })),
            Events::Text => text_line(&format!(
                "pact dev: {name} exited ({status}); starting it again"
            )),
            Events::Quiet => {}
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop.cancelled() => return Ok(()),
        }
        if spawn.events == Events::Json {
            json_line(&serde_json::json!({
                "event": "restarting",
                "function": spawn.function.name(),
                "port": port,
            }));
        }
    }
}

async fn terminate(child: &mut tokio::process::Child, name: &str) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if let Some(id) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = kill(Pid::from_raw(id), Signal::SIGTERM);
    }
    match tokio::time::timeout(STOP_LIMIT, child.wait()).await {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => tracing::warn!("{name} stopped with {status}"),
        Ok(Err(e)) => tracing::warn!("{name}: {e}"),
        Err(_) => {
            tracing::warn!(
                "{name} did not stop within {} s; killed",
                STOP_LIMIT.as_secs()
            );
            let _ = child.kill().await;
        }
    }
}

/// Reads a function's JSON log lines: reports the port it listens on, keeps
/// the last lines (to explain a failed start), and prints the lines as
/// `name | LEVEL message key=value`.
async fn forward_logs(
    function: Function,
    stderr: tokio::process::ChildStderr,
    events: Events,
    port: watch::Sender<Option<u16>>,
    tail: Arc<Mutex<Vec<String>>>,
) {
    let raw_json = std::env::var("PACT_LOG_FORMAT").is_ok_and(|f| f == "json");
    let color = std::io::stderr().is_terminal();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let entry: Option<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(&line).ok();
        if let Some(entry) = &entry
            && entry.get("message").and_then(|m| m.as_str()) == Some("listening")
            && let Some(bound) = entry
                .get("address")
                .and_then(|a| a.as_str())
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
        {
            port.send_replace(Some(bound));
        }
        let text = match (&entry, raw_json) {
            (Some(_), true) | (None, _) => line,
            (Some(entry), false) => render(entry),
        };
        {
            let mut tail = tail
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if tail.len() == 20 {
                tail.remove(0);
            }
            tail.push(text.clone());
        }
        if events != Events::Quiet {
            let name = function.name();
            if color {
                text_line(&format!("\x1b[36m{name:>11}\x1b[0m │ {text}"));
            } else {
                text_line(&format!("{name:>11} │ {text}"));
            }
        }
    }
}

/// One JSON log entry as a short human line.
fn render(entry: &serde_json::Map<String, serde_json::Value>) -> String {
    let level = entry.get("level").and_then(|l| l.as_str()).unwrap_or("");
    let message = entry.get("message").and_then(|m| m.as_str()).unwrap_or("");
    let mut text = format!("{level:<5} {message}");
    for (key, value) in entry {
        if matches!(
            key.as_str(),
            "timestamp" | "level" | "message" | "target" | "span" | "spans" | "threadId"
        ) {
            continue;
        }
        match value {
            serde_json::Value::String(s) => text.push_str(&format!(" {key}={s}")),
            other => text.push_str(&format!(" {key}={other}")),
        }
    }
    text
}
