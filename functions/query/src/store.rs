//! Every query pact-query runs, for PostgreSQL and SQLite.
//!
//! The SQL is written once with `$n` placeholders where both backends take
//! the same text (SQLite gets `?n`, its numbered form); where they differ
//! (PostgreSQL's `LATERAL`, day truncation) each has its own. Times are
//! `timestamptz` on PostgreSQL and fixed-width UTC text on SQLite
//! (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, so text order is time order): bound as
//! `DateTime<Utc>` there and as that text here.
//!
//! Every page is fetched with one row more than asked, to know whether a
//! next page exists without counting.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, Utc};
use pact_runtime::contact::{CountryCode, PersonId};
use pact_runtime::database::Database;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::model::{ContactRecord, CountryCount, DayCount, MetContact, StateCount, Stats};

/// "No lower bound": 0001-01-01T00:00:00Z, which both backends store and
/// SQLite's four-digit-year text form orders correctly.
pub fn beginning() -> DateTime<Utc> {
    DateTime::from_timestamp(-62_135_596_800, 0).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// "No upper bound": 9999-12-31T23:59:59.999999Z, the last time RFC 3339
/// and SQLite's text form can write.
pub fn end() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 999_999_000).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The columns of a [`ContactRecord`], in a `SELECT` list.
macro_rules! columns {
    ($prefix:literal) => {
        concat!(
            $prefix,
            "id, ",
            $prefix,
            "mmid1, ",
            $prefix,
            "mmid2, ",
            $prefix,
            "street, ",
            $prefix,
            "city, ",
            $prefix,
            "state, ",
            $prefix,
            "zipcode, ",
            $prefix,
            "country, ",
            $prefix,
            "lat, ",
            $prefix,
            "lon, ",
            $prefix,
            "observed_at, ",
            $prefix,
            "recorded_at, ",
            $prefix,
            "geocoder"
        )
    };
}

/// The same SQL with SQLite's numbered placeholders (`?1` for `$1`).
fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

/// SQLite's stored form of a time.
fn sqlite_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Rows `WHERE <column> = $1 AND id > $2`, by id: the original endpoints.
const BY_STATE: &str = concat!(
    "SELECT ",
    columns!(""),
    " FROM contactlist WHERE state = $1 AND id > $2 ORDER BY id LIMIT $3"
);
const BY_COUNTRY: &str = concat!(
    "SELECT ",
    columns!(""),
    " FROM contactlist WHERE country = $1 AND id > $2 ORDER BY id LIMIT $3"
);
static BY_STATE_SQLITE: LazyLock<String> = LazyLock::new(|| sqlite(BY_STATE));
static BY_COUNTRY_SQLITE: LazyLock<String> = LazyLock::new(|| sqlite(BY_COUNTRY));

/// The contacts of one person ($1) from ($2, id $4) on, before $3. Each side
/// of the pair is read through its own index, already in time order, and
/// the two short lists are merged: no sort of a busy person's whole history.
pub const CONTACTS_OF: &str = concat!(
    "SELECT ",
    columns!(""),
    " FROM (",
    " SELECT * FROM (SELECT ",
    columns!(""),
    " FROM contactlist WHERE mmid1 = $1 AND observed_at >= $2 AND observed_at < $3",
    " AND (observed_at, id) > ($2, $4) ORDER BY observed_at, id LIMIT $5) AS first_side",
    " UNION ALL",
    " SELECT * FROM (SELECT ",
    columns!(""),
    " FROM contactlist WHERE mmid2 = $1 AND observed_at >= $2 AND observed_at < $3",
    " AND (observed_at, id) > ($2, $4) ORDER BY observed_at, id LIMIT $5) AS second_side",
    ") AS met ORDER BY observed_at, id LIMIT $5"
);
static CONTACTS_OF_SQLITE: LazyLock<String> = LazyLock::new(|| sqlite(CONTACTS_OF));

