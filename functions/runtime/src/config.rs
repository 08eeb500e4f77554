//! Configuration from environment variables only, parsed once at start-up.
//!
//! Knative injects `PORT`, `K_SERVICE`, `K_REVISION`, `K_CONFIGURATION`; a
//! SinkBinding or ContainerSource injects `K_SINK` and `K_CE_OVERRIDES`. PACT's
//! own settings start with `PACT_`. Every bad variable is reported at once, by
//! name, with what is accepted.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;

/// Port to listen on.
pub const PORT: &str = "PORT";
/// Where to send emitted events; unset means reply mode.
pub const K_SINK: &str = "K_SINK";
/// `true`: refuse to work without `K_SINK` instead of falling back to reply
/// mode; for functions whose caller discards replies (docs/functions.md).
pub const PACT_REQUIRE_SINK: &str = "PACT_REQUIRE_SINK";
/// Extensions to set on every emitted event: `{"extensions":{"name":"value"}}`.
pub const K_CE_OVERRIDES: &str = "K_CE_OVERRIDES";
/// The Knative Service name, for logs.
pub const K_SERVICE: &str = "K_SERVICE";
/// The Knative Revision name, for logs.
pub const K_REVISION: &str = "K_REVISION";
/// `json` or `text`.
pub const PACT_LOG_FORMAT: &str = "PACT_LOG_FORMAT";
/// A `tracing` filter such as `info` or `pact_runtime=debug`.
pub const PACT_LOG: &str = "PACT_LOG";
/// The address to listen on: all interfaces (`0.0.0.0`, the contract's) by
/// default; `pact dev` uses `127.0.0.1`.
pub const PACT_LISTEN_ADDRESS: &str = "PACT_LISTEN_ADDRESS";
/// Seconds to drain in-flight requests after SIGTERM.
pub const PACT_SHUTDOWN_GRACE_S: &str = "PACT_SHUTDOWN_GRACE_S";
/// Seconds after which a request is answered 504.
pub const PACT_REQUEST_TIMEOUT_S: &str = "PACT_REQUEST_TIMEOUT_S";
/// Attempts to deliver one event to `K_SINK` (first try included).
pub const PACT_EMIT_ATTEMPTS: &str = "PACT_EMIT_ATTEMPTS";
/// Timeout of one delivery attempt to `K_SINK`, milliseconds.
pub const PACT_EMIT_TIMEOUT_MS: &str = "PACT_EMIT_TIMEOUT_MS";
/// First retry delay toward `K_SINK`, milliseconds; doubles per attempt, with jitter.
pub const PACT_EMIT_BACKOFF_MS: &str = "PACT_EMIT_BACKOFF_MS";
/// Milliseconds a client has to send a whole request head, from its first byte
/// (or from the connection's opening).
pub const PACT_HEADER_READ_TIMEOUT_MS: &str = "PACT_HEADER_READ_TIMEOUT_MS";
/// Seconds a keep-alive connection may wait for its next request.
pub const PACT_IDLE_TIMEOUT_S: &str = "PACT_IDLE_TIMEOUT_S";
/// Open connections at most; beyond it new ones wait to be accepted.
pub const PACT_MAX_CONNECTIONS: &str = "PACT_MAX_CONNECTIONS";

/// Default for [`PORT`]: Knative's.
pub const DEFAULT_PORT: u16 = 8080;
/// Default for [`PACT_SHUTDOWN_GRACE_S`]: under Kubernetes' 30 s termination grace.
pub const DEFAULT_SHUTDOWN_GRACE_S: u64 = 25;
/// Default for [`PACT_REQUEST_TIMEOUT_S`]: above the worst case of the emit retries.
pub const DEFAULT_REQUEST_TIMEOUT_S: u64 = 30;
/// Default for [`PACT_EMIT_ATTEMPTS`].
pub const DEFAULT_EMIT_ATTEMPTS: u32 = 4;
/// Default for [`PACT_EMIT_TIMEOUT_MS`].
pub const DEFAULT_EMIT_TIMEOUT_MS: u64 = 2_000;
/// Default for [`PACT_EMIT_BACKOFF_MS`].
pub const DEFAULT_EMIT_BACKOFF_MS: u64 = 50;
/// Default for [`PACT_HEADER_READ_TIMEOUT_MS`]: a request head is one packet
/// from queue-proxy; 10 s is generous for any honest client and short for a
/// slow-header attack.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default for [`PACT_IDLE_TIMEOUT_S`]: above the 90 s after which Knative's
/// queue-proxy drops its own idle connections (Go's `IdleConnTimeout`), so the
/// proxy closes first and never sends a request on a connection we are
/// closing.
pub const DEFAULT_IDLE_TIMEOUT_S: u64 = 120;
/// Default for [`PACT_MAX_CONNECTIONS`]: queue-proxy keeps up to 1,000 idle
/// connections to its container (with `containerConcurrency` 0), so it never
/// has to wait; the cap bounds memory against clients that bypass it.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1_000;

