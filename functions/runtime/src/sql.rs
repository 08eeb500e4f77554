//! The one way PACT runs SQL on either backend (feature `database`).
//!
//! A statement is written once, with `$n` placeholders (PostgreSQL's form;
//! sqlx hands SQLite the same numbers), bound with [`Param`]s and read into
//! `#[derive(sqlx::FromRow)]` structs; the same code runs on both backends.
//! Where the dialects disagree (PostgreSQL's `LATERAL`, collations, date
//! functions) [`Dialect::pick`] chooses the text; everything else is shared.
//!
//! Times have one encoding, [`Timestamp`]: `timestamptz` on PostgreSQL and
//! fixed-width UTC text on SQLite (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, see
//! `migrations/sqlite`), so text order is time order and an index on a time
//! column answers ranges. Bind a `DateTime<Utc>` and it is stored that way;
//! read one back as `DateTime<Utc>` (sqlx reads the RFC 3339 text on SQLite).
//!
//! Both backends keep their own driver (no `Any`): PostgreSQL sees typed
//! parameters (`int8`, `timestamptz`…), so its query plans are those of
//! hand-written sqlx calls.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgRow, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteRow, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Arguments, Decode, Encode, FromRow, IntoArguments, Postgres, Sqlite, Type};

use crate::database::Database;

/// Which SQL dialect a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Dialect {
    /// The statement text for this dialect, where the two disagree.
    pub fn pick<'a>(self, postgres: &'a str, sqlite: &'a str) -> &'a str {
        match self {
            Self::Postgres => postgres,
            Self::Sqlite => sqlite,
        }
    }

    /// `postgres` or `sqlite`, for logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }

    /// `rows` tuples of `columns` placeholders numbered from 1, for a
    /// multi-row `VALUES` list: `($1, $2), ($3, $4)`. SQLite gets its
    /// numbered form (`?1`), which it parses without looking names up.
    pub fn values(self, rows: usize, columns: usize) -> String {
        let sign = match self {
            Self::Postgres => '$',
            Self::Sqlite => '?',
        };
        let mut sql = String::with_capacity(rows * columns * 7);
        for row in 0..rows {
            if row > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for column in 0..columns {
                if column > 0 {
                    sql.push_str(", ");
                }
                sql.push(sign);
                sql.push_str(&(row * columns + column + 1).to_string());
            }
            sql.push(')');
        }
        sql
    }
}

/// A time as PACT stores it: `timestamptz` on PostgreSQL, fixed-width UTC
/// text on SQLite ([`Timestamp::sqlite_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// SQLite's stored form, `YYYY-MM-DDTHH:MM:SS.ffffffZ`: every time the
    /// same width, so comparing the text compares the times.
    pub fn sqlite_text(self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at)
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(at: Timestamp) -> Self {
        at.0
    }
}

impl Type<Postgres> for Timestamp {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        Encode::<Postgres>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Timestamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<Postgres>>::decode(value).map(Self)
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        Encode::<Sqlite>::encode(self.sqlite_text(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(Self(
            DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc),
        ))
    }
}

/// A value bound to a placeholder: the kinds of value PACT's columns hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param<'q> {
    /// `bigint` / `INTEGER`.
    Int(i64),
    /// `int` (PostgreSQL's 4-byte integer) / `INTEGER`.
    Int32(i32),
    /// `double precision` / `REAL`, or NULL.
    Real(Option<f64>),
    /// `text` / `TEXT`.
    Text(&'q str),
    /// A time, in [`Timestamp`]'s encoding.
    Time(Timestamp),
}

impl From<i64> for Param<'_> {
    fn from(value: i64) -> Self {
        Self::Int(value)
    }
}

impl From<i32> for Param<'_> {
    fn from(value: i32) -> Self {
        Self::Int32(value)
    }
}

impl From<Option<f64>> for Param<'_> {
    fn from(value: Option<f64>) -> Self {
        Self::Real(value)
    }
}

impl<'q> From<&'q str> for Param<'q> {
    fn from(value: &'q str) -> Self {
        Self::Text(value)
    }
}

impl<'q> From<&'q String> for Param<'q> {
    fn from(value: &'q String) -> Self {
        Self::Text(value)
    }
}

impl From<DateTime<Utc>> for Param<'_> {
    fn from(value: DateTime<Utc>) -> Self {
        Self::Time(Timestamp(value))
    }
}

impl From<Timestamp> for Param<'_> {
    fn from(value: Timestamp) -> Self {
        Self::Time(value)
    }
}

/// A row type that reads on both backends: any `#[derive(sqlx::FromRow)]`
/// struct (or tuple) whose fields decode on PostgreSQL and SQLite.
pub trait Record:
    for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin
{
}

impl<T> Record for T where
    T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin
{
}

