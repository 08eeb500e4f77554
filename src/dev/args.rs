//! The arguments and settings of `pact dev`: their defaults and the bounds
//! clap checks them against.

use std::path::PathBuf;
use std::time::Duration;

use crate::eventing::DeliveryOrder;
use crate::topology::{TOPOLOGY, Wiring};

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
    /// How the stages are wired: `explicit` (a topic per hop, a KafkaSource
    /// per stage) or `broker` (one Broker, a Trigger per stage).
    #[arg(long, value_enum, env = "PACT_DEV_TOPOLOGY", default_value_t = Wiring::Explicit)]
    pub topology: Wiring,
    /// First of the ports: one per function, then the eventing stand-in
    /// (0: ports the OS picks).
    #[arg(long, env = "PACT_DEV_PORT", default_value_t = 8180,
          value_parser = clap::value_parser!(u16).range(0..=i64::from(u16::MAX - last_port_offset())))]
    pub port: u16,
    /// Partitions of each topic (when it is created), 1 to 64.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub partitions: u32,
    /// Delivery order of every subscription.
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
    /// Also deliver a topic to a URL of yours, as a KafkaSource would: e.g.
    /// `pact-notifications=http://127.0.0.1:8080/` with `pact display`
    /// there. Repeatable; consumer group `pact-dev-<topic>-<n>` (n counts
    /// from 1 in the order given), so a restart goes on where it stopped.
    #[arg(long, value_name = "TOPIC=URL", value_parser = subscriber)]
    pub subscribe: Vec<(String, reqwest::Url)>,
}

/// `--subscribe`'s `TOPIC=URL`: a topic of the pipeline and an http(s) URL.
fn subscriber(text: &str) -> Result<(String, reqwest::Url), String> {
    let (topic, url) = text
        .split_once('=')
        .ok_or("expected TOPIC=URL, e.g. pact-notifications=http://127.0.0.1:8080/")?;
    let topics = TOPOLOGY.all_topics();
    if !topics.contains(&topic) {
        return Err(format!(
            "{topic} is not a topic of the pipeline ({})",
            topics.join(", ")
        ));
    }
    let url: reqwest::Url = url.parse().map_err(|e| format!("{url}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{url}: an http or https URL"));
    }
    Ok((topic.to_owned(), url))
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

/// pact-query's port offset (its page is at `/ui/`).
fn query_port_offset() -> u16 {
    TOPOLOGY
        .stage("query")
        .expect("pipeline.toml has pact-query (its tests check the stages)")
        .port_offset
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
  pact dev --topology broker            one Broker and a Trigger per stage
  pact dev --subscribe pact-notifications=http://127.0.0.1:8080/   (with `pact display`)
  curl -X POST 'http://127.0.0.1:8180/pact/producer?message=1,2,44.98,-93.25'
  curl http://127.0.0.1:{}/topics     offsets, lag, dead letters
  open http://127.0.0.1:{}/ui/        the page for health staff (pact-query)",
        ports.join(", "),
        8180 + last_port_offset(),
        8180 + TOPOLOGY.eventing_port_offset,
        8180 + query_port_offset(),
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
            topology: Wiring::Explicit,
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
            subscribe: Vec::new(),
        }
    }
}
