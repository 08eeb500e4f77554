//! Every query pact-query runs, written once for PostgreSQL and SQLite
//! through `pact_runtime::sql`: `$n` placeholders, times bound as
//! `DateTime<Utc>` (one encoding on both), rows read by `sqlx::FromRow`.
//! Only where the dialects differ (PostgreSQL's `LATERAL`, collation, day
//! truncation) does each get its own text.
//!
//! Every page is fetched with one row more than asked, to know whether a
//! next page exists without counting.

use chrono::{DateTime, Utc};
use pact_runtime::contact::{CountryCode, PersonId};
use pact_runtime::database::Database;
use pact_runtime::sql::Dialect;

use crate::model::{ContactRecord, CountryCount, MetContact, Stats};

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

use pact_runtime::contact_columns as columns;

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

/// The contacts of one person in a window (`GET /contacts/{mmid}`; pact-notify
/// walks the same query).
pub use pact_runtime::queries::CONTACTS_OF;

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
    "   SELECT $1, 0",
    "   UNION",
    "   SELECT CASE WHEN c.mmid1 = walk.person THEN c.mmid2 ELSE c.mmid1 END, walk.hops + 1",
    "   FROM walk JOIN contactlist AS c ON c.mmid1 = walk.person OR c.mmid2 = walk.person",
    "   WHERE walk.hops < $3 AND c.observed_at >= $2",
    "     AND CASE WHEN c.mmid1 = walk.person THEN c.mmid2 ELSE c.mmid1 END <> $1",
    " ),",
    " reached AS MATERIALIZED (",
    "   SELECT person, min(hops) AS hops FROM walk GROUP BY person",
    " ),",
    " page AS MATERIALIZED (",
    "   SELECT person, hops FROM reached",
    "   WHERE hops > 0 AND (hops, person) > ($4, $5)",
    "   ORDER BY hops, person LIMIT $6",
    " ),",
    " candidates AS (",
    "   SELECT page.person, page.hops, c.id, c.observed_at,",
    "     CASE WHEN c.mmid1 = page.person THEN c.mmid2 ELSE c.mmid1 END AS via",
    "   FROM page JOIN contactlist AS c ON c.mmid1 = page.person OR c.mmid2 = page.person",
    "   WHERE c.observed_at >= $2",
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
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Reached {
    /// Who.
    #[sqlx(rename = "reached")]
    pub person: i64,
    /// Smallest number of hops.
    #[sqlx(try_from = "i32")]
    pub hops: u32,
    /// Through whom (one hop closer).
    pub via: i64,
    /// The earliest contact between `via` and `person` in the window.
    #[sqlx(flatten)]
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
    db.query(BY_STATE)
        .bind(state)
        .bind(after)
        .bind(fetch(limit))
        .fetch_all()
        .await
}

/// Up to `limit` + 1 contacts in `country` with id after `after`, by id.
pub async fn by_country(
    db: &Database,
    country: CountryCode,
    after: i64,
    limit: u32,
) -> Result<Vec<ContactRecord>, sqlx::Error> {
    db.query(BY_COUNTRY)
        .bind(country.as_str())
        .bind(after)
        .bind(fetch(limit))
        .fetch_all()
        .await
}

/// Rows to ask for: one more than the page, to tell whether another follows.
fn fetch(limit: u32) -> i64 {
    i64::from(limit) + 1
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
    let After((from, after_id)) = after;
    let person = person.get();
    let records: Vec<ContactRecord> = db
        .query(CONTACTS_OF)
        .bind(person)
        .bind(from)
        .bind(until)
        .bind(after_id)
        .bind(fetch(limit))
        .fetch_all()
        .await?;
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
    let After((after_hops, after_person)) = after;
    // Depth and hops are at most 3 by contract.
    let depth = i32::try_from(depth).unwrap_or(i32::MAX);
    let after_hops = i32::try_from(after_hops).unwrap_or(i32::MAX);
    db.query(db.dialect().pick(EXPOSURES_POSTGRES, EXPOSURES_SQLITE))
        .bind(person.get())
        .bind(since)
        .bind(depth)
        .bind(after_hops)
        .bind(after_person)
        .bind(fetch(limit))
        .fetch_all()
        .await
}