/// Largest [`PACT_SHUTDOWN_GRACE_S`] and [`PACT_REQUEST_TIMEOUT_S`]: an hour.
/// Larger numbers are mistakes, and some overflow the clock.
pub const MAX_SECONDS: u64 = 3_600;
/// Largest [`PACT_EMIT_TIMEOUT_MS`], [`PACT_EMIT_BACKOFF_MS`] and
/// [`PACT_HEADER_READ_TIMEOUT_MS`]: ten minutes.
pub const MAX_MILLIS: u64 = 600_000;
/// Largest [`PACT_MAX_CONNECTIONS`].
pub const MAX_CONNECTIONS: usize = 100_000;

/// Where configuration comes from: the process environment, or a map in tests.
pub trait Env {
    /// The value of `name`, if set.
    fn var(&self, name: &str) -> Option<String>;
    /// All names that are set (to warn about unknown `PACT_*` names).
    fn names(&self) -> Vec<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn names(&self) -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .collect()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

impl Env for HashMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| (*v).to_owned())
    }

    fn names(&self) -> Vec<String> {
        self.keys().map(|k| (*k).to_owned()).collect()
    }
}

/// One bad variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadVar {
    /// The variable's name.
    pub name: &'static str,
    /// Its value as given (`***` for secrets).
    pub value: String,
    /// What is accepted.
    pub expected: String,
}

/// Every bad variable found, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError(pub Vec<BadVar>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for bad in &self.0 {
            writeln!(f, "  {}={:?}: {}", bad.name, bad.value, bad.expected)?;
        }
        Ok(())
    }
}

/// Reads variables one by one, collecting every problem instead of stopping
/// at the first. Empty values count as unset (Kubernetes makes them easily).
pub struct EnvReader<'a, E: Env + ?Sized> {
    env: &'a E,
    bad: Vec<BadVar>,
    read: BTreeSet<&'static str>,
}

impl<'a, E: Env + ?Sized> EnvReader<'a, E> {
    /// Starts reading from `env`.
    pub fn new(env: &'a E) -> Self {
        Self {
            env,
            bad: Vec::new(),
            read: BTreeSet::new(),
        }
    }

    /// The raw value, `None` when unset or empty.
    pub fn raw(&mut self, name: &'static str) -> Option<String> {
        self.read.insert(name);
        self.env.var(name).filter(|v| !v.trim().is_empty())
    }