/// A transaction on either backend; dropped without [`Transaction::commit`],
/// it rolls back.
#[derive(Debug)]
pub enum Transaction {
    /// On PostgreSQL.
    Postgres(sqlx::Transaction<'static, Postgres>),
    /// On SQLite.
    Sqlite(sqlx::Transaction<'static, Sqlite>),
}

impl Transaction {
    /// A statement inside this transaction.
    pub fn query<'q>(&'q mut self, sql: &'q str) -> Statement<'q> {
        Statement::new(Target::Transaction(self), sql)
    }

    /// The dialect of the database it runs on.
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Postgres(_) => Dialect::Postgres,
            Self::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Commits; nothing written in it is visible to others before this
    /// returns.
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            Self::Postgres(tx) => tx.commit().await,
            Self::Sqlite(tx) => tx.commit().await,
        }
    }
}

impl Database {
    /// A statement on a pooled connection.
    pub fn query<'q>(&'q self, sql: &'q str) -> Statement<'q> {
        Statement::new(Target::Pool(self), sql)
    }

    /// Starts a transaction on a pooled connection.
    pub async fn begin(&self) -> sqlx::Result<Transaction> {
        Ok(match self {
            Self::Postgres(pool) => Transaction::Postgres(pool.begin().await?),
            Self::Sqlite(pool) => Transaction::Sqlite(pool.begin().await?),
        })
    }

    /// The dialect this database speaks.
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Postgres(_) => Dialect::Postgres,
            Self::Sqlite(_) => Dialect::Sqlite,
        }
    }
}

/// Runs `$run` with `$executor` bound to what the statement runs on: the
/// pool or the open transaction, of either backend (the one place that
/// tells the four apart).
macro_rules! on_target {
    ($target:expr, $executor:ident => $run:expr) => {
        match $target {
            Target::Pool(Database::Postgres(pool)) => {
                let $executor = pool;
                $run
            }
            Target::Pool(Database::Sqlite(pool)) => {
                let $executor = pool;
                $run
            }
            Target::Transaction(Transaction::Postgres(tx)) => {
                let $executor = &mut **tx;
                $run
            }
            Target::Transaction(Transaction::Sqlite(tx)) => {
                let $executor = &mut **tx;
                $run
            }
        }
    };
}

enum Target<'q> {
    Pool(&'q Database),
    Transaction(&'q mut Transaction),
}

/// One SQL statement and its parameters, run on a pool or in a
/// transaction: [`Database::query`], [`Transaction::query`].
#[must_use = "a statement does nothing until it is run"]
pub struct Statement<'q> {
    target: Target<'q>,
    sql: &'q str,
    params: Vec<Param<'q>>,
}

impl<'q> Statement<'q> {
    fn new(target: Target<'q>, sql: &'q str) -> Self {
        Self {
            target,
            sql,
            params: Vec::new(),
        }
    }

    /// Binds the next placeholder (`$1`, then `$2`…).
    pub fn bind(mut self, value: impl Into<Param<'q>>) -> Self {
        self.params.push(value.into());
        self
    }

    /// Every row, read as `T`.
    pub async fn fetch_all<T: Record>(self) -> sqlx::Result<Vec<T>> {
        on_target!(self.target, executor => query_as(self.sql, self.params)?.fetch_all(executor).await)
    }

    /// Exactly one row, read as `T` (`RowNotFound` when there is none).
    pub async fn fetch_one<T: Record>(self) -> sqlx::Result<T> {
        on_target!(self.target, executor => query_as(self.sql, self.params)?.fetch_one(executor).await)
    }

    /// Runs it; the number of rows it changed.
    pub async fn execute(self) -> sqlx::Result<u64> {
        on_target!(self.target, executor => {
            let done = query(self.sql, self.params)?.execute(executor).await?;
            Ok(RowsAffected::rows_affected(&done))
        })
    }
}

