//! The database side of the function contract (feature `database`):
//! `DATABASE_URL` for PostgreSQL (clusters) or SQLite (the embedded default),
//! a small lazily connecting pool, migrations run after the port is bound,
//! and `/readyz` that follows the database.
//!
//! Start-up stays in milliseconds: nothing connects before the first use.
//! Migrations are embedded (`migrations/postgres`, `migrations/sqlite`) and run
//! under sqlx's lock (a PostgreSQL advisory lock), so many instances scaling
//! from zero at once migrate exactly once.
//!
//! Every database call has a time limit: PostgreSQL connections start with
//! `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout`
//! ([`PACT_DB_STATEMENT_TIMEOUT_MS`]), SQLite ones with a busy timeout, and a
//! request waits at most 3 s for a pooled connection. A stalled server then
//! costs a request a 503, never a connection held for good.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::{Env, EnvReader};
use crate::server::Readiness;

/// Where the contact log lives.
pub const DATABASE_URL: &str = "DATABASE_URL";
/// Most connections one instance opens.
pub const PACT_DB_MAX_CONNECTIONS: &str = "PACT_DB_MAX_CONNECTIONS";
/// Longest a statement may run, milliseconds (PostgreSQL `statement_timeout`;
/// SQLite's busy timeout).
pub const PACT_DB_STATEMENT_TIMEOUT_MS: &str = "PACT_DB_STATEMENT_TIMEOUT_MS";

/// Default for [`DATABASE_URL`]: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://pact.db";
/// Default for [`PACT_DB_MAX_CONNECTIONS`]: N instances × 5 must fit the
/// server's `max_connections` (PostgreSQL's default is 100).
pub const DEFAULT_DB_MAX_CONNECTIONS: u32 = 5;
/// Default for [`PACT_DB_STATEMENT_TIMEOUT_MS`]: PACT's statements take
/// milliseconds; one that runs for seconds is stuck behind a lock or a sick
/// server, and the event source's retry is the better way out.
pub const DEFAULT_DB_STATEMENT_TIMEOUT_MS: u64 = 5_000;
/// Largest [`PACT_DB_STATEMENT_TIMEOUT_MS`]; larger values are taken as this.
pub const MAX_DB_STATEMENT_TIMEOUT_MS: u64 = 600_000;

/// The generic `/readyz` detail when the database fails: pact-query is public,
/// and a driver's error text names hosts, users and databases.
pub const NOT_REACHABLE: &str = "database not reachable";

/// How long a request waits for a pooled connection before it is a 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// The time limit of a migration's statements (and of the wait for the
/// migration lock while another instance migrates): migrations may rebuild
/// indexes, far beyond a request's limit, but never hang for good.
const MIGRATION_TIMEOUT_MS: u64 = 600_000;

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The database settings.
#[derive(Clone)]
pub struct DatabaseConfig {
    /// The parsed `DATABASE_URL`.
    pub url: DatabaseUrl,
    /// `PACT_DB_MAX_CONNECTIONS`.
    pub max_connections: u32,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.redacted())
            .field("max_connections", &self.max_connections)
            .field("statement_timeout", &self.url.statement_timeout)
            .finish()
    }
}

impl PartialEq for DatabaseConfig {
    fn eq(&self, other: &Self) -> bool {
        self.url.raw == other.url.raw
            && self.url.statement_timeout == other.url.statement_timeout
            && self.max_connections == other.max_connections
    }
}

/// A `DATABASE_URL` that parsed for its backend, with the time limit its
/// connections get ([`DEFAULT_DB_STATEMENT_TIMEOUT_MS`] unless set).
#[derive(Clone)]
pub struct DatabaseUrl {
    raw: String,
    backend: Backend,
    statement_timeout: Duration,
}

#[derive(Clone)]
enum Backend {
    Postgres(PgConnectOptions),
    Sqlite(SqliteConnectOptions),
}