    /// Parses with `FromStr`, or the default when unset.
    pub fn parse_or<T: FromStr>(&mut self, name: &'static str, default: T, expected: &str) -> T {
        self.parse_with(name, expected, |v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    /// Parses with a function returning `None` for a bad value.
    pub fn parse_with<T>(
        &mut self,
        name: &'static str,
        expected: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let raw = self.raw(name)?;
        match parse(&raw) {
            Some(value) => Some(value),
            None => {
                self.reject(name, raw, expected);
                None
            }
        }
    }

    /// A duration given as a whole number of seconds within `range`, or
    /// `default` when unset. Anything else (a fraction, a sign, a number too
    /// large for the clock) is reported as a bad value, never clamped.
    pub fn seconds(
        &mut self,
        name: &'static str,
        default: Duration,
        range: RangeInclusive<u64>,
    ) -> Duration {
        self.duration(name, default, range, "seconds", Duration::from_secs)
    }

    /// Like [`EnvReader::seconds`], in milliseconds.
    pub fn millis(
        &mut self,
        name: &'static str,
        default: Duration,
        range: RangeInclusive<u64>,
    ) -> Duration {
        self.duration(name, default, range, "milliseconds", Duration::from_millis)
    }

    fn duration(
        &mut self,
        name: &'static str,
        default: Duration,
        range: RangeInclusive<u64>,
        unit: &str,
        from: fn(u64) -> Duration,
    ) -> Duration {
        let expected = format!(
            "a whole number of {unit} from {} to {}",
            range.start(),
            range.end()
        );
        self.parse_with(name, &expected, |v| whole_number_in(v, &range))
            .map_or(default, from)
    }

    /// Records a bad value found by the caller.
    pub fn reject(&mut self, name: &'static str, value: String, expected: impl Into<String>) {
        self.bad.push(BadVar {
            name,
            value,
            expected: expected.into(),
        });
    }

    /// `Ok(warnings)` when every variable read was good: the warnings name
    /// `PACT_*` variables that are set but that nothing read (likely typos).
    pub fn finish(self) -> Result<Vec<String>, ConfigError> {
        if !self.bad.is_empty() {
            return Err(ConfigError(self.bad));
        }
        let mut unknown: Vec<String> = self
            .env
            .names()
            .into_iter()
            .filter(|n| n.starts_with("PACT_") && !self.read.contains(n.as_str()))
            .collect();
        unknown.sort();
        Ok(unknown
            .into_iter()
            .map(|n| format!("{n} is set but this function does not read it"))
            .collect())
    }
}

/// Digits only (no sign), within `range`.
fn whole_number_in(raw: &str, range: &RangeInclusive<u64>) -> Option<u64> {
    let raw = raw.trim();
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok().filter(|n| range.contains(n))
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (the default outside containers).
    #[default]
    Text,
    /// One JSON object per line (set in the container images and manifests).
    Json,
}

/// How events are retried toward `K_SINK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmitPolicy {
    /// Attempts per event, the first included.
    pub attempts: u32,
    /// Timeout of one attempt.
    pub attempt_timeout: Duration,
    /// First backoff; doubles per retry, capped at [`EmitPolicy::MAX_BACKOFF`].
    pub backoff: Duration,
}

impl EmitPolicy {
    /// Cap of one backoff step.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
}

impl Default for EmitPolicy {
    fn default() -> Self {
        Self {
            attempts: DEFAULT_EMIT_ATTEMPTS,
            attempt_timeout: Duration::from_millis(DEFAULT_EMIT_TIMEOUT_MS),
            backoff: Duration::from_millis(DEFAULT_EMIT_BACKOFF_MS),
        }
    }
}

/// How the server treats connections (see [`crate::server::serve_with`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time to send a whole request head, from its first byte, or from the
    /// opening of the connection for the first request.
    pub header_read_timeout: Duration,
    /// Time a connection with no request in flight waits for the next one.
    pub idle_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_millis(DEFAULT_HEADER_READ_TIMEOUT_MS),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT_S),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// What every function reads: the Knative function contract.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    /// Port to listen on.
    pub port: u16,
    /// Address to listen on (`PACT_LISTEN_ADDRESS`, default all interfaces).
    pub listen: std::net::IpAddr,
    /// `K_SINK`; `None` means reply mode.
    pub sink: Option<Url>,
    /// `PACT_REQUIRE_SINK`: with no `K_SINK`, answer 503 (and `/readyz` 503)
    /// rather than reply.
    pub require_sink: bool,
    /// Extensions from `K_CE_OVERRIDES`, in name order.
    pub ce_overrides: Vec<(String, String)>,
    /// `K_SERVICE`.
    pub service: Option<String>,
    /// `K_REVISION`.
    pub revision: Option<String>,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter (`PACT_LOG`, default `info`).
    pub log_filter: String,
    /// Drain time after SIGTERM.
    pub shutdown_grace: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Retries toward `K_SINK`.
    pub emit: EmitPolicy,
    /// Header-read and idle timeouts, and the connection cap.
    pub connections: ConnectionLimits,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            port: DEFAULT_PORT,
            listen: std::net::Ipv4Addr::UNSPECIFIED.into(),
            sink: None,
            require_sink: false,
            ce_overrides: Vec::new(),
            service: None,
            revision: None,
            log_format: LogFormat::Text,
            log_filter: "info".into(),
            shutdown_grace: Duration::from_secs(DEFAULT_SHUTDOWN_GRACE_S),
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_S),
            emit: EmitPolicy::default(),
            connections: ConnectionLimits::default(),
        }
    }
}