/// Everyone reachable from person $1 through contacts observed at or after
/// $2, in at most $3 hops; one page of them after (hops $4, person $5), $6
/// rows; each with the earliest contact that links them to someone one hop
/// closer.
///
/// - `walk` is a breadth-first walk: `UNION` keeps one row per (person,
///   hops), so a level never holds a person twice and the work is bounded
///   by depth × contacts in reach, not by the number of paths.
/// - `reached` keeps each person's smallest number of hops.
/// - `page` takes one page of them in (hops, person) order, and only for
///   those the earliest linking contact is looked up: a contact of theirs
///   whose other side is reached in hops − 1. (The membership test is in
///   the select list so that PostgreSQL hashes `reached` once instead of
///   rescanning it per candidate.) The candidates carry only (via, id,
///   observed_at); the page's rows are read by id at the end, so an index
///   covering those columns answers the walk without the table.
pub const EXPOSURES_POSTGRES: &str = concat!(
    "WITH RECURSIVE",
    " walk(person, hops) AS (",
    "   SELECT $1::bigint, 0",
    "   UNION",
    "   SELECT next.person, walk.hops + 1",
    "   FROM walk CROSS JOIN LATERAL (",
    "     SELECT c.mmid2 AS person FROM contactlist AS c",
    "     WHERE c.mmid1 = walk.person AND c.observed_at >= $2",
    "     UNION ALL",
    "     SELECT c.mmid1 FROM contactlist AS c",
    "     WHERE c.mmid2 = walk.person AND c.observed_at >= $2",
    "   ) AS next",
    "   WHERE walk.hops < $3::int AND next.person <> $1::bigint",
    " ),",
    " reached AS MATERIALIZED (",
    "   SELECT person, min(hops) AS hops FROM walk GROUP BY person",
    " ),",
    " page AS MATERIALIZED (",
    "   SELECT person, hops FROM reached",
    "   WHERE hops > 0 AND (hops, person) > ($4::int, $5::bigint)",
    "   ORDER BY hops, person LIMIT $6",
    " ),",
    " candidates AS MATERIALIZED (",
    "   SELECT page.person, page.hops, link.via, link.id, link.observed_at,",
    "     (link.via, page.hops - 1) IN (SELECT person, hops FROM reached) AS closer",
    "   FROM page CROSS JOIN LATERAL (",
    "     SELECT c.mmid1 AS via, c.id, c.observed_at",
    "     FROM contactlist AS c WHERE c.mmid2 = page.person AND c.observed_at >= $2",
    "     UNION ALL",
    "     SELECT c.mmid2, c.id, c.observed_at",
    "     FROM contactlist AS c WHERE c.mmid1 = page.person AND c.observed_at >= $2",
    "   ) AS link",
    " ),",
    " links AS (",
    "   SELECT *, row_number() OVER (PARTITION BY person ORDER BY observed_at, id) AS rank",
    "   FROM candidates WHERE closer",
    " )",
    " SELECT links.person AS reached, links.hops, links.via, ",
    columns!("c."),
    " FROM links JOIN contactlist AS c ON c.id = links.id",
    " WHERE links.rank = 1 ORDER BY links.hops, links.person"
);

/// [`EXPOSURES_POSTGRES`] in SQLite's terms (no `LATERAL`: a join on
/// either side of the pair, which SQLite answers from both indexes).
pub const EXPOSURES_SQLITE: &str = concat!(
    "WITH RECURSIVE",
    " walk(person, hops) AS (",
    "   SELECT ?1, 0",
    "   UNION",
    "   SELECT CASE WHEN c.mmid1 = walk.person THEN c.mmid2 ELSE c.mmid1 END, walk.hops + 1",
    "   FROM walk JOIN contactlist AS c ON c.mmid1 = walk.person OR c.mmid2 = walk.person",
    "   WHERE walk.hops < ?3 AND c.observed_at >= ?2",
    "     AND CASE WHEN c.mmid1 = walk.person THEN c.mmid2 ELSE c.mmid1 END <> ?1",
    " ),",
    " reached AS MATERIALIZED (",
    "   SELECT person, min(hops) AS hops FROM walk GROUP BY person",
    " ),",
    " page AS MATERIALIZED (",
    "   SELECT person, hops FROM reached",
    "   WHERE hops > 0 AND (hops, person) > (?4, ?5)",
    "   ORDER BY hops, person LIMIT ?6",
    " ),",
    " candidates AS (",
    "   SELECT page.person, page.hops, c.id, c.observed_at,",
    "     CASE WHEN c.mmid1 = page.person THEN c.mmid2 ELSE c.mmid1 END AS via",
    "   FROM page JOIN contactlist AS c ON c.mmid1 = page.person OR c.mmid2 = page.person",
    "   WHERE c.observed_at >= ?2",
    " ),",
    " links AS (",
    "   SELECT *, row_number() OVER (PARTITION BY person ORDER BY observed_at, id) AS rank",
    "   FROM candidates WHERE (via, hops - 1) IN (SELECT person, hops FROM reached)",
    " )",
    " SELECT links.person AS reached, links.hops, links.via, ",
    columns!("c."),
    " FROM links JOIN contactlist AS c ON c.id = links.id",
    " WHERE links.rank = 1 ORDER BY links.hops, links.person"
);

