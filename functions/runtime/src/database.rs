//! The database side of the function contract (feature `database`):
//! `DATABASE_URL` for PostgreSQL (clusters) or SQLite (the embedded default),
//! a small lazily connecting pool, migrations run after the port is bound,
//! and `/readyz` that follows the database.
//!
//! Start-up stays in milliseconds: nothing connects before the first use.
//! Migrations are embedded (`migrations/postgres`, `migrations/sqlite`) and run
//! under sqlx's lock (a PostgreSQL advisory lock), so many instances scaling
//! from zero at once migrate exactly once.

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

/// Default for [`DATABASE_URL`]: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://pact.db";
/// Default for [`PACT_DB_MAX_CONNECTIONS`]: N instances × 5 must fit the
/// server's `max_connections` (PostgreSQL's default is 100).
pub const DEFAULT_DB_MAX_CONNECTIONS: u32 = 5;

/// How long a request waits for a pooled connection before it is a 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

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
            .finish()
    }
}

impl PartialEq for DatabaseConfig {
    fn eq(&self, other: &Self) -> bool {
        self.url.raw == other.url.raw && self.max_connections == other.max_connections
    }
}

/// A `DATABASE_URL` that parsed for its backend.
#[derive(Clone)]
pub struct DatabaseUrl {
    raw: String,
    backend: Backend,
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
        })
    }

    /// [`DEFAULT_DATABASE_URL`].
    fn embedded_default() -> Self {
        Self {
            raw: DEFAULT_DATABASE_URL.into(),
            backend: Backend::Sqlite(sqlite_options(
                SqliteConnectOptions::new().filename("pact.db"),
            )),
        }
    }

    /// The URL with any password replaced by `***`, for logs.
    pub fn redacted(&self) -> String {
        match reqwest::Url::parse(&self.raw) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => self.raw.clone(),
        }
    }
}

/// The file is created if missing. WAL lets readers work during writes; FULL
/// syncs every commit, so an acknowledged row survives a crash or power loss.
fn sqlite_options(options: SqliteConnectOptions) -> SqliteConnectOptions {
    options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5))
}

impl DatabaseConfig {
    /// Reads `DATABASE_URL` and `PACT_DB_MAX_CONNECTIONS`.
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
        Self {
            url: url.unwrap_or_else(DatabaseUrl::embedded_default),
            max_connections,
        }
    }
}

/// A pool on one of the two backends. Queries that differ between them
/// match on it; each backend's SQL stays plain and tested.
#[derive(Debug, Clone)]
pub enum Database {
    /// PostgreSQL.
    Postgres(PgPool),
    /// SQLite.
    Sqlite(SqlitePool),
}

impl Database {
    /// A pool that connects on first use.
    pub fn connect_lazy(config: &DatabaseConfig) -> Self {
        match &config.url.backend {
            Backend::Postgres(options) => Self::Postgres(
                PgPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options.clone()),
            ),
            Backend::Sqlite(options) => Self::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options.clone()),
            ),
        }
    }

    /// Applies the embedded migrations (under sqlx's migration lock).
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Self::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
            Self::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        }
    }

    /// One round trip: is the database answering?
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
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
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

impl Readiness for Schema {
    async fn check(&self) -> Result<(), String> {
        if !self.is_ready() {
            return Err("the database schema is not migrated yet".into());
        }
        match tokio::time::timeout(Duration::from_secs(1), self.database.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("the database does not answer: {e}")),
            Err(_) => Err("the database did not answer within 1 s".into()),
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
