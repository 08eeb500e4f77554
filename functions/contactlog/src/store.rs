//! The SQL of pact-contactlog, written once for PostgreSQL and SQLite
//! through `pact_runtime::sql`: inserting a batch of rows with
//! conflict-ignore on the event identity, and the retention purge.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use pact_runtime::contact::TranslatedContact;
use pact_runtime::database::Database;

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

/// Inserts `rows` in one transaction, ignoring rows whose identity is already
/// stored. Returns, per row, whether it was new. Nothing is visible to
/// anyone before the commit returns.
pub async fn insert(
    db: &Database,
    rows: &[&ContactRow],
    recorded_at: DateTime<Utc>,
) -> sqlx::Result<Vec<bool>> {
    let mut tx = db.begin().await?;
    let mut inserted = HashSet::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "{INSERT_HEAD}VALUES {}{INSERT_TAIL}",
            tx.dialect().values(chunk.len(), INSERT_COLUMNS)
        );
        let mut statement = tx.query(&sql);
        for row in chunk {
            let (c, a) = (&row.contact, &row.contact.address);
            statement = statement
                .bind(c.pair.first().get())
                .bind(c.pair.second().get())
                .bind(a.street.as_str())
                .bind(a.city.as_str())
                .bind(a.state.as_str())
                .bind(a.zipcode.as_str())
                .bind(a.country.as_ref().map(|c| c.as_str()).unwrap_or_default())
                .bind(c.at.map(|p| p.lat()))
                .bind(c.at.map(|p| p.lon()))
                .bind(c.observed_at.get())
                .bind(recorded_at)
                .bind(c.geocoder.as_str())
                .bind(row.event_source.as_str())
                .bind(row.event_id.as_str());
        }
        inserted.extend(statement.fetch_all::<(String, String)>().await?);
    }
    tx.commit().await?;
    Ok(rows
        .iter()
        .map(|row| inserted.remove(&(row.event_source.clone(), row.event_id.clone())))
        .collect())
}

/// The columns [`insert`] binds, per row.
const INSERT_COLUMNS: usize = 14;
const INSERT_HEAD: &str = "INSERT INTO contactlist \
    (mmid1, mmid2, street, city, state, zipcode, country, lat, lon, observed_at, recorded_at, geocoder, event_source, event_id) ";
const INSERT_TAIL: &str =
    " ON CONFLICT (event_source, event_id) DO NOTHING RETURNING event_source, event_id";

/// Deletes up to `batch` rows observed before `cutoff`; returns how many.
/// Small batches keep each transaction (and its locks) short.
pub async fn purge_batch(db: &Database, cutoff: DateTime<Utc>, batch: i64) -> sqlx::Result<u64> {
    db.query(
        "DELETE FROM contactlist WHERE id IN \
         (SELECT id FROM contactlist WHERE observed_at < $1 ORDER BY observed_at LIMIT $2)",
    )
    .bind(cutoff)
    .bind(batch)
    .execute()
    .await
}

/// Deletes the cases pact-notify recorded before `cutoff`, and their
/// notifications, in one transaction; returns how many cases. (Cases are
/// few: a case and its notifications go together.)
pub async fn purge_cases(db: &Database, cutoff: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut tx = db.begin().await?;
    tx.query(
        "DELETE FROM notifications WHERE case_id IN \
         (SELECT case_id FROM cases WHERE recorded_at < $1)",
    )
    .bind(cutoff)
    .execute()
    .await?;
    let cases = tx
        .query("DELETE FROM cases WHERE recorded_at < $1")
        .bind(cutoff)
        .execute()
        .await?;
    tx.commit().await?;
    Ok(cases)
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
