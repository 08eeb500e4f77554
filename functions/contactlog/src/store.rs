//! The SQL of pact-contactlog, once per backend: inserting a batch of rows
//! with conflict-ignore on the event identity, and the retention purge.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};
use pact_runtime::contact::TranslatedContact;
use pact_runtime::database::Database;
use sqlx::{Postgres, QueryBuilder, Row, Sqlite};

/// Rows per INSERT statement: 14 parameters each stays far below both
/// PostgreSQL's (65,535) and SQLite's (32,766) limits.
const ROWS_PER_STATEMENT: usize = 1000;

/// One row of `contactlist`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRow {
    /// The contact and its address.
    pub contact: TranslatedContact,
    /// CloudEvent `source` of the event that carried it.
    pub event_source: String,
    /// CloudEvent `id` of the event that carried it.
    pub event_id: String,
}

/// SQLite keeps times as fixed-width UTC text, so text order is time order.
pub fn sqlite_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Inserts `rows` in one transaction, ignoring rows whose identity is already
/// stored. Returns, per row, whether it was new. Nothing is visible to
/// anyone before the commit returns.
pub async fn insert(
    db: &Database,
    rows: &[&ContactRow],
    recorded_at: DateTime<Utc>,
) -> sqlx::Result<Vec<bool>> {
    // The same statement on both backends; only the time type differs
    // (TIMESTAMPTZ on PostgreSQL, fixed-width text on SQLite).
    macro_rules! insert_all {
        ($pool:expr, $db:ty, $time:expr) => {{
            let mut tx = $pool.begin().await?;
            let mut inserted = HashSet::new();
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                let mut q = QueryBuilder::<$db>::new(INSERT_HEAD);
                q.push_values(chunk, |mut b, row| {
                    let (c, a) = (&row.contact, &row.contact.address);
                    b.push_bind(c.pair.first().get())
                        .push_bind(c.pair.second().get())
                        .push_bind(a.street.as_str())
                        .push_bind(a.city.as_str())
                        .push_bind(a.state.as_str())
                        .push_bind(a.zipcode.as_str())
                        .push_bind(a.country.as_ref().map(|c| c.as_str()).unwrap_or_default())
                        .push_bind(c.at.map(|p| p.lat()))
                        .push_bind(c.at.map(|p| p.lon()))
                        .push_bind($time(c.observed_at.get()))
                        .push_bind($time(recorded_at))
                        .push_bind(c.geocoder.as_str())
                        .push_bind(row.event_source.as_str())
                        .push_bind(row.event_id.as_str());
                });
                q.push(INSERT_TAIL);
                for r in q.build().fetch_all(&mut *tx).await? {
                    inserted.insert((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?));
                }
            }
            tx.commit().await?;
            inserted
        }};
    }
    let mut inserted = match db {
        Database::Postgres(pool) => insert_all!(pool, Postgres, |t: DateTime<Utc>| t),
        Database::Sqlite(pool) => insert_all!(pool, Sqlite, sqlite_time),
    };
    Ok(rows
        .iter()
        .map(|row| inserted.remove(&(row.event_source.clone(), row.event_id.clone())))
        .collect())
}

const INSERT_HEAD: &str = "INSERT INTO contactlist \
    (mmid1, mmid2, street, city, state, zipcode, country, lat, lon, observed_at, recorded_at, geocoder, event_source, event_id) ";
const INSERT_TAIL: &str =
    " ON CONFLICT (event_source, event_id) DO NOTHING RETURNING event_source, event_id";

/// Deletes up to `batch` rows observed before `cutoff`; returns how many.
/// Small batches keep each transaction (and its locks) short.
pub async fn purge_batch(db: &Database, cutoff: DateTime<Utc>, batch: i64) -> sqlx::Result<u64> {
    const SQL: &str = "DELETE FROM contactlist WHERE id IN \
        (SELECT id FROM contactlist WHERE observed_at < $1 ORDER BY observed_at LIMIT $2)";
    let done = match db {
        Database::Postgres(pool) => sqlx::query(SQL)
            .bind(cutoff)
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected(),
        Database::Sqlite(pool) => sqlx::query(SQL)
            .bind(sqlite_time(cutoff))
            .bind(batch)
            .execute(pool)
            .await?
            .rows_affected(),
    };
    Ok(done)
}

/// Whether a database error is about the data (a constraint), so retrying
/// the same rows can never succeed, rather than about the database.
pub fn is_permanent(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => {
            !matches!(e.kind(), sqlx::error::ErrorKind::Other)
                || e.code().is_some_and(|code| code.starts_with("22"))
        }
        _ => false,
    }
}
