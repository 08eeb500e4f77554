//! pact-notify's settings: the runtime's, the database's, who may send,
//! the bearer token for `K_SINK`, and who counts as exposed.

use std::time::Duration;

use pact_runtime::config::{ConfigError, Env, EnvReader, RuntimeConfig};
use pact_runtime::database::DatabaseConfig;
use pact_runtime::sender_auth::{SenderAuth, read_emit_token_file};

/// Days before the onset whose contacts count.
pub const PACT_NOTIFY_DAYS_BEFORE_ONSET: &str = "PACT_NOTIFY_DAYS_BEFORE_ONSET";
/// Days after the onset, through the end of isolation, whose contacts count.
pub const PACT_NOTIFY_ISOLATION_DAYS: &str = "PACT_NOTIFY_ISOLATION_DAYS";
/// 1: notify those who met the case; 2: also those who met them.
pub const PACT_NOTIFY_DEPTH: &str = "PACT_NOTIFY_DEPTH";
/// Most people notified for one case.
pub const PACT_NOTIFY_MAX_PEOPLE: &str = "PACT_NOTIFY_MAX_PEOPLE";
/// Time limit of each database call, milliseconds.
pub const PACT_DB_TIMEOUT_MS: &str = "PACT_DB_TIMEOUT_MS";

/// Default for [`PACT_NOTIFY_DAYS_BEFORE_ONSET`]: people are infectious
/// about two days before symptoms show.
pub const DEFAULT_DAYS_BEFORE_ONSET: u32 = 2;
/// Largest [`PACT_NOTIFY_DAYS_BEFORE_ONSET`]: the 14 days tracing looks back.
pub const MAX_DAYS_BEFORE_ONSET: u32 = 14;
/// Default for [`PACT_NOTIFY_ISOLATION_DAYS`]: ten days of isolation from
/// onset.
pub const DEFAULT_ISOLATION_DAYS: u32 = 10;
/// Largest [`PACT_NOTIFY_ISOLATION_DAYS`].
pub const MAX_ISOLATION_DAYS: u32 = 30;
/// Default for [`PACT_NOTIFY_DEPTH`].
pub const DEFAULT_DEPTH: u32 = 1;
/// Largest [`PACT_NOTIFY_DEPTH`]: past two hops a city is mostly reached.
pub const MAX_DEPTH: u32 = 2;
/// Default for [`PACT_NOTIFY_MAX_PEOPLE`].
pub const DEFAULT_MAX_PEOPLE: usize = 10_000;
/// Largest [`PACT_NOTIFY_MAX_PEOPLE`].
pub const MAX_MAX_PEOPLE: usize = 100_000;
/// Default for [`PACT_DB_TIMEOUT_MS`]: every call here takes milliseconds.
pub const DEFAULT_DB_TIMEOUT_MS: u64 = 5_000;
/// Largest [`PACT_DB_TIMEOUT_MS`]; larger values are taken as this.
pub const MAX_DB_TIMEOUT_MS: u64 = 600_000;

/// pact-notify's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The function contract's settings.
    pub runtime: RuntimeConfig,
    /// `DATABASE_URL`, `PACT_DB_MAX_CONNECTIONS`.
    pub database: DatabaseConfig,
    /// `PACT_SENDER_AUTH` and `PACT_OIDC_*`: who may `POST /`.
    pub sender_auth: SenderAuth,
    /// `PACT_EMIT_TOKEN_FILE`: the bearer token sent to `K_SINK`.
    pub emit_token_file: Option<std::path::PathBuf>,
    /// Who counts as exposed.
    pub exposure: ExposureRule,
    /// `PACT_NOTIFY_MAX_PEOPLE`.
    pub max_people: usize,
    /// `PACT_DB_TIMEOUT_MS`.
    pub db_timeout: Duration,
}

/// Who counts as exposed to a case: whoever met the case (or, at depth 2,
/// someone who met the case) from `days_before_onset` days before the
/// onset date through `isolation_days` days after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExposureRule {
    /// `PACT_NOTIFY_DAYS_BEFORE_ONSET`.
    pub days_before_onset: u32,
    /// `PACT_NOTIFY_ISOLATION_DAYS`.
    pub isolation_days: u32,
    /// `PACT_NOTIFY_DEPTH`.
    pub depth: u32,
}