impl DatabaseUrl {
    /// Parses `postgres://…`/`postgresql://…` or `sqlite://…`/`sqlite:…`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let backend = if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Backend::Postgres(PgConnectOptions::from_str(raw).map_err(|e| e.to_string())?)
        } else if raw.starts_with("sqlite:") {
            Backend::Sqlite(sqlite_options(
                SqliteConnectOptions::from_str(raw).map_err(|e| e.to_string())?,
            ))
        } else {
            return Err("not a postgres:// or sqlite: URL".into());
        };
        Ok(Self {
            raw: raw.to_owned(),
            backend,
            statement_timeout: Duration::from_millis(DEFAULT_DB_STATEMENT_TIMEOUT_MS),
        })
    }

    /// The same URL with another statement time limit, capped at
    /// [`MAX_DB_STATEMENT_TIMEOUT_MS`] (and at least 1 ms).
    pub fn with_statement_timeout(mut self, limit: Duration) -> Self {
        self.statement_timeout = limit.clamp(
            Duration::from_millis(1),
            Duration::from_millis(MAX_DB_STATEMENT_TIMEOUT_MS),
        );
        self
    }

    /// The time limit of one statement on this database's connections.
    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    /// [`DEFAULT_DATABASE_URL`].
    fn embedded_default() -> Self {
        Self {
            raw: DEFAULT_DATABASE_URL.into(),
            backend: Backend::Sqlite(sqlite_options(
                SqliteConnectOptions::new().filename("pact.db"),
            )),
            statement_timeout: Duration::from_millis(DEFAULT_DB_STATEMENT_TIMEOUT_MS),
        }
    }

    /// The URL with every password replaced by `***`, for logs: the one in
    /// the userinfo and any query parameter naming one (`?password=`, which
    /// the PostgreSQL driver reads too, `sslpassword=`). A URL that does not
    /// parse is not shown at all.
    pub fn redacted(&self) -> String {
        crate::redact::url(&self.raw)
    }
}

/// The file is created if missing. WAL lets readers work during writes; FULL
/// syncs every commit, so an acknowledged row survives a crash or power loss.
fn sqlite_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_millis(DEFAULT_DB_STATEMENT_TIMEOUT_MS))
}

impl DatabaseConfig {
    /// Reads `DATABASE_URL`, `PACT_DB_MAX_CONNECTIONS` and
    /// `PACT_DB_STATEMENT_TIMEOUT_MS`.
    pub fn read<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> Self {
        let url = r
            .raw(DATABASE_URL)
            .and_then(|raw| match DatabaseUrl::parse(&raw) {
                Ok(url) => Some(url),
                Err(why) => {
                    // The value may hold a password: never echo it.
                    r.reject(
                        DATABASE_URL,
                        "***".into(),
                        format!("postgres://user@host:5432/db or sqlite://path.db ({why})"),
                    );
                    None
                }
            });
        let max_connections = r
            .parse_with(
                PACT_DB_MAX_CONNECTIONS,
                "a whole number from 1 to 100",
                |v| v.trim().parse().ok().filter(|n| (1..=100).contains(n)),
            )
            .unwrap_or(DEFAULT_DB_MAX_CONNECTIONS);
        // Out of range is a bad value, as for every time setting: a huge
        // number can never reach a time computation.
        let statement_timeout = r.millis(
            PACT_DB_STATEMENT_TIMEOUT_MS,
            Duration::from_millis(DEFAULT_DB_STATEMENT_TIMEOUT_MS),
            1..=MAX_DB_STATEMENT_TIMEOUT_MS,
        );
        Self {
            url: url
                .unwrap_or_else(DatabaseUrl::embedded_default)
                .with_statement_timeout(statement_timeout),
            max_connections,
        }
    }
}

/// A pool on one of the two backends. Statements go through
/// [`Database::query`] and [`Database::begin`] (module [`crate::sql`]),
/// written once for both.
#[derive(Debug, Clone)]
pub enum Database {
    /// PostgreSQL.
    Postgres(PgPool),
    /// SQLite.
    Sqlite(SqlitePool),
}

impl Database {
    /// A pool that connects on first use. Every connection starts with the
    /// URL's time limits.
    pub fn connect_lazy(config: &DatabaseConfig) -> Self {
        let limit = config.url.statement_timeout;
        match &config.url.backend {
            Backend::Postgres(options) => Self::Postgres(
                PgPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(postgres_limits(options.clone(), limit)),
            ),
            Backend::Sqlite(options) => Self::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options.clone().busy_timeout(limit)),
            ),
        }
    }

    /// Applies the embedded migrations (under sqlx's migration lock).
    ///
    /// On PostgreSQL they run on a connection of their own with the longer
    /// [`MIGRATION_TIMEOUT_MS`] limit (waiting for another instance's
    /// migration is a statement too), closed afterwards so that no pooled
    /// connection keeps that limit: one connection beyond the pool, only
    /// while migrating.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Self::Postgres(pool) => migrate_postgres(pool).await,
            Self::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        }
    }

    /// One round trip: is the database answering? (Under the pool's limits:
    /// at most [`ACQUIRE_TIMEOUT`] for a connection, then the statement limit.)
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Self::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        }
    }

    /// Closes every connection (at shutdown, after the last write).
    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(pool) => pool.close().await,
        }
    }

    /// `postgres` or `sqlite`, for logs.
    pub fn backend(&self) -> &'static str {
        self.dialect().name()
    }
}