/// One person reached by the exposure walk.
#[derive(Debug, Clone, PartialEq)]
pub struct Reached {
    /// Who.
    pub person: i64,
    /// Smallest number of hops.
    pub hops: u32,
    /// Through whom (one hop closer).
    pub via: i64,
    /// The earliest contact between `via` and `person` in the window.
    pub contact: ContactRecord,
}

/// Where a page starts: after this sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After<K>(pub K);

/// Up to `limit` + 1 contacts in `state` with id after `after`, by id.
pub async fn by_state(
    db: &Database,
    state: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<ContactRecord>, sqlx::Error> {
    by_column(db, BY_STATE, &BY_STATE_SQLITE, state, after, limit).await
}

/// Up to `limit` + 1 contacts in `country` with id after `after`, by id.
pub async fn by_country(
    db: &Database,
    country: CountryCode,
    after: i64,
    limit: u32,
) -> Result<Vec<ContactRecord>, sqlx::Error> {
    by_column(
        db,
        BY_COUNTRY,
        &BY_COUNTRY_SQLITE,
        country.as_str(),
        after,
        limit,
    )
    .await
}

async fn by_column(
    db: &Database,
    postgres: &str,
    sqlite: &str,
    value: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<ContactRecord>, sqlx::Error> {
    let fetch = i64::from(limit) + 1;
    match db {
        Database::Postgres(pool) => sqlx::query(postgres)
            .bind(value)
            .bind(after)
            .bind(fetch)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| record(row, pg_time))
            .collect(),
        Database::Sqlite(pool) => sqlx::query(sqlite)
            .bind(value)
            .bind(after)
            .bind(fetch)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| record(row, sqlite_row_time))
            .collect(),
    }
}

/// Up to `limit` + 1 contacts of `person` observed in [`from`, `until`)
/// after `after` = (observed_at, id), in that order.
pub async fn contacts_of(
    db: &Database,
    person: PersonId,
    until: DateTime<Utc>,
    after: After<(DateTime<Utc>, i64)>,
    limit: u32,
) -> Result<Vec<MetContact>, sqlx::Error> {
    let fetch = i64::from(limit) + 1;
    let After((from, after_id)) = after;
    let person = person.get();
    let records: Vec<ContactRecord> = match db {
        Database::Postgres(pool) => sqlx::query(CONTACTS_OF)
            .bind(person)
            .bind(from)
            .bind(until)
            .bind(after_id)
            .bind(fetch)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| record(row, pg_time))
            .collect::<Result<_, _>>()?,
        Database::Sqlite(pool) => sqlx::query(&CONTACTS_OF_SQLITE)
            .bind(person)
            .bind(sqlite_time(from))
            .bind(sqlite_time(until))
            .bind(after_id)
            .bind(fetch)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| record(row, sqlite_row_time))
            .collect::<Result<_, _>>()?,
    };
    Ok(records
        .into_iter()
        .map(|contact| MetContact {
            met: if contact.mmid1 == person {
                contact.mmid2
            } else {
                contact.mmid1
            },
            contact,
        })
        .collect())
}

/// Up to `limit` + 1 people reachable from `person` through contacts
/// observed at or after `since`, within `depth` hops, after `after` =
/// (hops, person), in that order.
pub async fn exposures(
    db: &Database,
    person: PersonId,
    since: DateTime<Utc>,
    depth: u32,
    after: After<(u32, i64)>,
    limit: u32,
) -> Result<Vec<Reached>, sqlx::Error> {
    let fetch = i64::from(limit) + 1;
    let After((after_hops, after_person)) = after;
    // Depth and hops are at most 3 by contract.
    let depth = i32::try_from(depth).unwrap_or(i32::MAX);
    let after_hops = i32::try_from(after_hops).unwrap_or(i32::MAX);
    match db {
        Database::Postgres(pool) => sqlx::query(EXPOSURES_POSTGRES)
            .bind(person.get())
            .bind(since)
            .bind(depth)
            .bind(after_hops)
            .bind(after_person)
            .bind(fetch)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| reached(row, pg_time))
            .collect(),
        Database::Sqlite(pool) => sqlx::query(EXPOSURES_SQLITE)
            .bind(person.get())
            .bind(sqlite_time(since))
            .bind(depth)
            .bind(after_hops)
            .bind(after_person)
            .bind(fetch)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| reached(row, sqlite_row_time))
            .collect(),
    }
}

const COUNT_BY_COUNTRY: &str =
    "SELECT country, count(*) AS n FROM contactlist GROUP BY country ORDER BY country";
const COUNT_BY_STATE_POSTGRES: &str = "SELECT country, state, count(*) AS n FROM contactlist \
     GROUP BY country, state ORDER BY country, state COLLATE \"C\"";