impl RuntimeConfig {
    /// Reads the runtime's variables; the function adds its own to the same
    /// reader so that all problems are reported together.
    pub fn read<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> Self {
        let port = r.parse_or(PORT, DEFAULT_PORT, "a TCP port number, 0-65535");
        let listen = r.parse_or(
            PACT_LISTEN_ADDRESS,
            std::net::Ipv4Addr::UNSPECIFIED.into(),
            "an IP address such as 0.0.0.0, 127.0.0.1 or ::",
        );
        let sink = read_sink(r);
        let require_sink = read_require_sink(r);
        let ce_overrides = read_ce_overrides(r);
        let log_format = read_log_format(r);
        let log_filter = read_log_filter(r);
        // Every time value is bounded here and in the two reads below, so no
        // later `Instant + Duration` can overflow whatever the environment
        // says.
        let shutdown_grace = r.seconds(
            PACT_SHUTDOWN_GRACE_S,
            Duration::from_secs(DEFAULT_SHUTDOWN_GRACE_S),
            0..=MAX_SECONDS,
        );
        let request_timeout = r.seconds(
            PACT_REQUEST_TIMEOUT_S,
            Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_S),
            1..=MAX_SECONDS,
        );
        let emit = EmitPolicy::read(r);
        let connections = ConnectionLimits::read(r);
        Self {
            port,
            listen,
            sink,
            require_sink,
            ce_overrides,
            service: r.raw(K_SERVICE),
            revision: r.raw(K_REVISION),
            log_format,
            log_filter,
            shutdown_grace,
            request_timeout,
            emit,
            connections,
        }
    }

    /// Reads only the runtime's variables (for functions with none of their own).
    pub fn from_env<E: Env + ?Sized>(env: &E) -> Result<(Self, Vec<String>), ConfigError> {
        let mut reader = EnvReader::new(env);
        let config = Self::read(&mut reader);
        reader.finish().map(|warnings| (config, warnings))
    }
}

/// `K_SINK`: where events go; unset means reply mode.
fn read_sink<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> Option<Url> {
    r.parse_with(K_SINK, "an absolute http:// or https:// URL", |v| {
        Url::parse(v.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
    })
}

/// `PACT_REQUIRE_SINK`, `false` when unset.
fn read_require_sink<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> bool {
    r.parse_with(PACT_REQUIRE_SINK, "true or false", |v| match v.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    })
    .unwrap_or(false)
}

/// `K_CE_OVERRIDES`, none when unset.
fn read_ce_overrides<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> Vec<(String, String)> {
    match r.raw(K_CE_OVERRIDES) {
        None => Vec::new(),
        Some(raw) => parse_ce_overrides(&raw).unwrap_or_else(|why| {
            r.reject(K_CE_OVERRIDES, raw, why);
            Vec::new()
        }),
    }
}

/// `PACT_LOG_FORMAT`, text when unset.
fn read_log_format<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> LogFormat {
    r.parse_with(PACT_LOG_FORMAT, "json or text", |v| {
        match v.trim().to_ascii_lowercase().as_str() {
            "json" => Some(LogFormat::Json),
            "text" => Some(LogFormat::Text),
            _ => None,
        }
    })
    .unwrap_or_default()
}

/// `PACT_LOG`, `info` when unset.
fn read_log_filter<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> String {
    r.parse_with(
        PACT_LOG,
        "a tracing filter such as info or pact_runtime=debug",
        |v| {
            tracing_subscriber::EnvFilter::try_new(v)
                .ok()
                .map(|_| v.to_owned())
        },
    )
    .unwrap_or_else(|| "info".into())
}

impl EmitPolicy {
    /// `PACT_EMIT_ATTEMPTS`, `PACT_EMIT_TIMEOUT_MS`, `PACT_EMIT_BACKOFF_MS`.
    fn read<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> Self {
        let attempts = r
            .parse_with(PACT_EMIT_ATTEMPTS, "a whole number from 1 to 20", |v| {
                v.trim().parse().ok().filter(|n| (1..=20).contains(n))
            })
            .unwrap_or(DEFAULT_EMIT_ATTEMPTS);
        let attempt_timeout = r.millis(
            PACT_EMIT_TIMEOUT_MS,
            Duration::from_millis(DEFAULT_EMIT_TIMEOUT_MS),
            1..=MAX_MILLIS,
        );
        let backoff = r.millis(
            PACT_EMIT_BACKOFF_MS,
            Duration::from_millis(DEFAULT_EMIT_BACKOFF_MS),
            1..=MAX_MILLIS,
        );
        Self {
            attempts,
            attempt_timeout,
            backoff,
        }
    }
}