impl Default for ExposureRule {
    fn default() -> Self {
        Self {
            days_before_onset: DEFAULT_DAYS_BEFORE_ONSET,
            isolation_days: DEFAULT_ISOLATION_DAYS,
            depth: DEFAULT_DEPTH,
        }
    }
}

impl Config {
    /// Reads every variable, reporting all bad ones together.
    pub fn from_env<E: Env + ?Sized>(env: &E) -> Result<(Self, Vec<String>), ConfigError> {
        let mut r = EnvReader::new(env);
        let runtime = RuntimeConfig::read(&mut r);
        let database = DatabaseConfig::read(&mut r);
        let sender_auth = SenderAuth::read(&mut r);
        let emit_token_file = read_emit_token_file(&mut r);
        let mut whole = |name: &'static str, range: std::ops::RangeInclusive<u32>, default| {
            r.parse_with(
                name,
                &format!("a whole number from {} to {}", range.start(), range.end()),
                |v| v.trim().parse().ok().filter(|n| range.contains(n)),
            )
            .unwrap_or(default)
        };
        let exposure = ExposureRule {
            days_before_onset: whole(
                PACT_NOTIFY_DAYS_BEFORE_ONSET,
                0..=MAX_DAYS_BEFORE_ONSET,
                DEFAULT_DAYS_BEFORE_ONSET,
            ),
            isolation_days: whole(
                PACT_NOTIFY_ISOLATION_DAYS,
                0..=MAX_ISOLATION_DAYS,
                DEFAULT_ISOLATION_DAYS,
            ),
            depth: whole(PACT_NOTIFY_DEPTH, 1..=MAX_DEPTH, DEFAULT_DEPTH),
        };
        let max_people = r
            .parse_with(
                PACT_NOTIFY_MAX_PEOPLE,
                "a whole number from 1 to 100000",
                |v| {
                    v.trim()
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_MAX_PEOPLE).contains(n))
                },
            )
            .unwrap_or(DEFAULT_MAX_PEOPLE);
        let db_timeout = r.millis(
            PACT_DB_TIMEOUT_MS,
            Duration::from_millis(DEFAULT_DB_TIMEOUT_MS),
            1..=MAX_DB_TIMEOUT_MS,
        );
        let warnings = r.finish()?;
        Ok((
            Self {
                runtime,
                database,
                sender_auth,
                emit_token_file,
                exposure,
                max_people,
                db_timeout,
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
    fn the_exposure_rule_has_defaults_and_ranges() {
        let config = read(&[]).expect("valid");
        assert_eq!(config.exposure, ExposureRule::default());
        assert_eq!(config.max_people, DEFAULT_MAX_PEOPLE);
        let config = read(&[
            (PACT_NOTIFY_DAYS_BEFORE_ONSET, "0"),
            (PACT_NOTIFY_ISOLATION_DAYS, " 30 "),
            (PACT_NOTIFY_DEPTH, "2"),
            (PACT_NOTIFY_MAX_PEOPLE, "100000"),
        ])
        .expect("the edges");
        assert_eq!(
            config.exposure,
            ExposureRule {
                days_before_onset: 0,
                isolation_days: 30,
                depth: 2
            }
        );
        assert_eq!(config.max_people, MAX_MAX_PEOPLE);
        let error = read(&[
            (PACT_NOTIFY_DAYS_BEFORE_ONSET, "15"),
            (PACT_NOTIFY_ISOLATION_DAYS, "-1"),
            (PACT_NOTIFY_DEPTH, "3"),
            (PACT_NOTIFY_MAX_PEOPLE, "0"),
            (PACT_DB_TIMEOUT_MS, "18446744073709551616"),
        ])
        .expect_err("all out of range");
        let names: Vec<_> = error.0.iter().map(|bad| bad.name).collect();
        assert_eq!(
            names,
            [
                PACT_NOTIFY_DAYS_BEFORE_ONSET,
                PACT_NOTIFY_ISOLATION_DAYS,
                PACT_NOTIFY_DEPTH,
                PACT_NOTIFY_MAX_PEOPLE,
                PACT_DB_TIMEOUT_MS
            ]
        );
    }
}