/// Runs the migrations in the background until they succeed, retrying with
/// backoff while the database is unreachable; `/readyz` waits for it.
#[derive(Debug, Clone)]
pub struct Schema {
    database: Database,
    migrated: Arc<AtomicBool>,
}

impl Schema {
    /// Starts migrating in a background task; returns at once.
    pub fn migrate_in_background(database: Database) -> Self {
        let schema = Self {
            database,
            migrated: Arc::new(AtomicBool::new(false)),
        };
        let task = schema.clone();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(100);
            loop {
                match task.database.migrate().await {
                    Ok(()) => {
                        task.migrated.store(true, Ordering::Release);
                        tracing::info!(
                            backend = task.database.backend(),
                            "database schema up to date"
                        );
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "cannot migrate the database yet");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
        });
        schema
    }

    /// Whether the schema is in place.
    pub fn is_ready(&self) -> bool {
        self.migrated.load(Ordering::Acquire)
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.database
    }
}

/// The session settings every pooled PostgreSQL connection starts with
/// (startup options: no extra round trip). `lock_timeout` is half the
/// statement limit, so a statement stuck behind another session's lock fails
/// with its own error (55P03) and the log tells a lock from a slow statement;
/// a session idle inside a transaction for a whole statement limit is a
/// frozen client, and the server ends it and frees its locks.
fn postgres_limits(options: PgConnectOptions, limit: Duration) -> PgConnectOptions {
    let statement = millis(limit);
    options.options([
        ("statement_timeout", statement),
        ("lock_timeout", statement.div_ceil(2)),
        ("idle_in_transaction_session_timeout", statement),
    ])
}

/// See [`Database::migrate`]: a one-connection pool with the same connect
/// options, the migration limits appended (a later `-c` wins), closed after.
async fn migrate_postgres(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let limit = MIGRATION_TIMEOUT_MS.to_string();
    let options = (*pool.connect_options())
        .clone()
        .options([("statement_timeout", &limit), ("lock_timeout", &limit)]);
    let migrator = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options);
    let migrated = POSTGRES_MIGRATIONS.run(&migrator).await;
    migrator.close().await;
    migrated
}