const COUNT_BY_COUNTRY: &str =
    "SELECT country, count(*) AS n FROM contactlist GROUP BY country ORDER BY country";
const COUNT_BY_STATE_POSTGRES: &str = "SELECT country, state, count(*) AS n FROM contactlist \
     GROUP BY country, state ORDER BY country, state COLLATE \"C\"";
const COUNT_BY_STATE_SQLITE: &str = "SELECT country, state, count(*) AS n FROM contactlist \
     GROUP BY country, state ORDER BY country, state";
const COUNT_BY_DAY_POSTGRES: &str = "SELECT (observed_at AT TIME ZONE 'UTC')::date AS day, \
     count(*) AS n FROM contactlist GROUP BY 1 ORDER BY 1";
const COUNT_BY_DAY_SQLITE: &str = "SELECT substr(observed_at, 1, 10) AS day, count(*) AS n \
     FROM contactlist GROUP BY 1 ORDER BY 1";

/// Counts by country, state and day, from one snapshot of the table.
pub async fn stats(db: &Database) -> Result<Stats, sqlx::Error> {
    let dialect = db.dialect();
    // A read transaction is one snapshot: on SQLite (WAL mode) as it is; on
    // PostgreSQL once it is REPEATABLE READ.
    let mut tx = db.begin().await?;
    if dialect == Dialect::Postgres {
        tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute()
            .await?;
    }
    let by_country: Vec<CountryCount> = tx.query(COUNT_BY_COUNTRY).fetch_all().await?;
    let by_state = tx
        .query(dialect.pick(COUNT_BY_STATE_POSTGRES, COUNT_BY_STATE_SQLITE))
        .fetch_all()
        .await?;
    let by_day = tx
        .query(dialect.pick(COUNT_BY_DAY_POSTGRES, COUNT_BY_DAY_SQLITE))
        .fetch_all()
        .await?;
    tx.commit().await?;
    Ok(Stats {
        total: by_country
            .iter()
            .map(|c: &crate::model::CountryCount| c.count)
            .sum(),
        by_country,
        by_state,
        by_day,
    })
}

/// A case as pact-notify recorded it, with its notifications counted.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CaseRow {
    /// The person; `None` while only a withdrawal arrived.
    pub mmid: Option<i64>,
    /// The onset date, as midnight UTC.
    pub onset: Option<DateTime<Utc>>,
    /// When its notifications were planned.
    pub planned_at: Option<DateTime<Utc>>,
    /// When it was withdrawn.
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// Notifications the sink accepted.
    pub notified: i64,
    /// Notifications not sent yet (none will be once it is withdrawn).
    pub pending: i64,
    /// Notifications withdrawn.
    pub withdrawn: i64,
}

const CASE_STATUS: &str = "SELECT c.mmid, c.onset, c.planned_at, c.withdrawn_at, \
     (SELECT count(*) FROM notifications AS n WHERE n.case_id = c.case_id AND n.sent_at IS NOT NULL) AS notified, \
     (SELECT count(*) FROM notifications AS n WHERE n.case_id = c.case_id AND n.sent_at IS NULL) AS pending, \
     (SELECT count(*) FROM notifications AS n WHERE n.case_id = c.case_id AND n.withdrawn_at IS NOT NULL) AS withdrawn \
     FROM cases AS c WHERE c.case_id = $1";

/// The case `case_id`, if pact-notify recorded it.
pub async fn case_status(db: &Database, case_id: &str) -> Result<Option<CaseRow>, sqlx::Error> {
    Ok(db.query(CASE_STATUS).bind(case_id).fetch_all().await?.pop())
}
