//! pact-contactlog's settings: the runtime's, the database's, who may send,
//! retention and the group commit's limits.

use std::time::Duration;

use pact_runtime::config::{ConfigError, Env, EnvReader, RuntimeConfig};
use pact_runtime::database::DatabaseConfig;
use pact_runtime::sender_auth::SenderAuth;

/// Days a contact is kept.
pub const PACT_RETENTION_DAYS: &str = "PACT_RETENTION_DAYS";
/// Most rows one group-commit transaction takes.
pub const PACT_COMMIT_MAX_ROWS: &str = "PACT_COMMIT_MAX_ROWS";
/// Requests that may wait for the writer before new ones get 503.
pub const PACT_COMMIT_QUEUE: &str = "PACT_COMMIT_QUEUE";
/// Time limit of one group-commit transaction, milliseconds.
pub const PACT_DB_COMMIT_TIMEOUT_MS: &str = "PACT_DB_COMMIT_TIMEOUT_MS";
/// Seconds without progress of the writer, while work waits, after which
/// `/healthz` fails.
pub const PACT_DB_STALL_S: &str = "PACT_DB_STALL_S";

/// Default for [`PACT_RETENTION_DAYS`]: contact tracing looks back 14 days;
/// a week's margin, then personal data goes.
pub const DEFAULT_RETENTION_DAYS: u32 = 21;
/// Default for [`PACT_COMMIT_MAX_ROWS`].
pub const DEFAULT_COMMIT_MAX_ROWS: usize = 500;
/// Default for [`PACT_COMMIT_QUEUE`].
pub const DEFAULT_COMMIT_QUEUE: usize = 1024;
/// Default for [`PACT_DB_COMMIT_TIMEOUT_MS`]: a batch commits in
/// milliseconds; seconds mean a stalled database, and the senders' retry
/// beats holding their requests.
pub const DEFAULT_DB_COMMIT_TIMEOUT_MS: u64 = 5_000;
/// Largest [`PACT_DB_COMMIT_TIMEOUT_MS`]; larger values are taken as this.
pub const MAX_DB_COMMIT_TIMEOUT_MS: u64 = 600_000;
/// Default for [`PACT_DB_STALL_S`]: a dozen commit time limits, so a
/// passing hiccup never restarts the pod.
pub const DEFAULT_DB_STALL_S: u64 = 60;
/// Largest [`PACT_DB_STALL_S`]; larger values are taken as this.
pub const MAX_DB_STALL_S: u64 = 86_400;

/// pact-contactlog's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The function contract's settings.
    pub runtime: RuntimeConfig,
    /// `DATABASE_URL`, `PACT_DB_MAX_CONNECTIONS`.
    pub database: DatabaseConfig,
    /// `PACT_SENDER_AUTH` and `PACT_OIDC_*`: who may `POST /`.
    pub sender_auth: SenderAuth,
    /// `PACT_RETENTION_DAYS`.
    pub retention_days: u32,
    /// `PACT_COMMIT_MAX_ROWS` (1 = one commit per request).
    pub commit_max_rows: usize,
    /// `PACT_COMMIT_QUEUE`.
    pub commit_queue: usize,
    /// `PACT_DB_COMMIT_TIMEOUT_MS`.
    pub commit_timeout: Duration,
    /// `PACT_DB_STALL_S`.
    pub stall: Duration,
}

impl Config {
    /// Reads every variable, reporting all bad ones together.
    pub fn from_env<E: Env + ?Sized>(env: &E) -> Result<(Self, Vec<String>), ConfigError> {
        let mut r = EnvReader::new(env);
        let runtime = RuntimeConfig::read(&mut r);
        let database = DatabaseConfig::read(&mut r);
        let sender_auth = SenderAuth::read(&mut r);
        let retention_days = r
            .parse_with(
                PACT_RETENTION_DAYS,
                "a whole number of days from 1 to 3650",
                |v| v.trim().parse().ok().filter(|d| (1..=3650).contains(d)),
            )
            .unwrap_or(DEFAULT_RETENTION_DAYS);
        let commit_max_rows = r
            .parse_with(
                PACT_COMMIT_MAX_ROWS,
                "a whole number from 1 to 10000",
                |v| v.trim().parse().ok().filter(|n| (1..=10_000).contains(n)),
            )
            .unwrap_or(DEFAULT_COMMIT_MAX_ROWS);
        let commit_queue = r
            .parse_with(PACT_COMMIT_QUEUE, "a whole number from 1 to 100000", |v| {
                v.trim().parse().ok().filter(|n| (1..=100_000).contains(n))
            })
            .unwrap_or(DEFAULT_COMMIT_QUEUE);
        let commit_timeout = r.millis(
            PACT_DB_COMMIT_TIMEOUT_MS,
            Duration::from_millis(DEFAULT_DB_COMMIT_TIMEOUT_MS),
            1..=MAX_DB_COMMIT_TIMEOUT_MS,
        );
        let stall = r.seconds(
            PACT_DB_STALL_S,
            Duration::from_secs(DEFAULT_DB_STALL_S),
            1..=MAX_DB_STALL_S,
        );
        let warnings = r.finish()?;
        Ok((
            Self {
                runtime,
                database,
                sender_auth,
                retention_days,
                commit_max_rows,
                commit_queue,
                commit_timeout,
                stall,
            },
            warnings,
        ))
    }
}

// `Config::from_env` and its `runtime` field, for `pact_runtime::server::run`.
pact_runtime::settings!(Config);

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let env: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
        Config::from_env(&env).map(|(config, _)| config)
    }

    #[test]
    fn commit_limits_have_defaults_and_ranges() {
        let config = read(&[]).expect("valid");
        assert_eq!(
            config.commit_timeout,
            Duration::from_millis(DEFAULT_DB_COMMIT_TIMEOUT_MS)
        );
        assert_eq!(config.stall, Duration::from_secs(DEFAULT_DB_STALL_S));
        let config =
            read(&[(PACT_DB_COMMIT_TIMEOUT_MS, "250"), (PACT_DB_STALL_S, " 5 ")]).expect("valid");
        assert_eq!(config.commit_timeout, Duration::from_millis(250));
        assert_eq!(config.stall, Duration::from_secs(5));
        let config = read(&[
            (PACT_DB_COMMIT_TIMEOUT_MS, "600000"),
            (PACT_DB_STALL_S, "86400"),
        ])
        .expect("the largest values");
        assert_eq!(
            config.commit_timeout,
            Duration::from_millis(MAX_DB_COMMIT_TIMEOUT_MS)
        );
        assert_eq!(config.stall, Duration::from_secs(MAX_DB_STALL_S));
        // Past the range, even past u64, or not a whole number: a bad value
        // naming the variable, never an overflow later.
        for (timeout, stall) in [
            ("0", "1m"),
            ("600001", "86401"),
            ("18446744073709551615", "999999999999999999999999999"),
        ] {
            let error = read(&[
                (PACT_DB_COMMIT_TIMEOUT_MS, timeout),
                (PACT_DB_STALL_S, stall),
            ])
            .expect_err("invalid");
            let names: Vec<_> = error.0.iter().map(|bad| bad.name).collect();
            assert_eq!(names, [PACT_DB_COMMIT_TIMEOUT_MS, PACT_DB_STALL_S]);
        }
    }
}