/// Whole milliseconds, at least 1 (0 would mean no limit to PostgreSQL).
fn millis(limit: Duration) -> u64 {
    u64::try_from(limit.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Readiness for Schema {
    async fn check(&self) -> Result<(), String> {
        if !self.is_ready() {
            return Err("the database schema is not migrated yet".into());
        }
        match tokio::time::timeout(Duration::from_secs(1), self.database.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                // The driver's text (hosts, users, database names) is for
                // the log only; the probe's answer may be public.
                tracing::warn!(error = %e, "readiness: the database does not answer");
                Err(NOT_REACHABLE.into())
            }
            Err(_) => {
                tracing::warn!("readiness: the database did not answer within 1 s");
                Err(NOT_REACHABLE.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_backends_and_hides_passwords() {
        let url = DatabaseUrl::parse("postgres://pact:s3cret@db:5432/pact").expect("valid");
        assert_eq!(url.redacted(), "postgres://pact:***@db:5432/pact");
        assert!(DatabaseUrl::parse("sqlite://pact.db").is_ok());
        assert!(DatabaseUrl::parse("sqlite::memory:").is_ok());
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn a_password_in_the_query_is_hidden_too() {
        let cases = [
            (
                "postgres://pact@db:5432/pact?password=hunter2&sslmode=require",
                "postgres://pact@db:5432/pact?password=***&sslmode=require",
            ),
            (
                "postgres://pact:s3cret@db/pact?PassWord=hunter2&sslpassword=k3y",
                "postgres://pact:***@db/pact?PassWord=***&sslpassword=***",
            ),
            (
                "postgresql://db/pact?user=pact&password=hunter2%26more",
                "postgresql://db/pact?user=pact&password=***",
            ),
            // Nothing secret: shown as given.
            (
                "postgres://pact@db:5432/pact?sslmode=require",
                "postgres://pact@db:5432/pact?sslmode=require",
            ),
        ];
        for (raw, shown) in cases {
            let url = DatabaseUrl::parse(raw).expect("valid");
            let redacted = url.redacted();
            assert_eq!(redacted, shown);
            for secret in ["hunter2", "s3cret", "k3y"] {
                assert!(!redacted.contains(secret), "{redacted}");
            }
            let config = DatabaseConfig {
                url,
                max_connections: 1,
            };
            assert!(!format!("{config:?}").contains("hunter2"));
        }
    }

    fn read(pairs: &[(&'static str, &'static str)]) -> Result<DatabaseConfig, String> {
        let env: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
        let mut r = EnvReader::new(&env);
        let config = DatabaseConfig::read(&mut r);
        r.finish().map(|_| config).map_err(|e| e.to_string())
    }

    #[test]
    fn the_statement_limit_is_read_within_its_range() {
        let limit = |value| {
            read(&[(PACT_DB_STATEMENT_TIMEOUT_MS, value)]).map(|c| c.url.statement_timeout())
        };
        assert_eq!(
            read(&[]).expect("valid").url.statement_timeout(),
            Duration::from_millis(DEFAULT_DB_STATEMENT_TIMEOUT_MS)
        );
        assert_eq!(limit(" 250 "), Ok(Duration::from_millis(250)));
        assert_eq!(
            limit("600000"),
            Ok(Duration::from_millis(MAX_DB_STATEMENT_TIMEOUT_MS))
        );
        // Past the range, even past u64: a bad value, never a clock overflow.
        for bad in [
            "0",
            "-1",
            "1.5",
            "5s",
            "ten",
            "600001",
            "18446744073709551615",
            "99999999999999999999999999",
        ] {
            let error = limit(bad).expect_err(bad);
            assert!(error.contains(PACT_DB_STATEMENT_TIMEOUT_MS), "{error}");
        }
        // Given in code, also capped.
        let url = DatabaseUrl::parse("sqlite::memory:")
            .expect("valid")
            .with_statement_timeout(Duration::MAX);
        assert_eq!(
            url.statement_timeout(),
            Duration::from_millis(MAX_DB_STATEMENT_TIMEOUT_MS)
        );
        assert_eq!(millis(Duration::MAX), u64::MAX);
        assert_eq!(millis(Duration::ZERO), 1, "0 would mean no limit");
    }

    #[tokio::test]
    async fn sqlite_connections_wait_for_a_lock_only_as_long_as_the_limit() {
        let config = read(&[
            (DATABASE_URL, "sqlite::memory:"),
            (PACT_DB_STATEMENT_TIMEOUT_MS, "1234"),
        ])
        .expect("valid");
        let Database::Sqlite(pool) = Database::connect_lazy(&config) else {
            panic!("not SQLite");
        };
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&pool)
            .await
            .expect("pragma");
        assert_eq!(busy, 1234);
    }

    /// `/readyz` through the contract: the driver's error (here a path that
    /// cannot be opened) is logged, the answer says only [`NOT_REACHABLE`].
    #[tokio::test]
    async fn readyz_does_not_quote_the_database_error() {
        use tower::ServiceExt;
        let config = read(&[(
            DATABASE_URL,
            "sqlite:///nonexistent-pact-dir/secret-name.db?mode=rw",
        )])
        .expect("valid");
        let database = Database::connect_lazy(&config);
        let error = database.ping().await.expect_err("cannot open").to_string();
        let schema = Schema {
            database,
            migrated: Arc::new(AtomicBool::new(true)),
        };
        assert_eq!(schema.check().await, Err(NOT_REACHABLE.to_owned()));
        let app = crate::server::contract(
            axum::Router::new(),
            &crate::config::RuntimeConfig::default(),
            crate::metrics::Metrics::new().freeze(),
            schema,
        );
        let response = app
            .oneshot(
                http::Request::get("/readyz")
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(response.status(), 503);
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains(NOT_REACHABLE), "{body}");
        assert!(!body.contains("secret-name"), "{body}");
        assert!(!body.contains(&error), "{body}");
    }

    #[test]
    fn a_bad_url_is_reported_without_its_value() {
        let env: std::collections::HashMap<&str, &str> = [
            (DATABASE_URL, "mysql://root:hunter2@db"),
            (PACT_DB_MAX_CONNECTIONS, "0"),
        ]
        .into_iter()
        .collect();
        let mut r = EnvReader::new(&env);
        DatabaseConfig::read(&mut r);
        let err = r.finish().expect_err("invalid");
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("DATABASE_URL=\"***\""), "{text}");
        assert!(text.contains(PACT_DB_MAX_CONNECTIONS), "{text}");
    }
}