const COUNT_BY_STATE_SQLITE: &str = "SELECT country, state, count(*) AS n FROM contactlist \
     GROUP BY country, state ORDER BY country, state";
const COUNT_BY_DAY_POSTGRES: &str = "SELECT to_char(observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') \
     AS day, count(*) AS n FROM contactlist GROUP BY 1 ORDER BY 1";
const COUNT_BY_DAY_SQLITE: &str = "SELECT substr(observed_at, 1, 10) AS day, count(*) AS n \
     FROM contactlist GROUP BY 1 ORDER BY 1";

/// Counts by country, state and day, from one snapshot of the table.
pub async fn stats(db: &Database) -> Result<Stats, sqlx::Error> {
    let (countries, states, days) = match db {
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
            let countries = sqlx::query(COUNT_BY_COUNTRY).fetch_all(&mut *tx).await?;
            let states = sqlx::query(COUNT_BY_STATE_POSTGRES)
                .fetch_all(&mut *tx)
                .await?;
            let days = sqlx::query(COUNT_BY_DAY_POSTGRES)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            (
                country_counts(&countries)?,
                state_counts(&states)?,
                day_counts(&days)?,
            )
        }
        Database::Sqlite(pool) => {
            // A read transaction in WAL mode is one snapshot.
            let mut tx = pool.begin().await?;
            let countries = sqlx::query(COUNT_BY_COUNTRY).fetch_all(&mut *tx).await?;
            let states = sqlx::query(COUNT_BY_STATE_SQLITE)
                .fetch_all(&mut *tx)
                .await?;
            let days = sqlx::query(COUNT_BY_DAY_SQLITE).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            (
                country_counts(&countries)?,
                state_counts(&states)?,
                day_counts(&days)?,
            )
        }
    };
    Ok(Stats {
        total: countries.iter().map(|c| c.count).sum(),
        by_country: countries,
        by_state: states,
        by_day: days,
    })
}

fn country_counts<R: Row>(rows: &[R]) -> Result<Vec<CountryCount>, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    rows.iter()
        .map(|row| {
            Ok(CountryCount {
                country: row.try_get("country")?,
                count: row.try_get("n")?,
            })
        })
        .collect()
}

fn state_counts<R: Row>(rows: &[R]) -> Result<Vec<StateCount>, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    rows.iter()
        .map(|row| {
            Ok(StateCount {
                country: row.try_get("country")?,
                state: row.try_get("state")?,
                count: row.try_get("n")?,
            })
        })
        .collect()
}

fn day_counts<R: Row>(rows: &[R]) -> Result<Vec<DayCount>, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    rows.iter()
        .map(|row| {
            let day: String = row.try_get("day")?;
            Ok(DayCount {
                day: NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| decode("day", e))?,
                count: row.try_get("n")?,
            })
        })
        .collect()
}

/// Reads a time column on PostgreSQL.
fn pg_time(row: &PgRow, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    row.try_get(column)
}

/// Reads a time column on SQLite (RFC 3339 text).
fn sqlite_row_time(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    let text: String = row.try_get(column)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| decode(column, e))
}

fn decode(column: &str, e: impl std::error::Error + Send + Sync + 'static) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: Box::new(e),
    }
}

fn record<R: Row>(
    row: &R,
    time: fn(&R, &str) -> Result<DateTime<Utc>, sqlx::Error>,
) -> Result<ContactRecord, sqlx::Error>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    Ok(ContactRecord {
        id: row.try_get("id")?,
        mmid1: row.try_get("mmid1")?,
        mmid2: row.try_get("mmid2")?,
        street: row.try_get("street")?,
        city: row.try_get("city")?,
        state: row.try_get("state")?,
        zipcode: row.try_get("zipcode")?,
        country: row.try_get("country")?,
        lat: row.try_get("lat")?,
        lon: row.try_get("lon")?,
        observed_at: time(row, "observed_at")?,
        recorded_at: time(row, "recorded_at")?,
        geocoder: row.try_get("geocoder")?,
    })
}

fn reached<R: Row>(
    row: &R,
    time: fn(&R, &str) -> Result<DateTime<Utc>, sqlx::Error>,
) -> Result<Reached, sqlx::Error>
where
    for<'r> i32: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> f64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    let hops: i32 = row.try_get("hops")?;
    Ok(Reached {
        person: row.try_get("reached")?,
        hops: u32::try_from(hops).map_err(|e| decode("hops", e))?,
        via: row.try_get("via")?,
        contact: record(row, time)?,
    })
}