/// What a backend must take to bind every [`Param`]: PostgreSQL and SQLite.
trait Backend: sqlx::Database {
    fn arguments(params: Vec<Param<'_>>) -> Result<Self::Arguments<'_>, BoxDynError>;
}

impl Backend for Postgres {
    fn arguments(params: Vec<Param<'_>>) -> Result<Self::Arguments<'_>, BoxDynError> {
        arguments::<Self>(params)
    }
}

impl Backend for Sqlite {
    fn arguments(params: Vec<Param<'_>>) -> Result<Self::Arguments<'_>, BoxDynError> {
        arguments::<Self>(params)
    }
}

fn arguments<'q, DB>(params: Vec<Param<'q>>) -> Result<DB::Arguments<'q>, BoxDynError>
where
    DB: sqlx::Database,
    i64: Encode<'q, DB> + Type<DB>,
    i32: Encode<'q, DB> + Type<DB>,
    Option<f64>: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Timestamp: Encode<'q, DB> + Type<DB>,
{
    let mut arguments = DB::Arguments::default();
    arguments.reserve(params.len(), 0);
    for param in params {
        match param {
            Param::Int(v) => arguments.add(v),
            Param::Int32(v) => arguments.add(v),
            Param::Real(v) => arguments.add(v),
            Param::Text(v) => arguments.add(v),
            Param::Time(v) => arguments.add(v),
        }?;
    }
    Ok(arguments)
}

/// The statement with its parameters bound, for `execute`.
fn query<'q, DB: Backend>(
    sql: &'q str,
    params: Vec<Param<'q>>,
) -> sqlx::Result<sqlx::query::Query<'q, DB, DB::Arguments<'q>>>
where
    DB::Arguments<'q>: IntoArguments<'q, DB>,
{
    let arguments = DB::arguments(params).map_err(sqlx::Error::Encode)?;
    Ok(sqlx::query_with(sql, arguments))
}

/// The statement with its parameters bound, reading rows as `T`.
fn query_as<'q, DB: Backend, T>(
    sql: &'q str,
    params: Vec<Param<'q>>,
) -> sqlx::Result<sqlx::query::QueryAs<'q, DB, T, DB::Arguments<'q>>>
where
    DB::Arguments<'q>: IntoArguments<'q, DB>,
    T: for<'r> FromRow<'r, DB::Row>,
{
    let arguments = DB::arguments(params).map_err(sqlx::Error::Encode)?;
    Ok(sqlx::query_as_with(sql, arguments))
}

/// `rows_affected` of either backend's query result (sqlx has no trait
/// for it).
trait RowsAffected {
    fn rows_affected(&self) -> u64;
}

impl RowsAffected for sqlx::postgres::PgQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

impl RowsAffected for sqlx::sqlite::SqliteQueryResult {
    fn rows_affected(&self) -> u64 {
        self.rows_affected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_times_are_fixed_width_and_ordered() {
        let early = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let late = early + chrono::TimeDelta::microseconds(1_500_001);
        assert_eq!(
            Timestamp(early).sqlite_text(),
            "2026-11-24T10:00:00.000000Z"
        );
        assert_eq!(Timestamp(late).sqlite_text(), "2026-11-24T10:00:01.500001Z");
        assert!(Timestamp(early).sqlite_text() < Timestamp(late).sqlite_text());
    }

    #[test]
    fn values_are_numbered_per_dialect() {
        assert_eq!(Dialect::Postgres.values(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(Dialect::Sqlite.values(1, 3), "(?1, ?2, ?3)");
    }

    #[derive(Debug, PartialEq, sqlx::FromRow)]
    struct Seen {
        id: i64,
        at: DateTime<Utc>,
        stamp: Timestamp,
        lat: Option<f64>,
        note: String,
    }

    /// One statement, one row type, both backends: the time written is the
    /// time read, and SQLite keeps it as the fixed-width text.
    async fn round_trip(db: Database, create: &str) {
        db.query(create).execute().await.expect("create");
        let at = DateTime::parse_from_rfc3339("2026-11-24T10:00:00.123456Z")
            .expect("valid")
            .with_timezone(&Utc);
        let inserted = db
            .query("INSERT INTO seen (id, at, stamp, lat, note) VALUES ($1, $2, $3, $4, $5)")
            .bind(7_i64)
            .bind(at)
            .bind(Timestamp(at))
            .bind(None::<f64>)
            .bind("x")
            .execute()
            .await
            .expect("insert");
        assert_eq!(inserted, 1);
        let mut tx = db.begin().await.expect("begin");
        let rows: Vec<Seen> = tx
            .query("SELECT id, at, stamp, lat, note FROM seen WHERE at >= $1 AND id = $2")
            .bind(at)
            .bind(7_i64)
            .fetch_all()
            .await
            .expect("select");
        tx.commit().await.expect("commit");
        assert_eq!(
            rows,
            [Seen {
                id: 7,
                at,
                stamp: Timestamp(at),
                lat: None,
                note: "x".into()
            }]
        );
        if db.dialect() == Dialect::Sqlite {
            let (text,): (String,) = db
                .query("SELECT at FROM seen")
                .fetch_one()
                .await
                .expect("text");
            assert_eq!(text, "2026-11-24T10:00:00.123456Z");
        }
    }

    #[sqlx::test(migrations = false)]
    async fn round_trips_on_postgres(pool: sqlx::PgPool) {
        round_trip(
            Database::Postgres(pool),
            "CREATE TABLE seen (id bigint, at timestamptz, stamp timestamptz, \
             lat double precision, note text)",
        )
        .await;
    }

    #[sqlx::test(migrations = false)]
    async fn round_trips_on_sqlite(pool: sqlx::SqlitePool) {
        round_trip(
            Database::Sqlite(pool),
            "CREATE TABLE seen (id INTEGER, at TEXT, stamp TEXT, lat REAL, note TEXT)",
        )
        .await;
    }
}