impl ConnectionLimits {
    /// `PACT_HEADER_READ_TIMEOUT_MS`, `PACT_IDLE_TIMEOUT_S`,
    /// `PACT_MAX_CONNECTIONS`.
    fn read<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> Self {
        let header_read_timeout = r.millis(
            PACT_HEADER_READ_TIMEOUT_MS,
            Duration::from_millis(DEFAULT_HEADER_READ_TIMEOUT_MS),
            1..=MAX_MILLIS,
        );
        let idle_timeout = r.seconds(
            PACT_IDLE_TIMEOUT_S,
            Duration::from_secs(DEFAULT_IDLE_TIMEOUT_S),
            1..=MAX_SECONDS,
        );
        let max_connections = r
            .parse_with(
                PACT_MAX_CONNECTIONS,
                &format!("a whole number from 1 to {MAX_CONNECTIONS}"),
                |v| {
                    whole_number_in(v, &(1..=MAX_CONNECTIONS as u64))
                        .and_then(|n| usize::try_from(n).ok())
                },
            )
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        Self {
            header_read_timeout,
            idle_timeout,
            max_connections,
        }
    }
}

/// Parses `K_CE_OVERRIDES`. Names follow the CloudEvents rule for extension
/// attributes (lower-case letters and digits); values are text without control
/// characters (binary mode percent-encodes the rest).
fn parse_ce_overrides(raw: &str) -> Result<Vec<(String, String)>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Overrides {
        #[serde(default)]
        extensions: HashMap<String, serde_json::Value>,
    }
    let parsed: Overrides = serde_json::from_str(raw)
        .map_err(|e| format!(r#"JSON such as {{"extensions":{{"name":"value"}}}} ({e})"#))?;
    let mut out = Vec::with_capacity(parsed.extensions.len());
    for (name, value) in parsed.extensions {
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !valid_name {
            return Err(format!(
                "extension name {name:?} must be lower-case letters and digits"
            ));
        }
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => return Err(format!("extension {name} must be a string, not {other}")),
        };
        if value.chars().any(char::is_control) {
            return Err(format!(
                "extension {name} must not contain control characters"
            ));
        }
        out.push((name, value));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn defaults_match_the_knative_contract() {
        let (config, warnings) = RuntimeConfig::from_env(&env(&[])).expect("valid");
        assert_eq!(config, RuntimeConfig::default());
        assert_eq!(config.port, 8080);
        assert!(warnings.is_empty());
    }

    #[test]
    fn reads_every_variable() {
        let (config, _) = RuntimeConfig::from_env(&env(&[
            (PORT, "9000"),
            (PACT_LISTEN_ADDRESS, "127.0.0.1"),
            (K_SINK, "http://sink.pact.svc.cluster.local/"),
            (K_CE_OVERRIDES, r#"{"extensions":{"team":"pact","tier":2}}"#),
            (K_SERVICE, "pact-translation"),
            (PACT_LOG_FORMAT, "JSON"),
            (PACT_SHUTDOWN_GRACE_S, "3"),
            (PACT_EMIT_ATTEMPTS, "2"),
        ]))
        .expect("valid");
        assert_eq!(config.port, 9000);
        assert_eq!(config.listen, std::net::Ipv4Addr::LOCALHOST);
        assert_eq!(
            config.sink.map(String::from).as_deref(),
            Some("http://sink.pact.svc.cluster.local/")
        );
        assert_eq!(
            config.ce_overrides,
            vec![("team".into(), "pact".into()), ("tier".into(), "2".into())]
        );
        assert_eq!(config.service.as_deref(), Some("pact-translation"));
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.shutdown_grace, Duration::from_secs(3));
        assert_eq!(config.emit.attempts, 2);
    }

    #[test]
    fn a_listen_address_must_be_an_ip_address() {
        let error = RuntimeConfig::from_env(&env(&[(PACT_LISTEN_ADDRESS, "localhost")]))
            .expect_err("a host name is not an address");
        assert!(error.to_string().contains("PACT_LISTEN_ADDRESS"), "{error}");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let (config, _) =
            RuntimeConfig::from_env(&env(&[(K_SINK, ""), (K_CE_OVERRIDES, " ")])).expect("valid");
        assert_eq!(config.sink, None);
        assert!(config.ce_overrides.is_empty());
    }

    #[test]
    fn reports_every_bad_variable_by_name() {
        let err = RuntimeConfig::from_env(&env(&[
            (PORT, "http"),
            (K_SINK, "not a url"),
            (K_CE_OVERRIDES, r#"{"extensions":{"Bad-Name":"x"}}"#),
            (PACT_LOG_FORMAT, "xml"),
            (PACT_EMIT_ATTEMPTS, "0"),
        ]))
        .expect_err("invalid");
        let names: Vec<_> = err.0.iter().map(|b| b.name).collect();
        assert_eq!(
            names,
            [
                PORT,
                K_SINK,
                K_CE_OVERRIDES,
                PACT_LOG_FORMAT,
                PACT_EMIT_ATTEMPTS
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("PACT_LOG_FORMAT=\"xml\": json or text"),
            "{text}"
        );
    }

    #[test]
    fn reads_the_connection_limits() {
        let (config, _) = RuntimeConfig::from_env(&env(&[])).expect("valid");
        assert_eq!(
            config.connections.header_read_timeout,
            Duration::from_secs(10)
        );
        assert_eq!(config.connections.idle_timeout, Duration::from_secs(120));
        assert_eq!(config.connections.max_connections, 1_000);
        let (config, _) = RuntimeConfig::from_env(&env(&[
            (PACT_HEADER_READ_TIMEOUT_MS, "250"),
            (PACT_IDLE_TIMEOUT_S, "5"),
            (PACT_MAX_CONNECTIONS, "2"),
        ]))
        .expect("valid");
        assert_eq!(
            config.connections,
            ConnectionLimits {
                header_read_timeout: Duration::from_millis(250),
                idle_timeout: Duration::from_secs(5),
                max_connections: 2,
            }
        );
    }

    /// Numbers that would overflow `Instant + Duration` (or are simply
    /// absurd) stop start-up with the accepted range, never a panic later.
    #[test]
    fn absurd_time_values_are_refused_with_their_range() {
        let huge = "18446744073709551615";
        let names = [
            PACT_SHUTDOWN_GRACE_S,
            PACT_REQUEST_TIMEOUT_S,
            PACT_EMIT_TIMEOUT_MS,
            PACT_EMIT_BACKOFF_MS,
            PACT_HEADER_READ_TIMEOUT_MS,
            PACT_IDLE_TIMEOUT_S,
            PACT_MAX_CONNECTIONS,
        ];
        for value in [
            huge,
            "99999999999999999999999",
            "-1",
            "1.5",
            "+5",
            "3601000",
        ] {
            let pairs: Vec<_> = names.iter().map(|&n| (n, value)).collect();
            let err = RuntimeConfig::from_env(&env(&pairs)).expect_err(value);
            let bad: Vec<_> = err.0.iter().map(|b| b.name).collect();
            assert_eq!(bad, names, "{value}");
        }
        let text = RuntimeConfig::from_env(&env(&[(PACT_SHUTDOWN_GRACE_S, huge)]))
            .expect_err("too long")
            .to_string();
        assert!(
            text.contains("a whole number of seconds from 0 to 3600"),
            "{text}"
        );
        // The edges are accepted.
        let (config, _) = RuntimeConfig::from_env(&env(&[
            (PACT_SHUTDOWN_GRACE_S, "0"),
            (PACT_REQUEST_TIMEOUT_S, "3600"),
            (PACT_EMIT_TIMEOUT_MS, "600000"),
            (PACT_MAX_CONNECTIONS, "100000"),
        ]))
        .expect("valid");
        assert_eq!(config.shutdown_grace, Duration::ZERO);
        assert_eq!(config.request_timeout, Duration::from_secs(3600));
        assert_eq!(config.emit.attempt_timeout, Duration::from_secs(600));
        assert_eq!(config.connections.max_connections, 100_000);
    }

    #[test]
    fn warns_about_unknown_pact_variables() {
        let (_, warnings) =
            RuntimeConfig::from_env(&env(&[("PACT_LOG_FORMATT", "json")])).expect("valid");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("PACT_LOG_FORMATT"));
    }

    #[test]
    fn require_sink_is_true_or_false_and_off_by_default() {
        fn read(value: &'static str) -> Result<(RuntimeConfig, Vec<String>), ConfigError> {
            RuntimeConfig::from_env(&env(&[(PACT_REQUIRE_SINK, value)]))
        }
        assert!(!RuntimeConfig::default().require_sink);
        assert!(read("true").expect("valid").0.require_sink);
        assert!(!read(" false ").expect("valid").0.require_sink);
        for bad in ["yes", "1", "True", "on"] {
            let err = read(bad).expect_err("only true or false");
            assert!(err.to_string().contains("PACT_REQUIRE_SINK"), "{err}");
        }
    }
}
