//! Prints PostgreSQL's `EXPLAIN (ANALYZE, BUFFERS)` of the queries behind
//! `GET /exposures/{mmid}` and `GET /contacts/{mmid}`, with the SQL text and
//! parameter types pact-query itself uses (benches/load.sh runs it).
//!
//!   DATABASE_URL=postgres://postgres@127.0.0.1:5432/pact_bench \
//!     cargo run --release -p pact-query --example explain -- MMID [DAYS] [DEPTH]

use anyhow::{Context, bail};
use chrono::{TimeDelta, Utc};
use pact_query::store::{CONTACTS_OF, EXPOSURES_POSTGRES, beginning, end};
use sqlx::Row;
use sqlx::postgres::PgPoolOptions;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL").context("set DATABASE_URL to a postgres:// URL")?;
    let mut args = std::env::args().skip(1);
    let Some(mmid) = args.next() else {
        bail!("usage: explain MMID [DAYS] [DEPTH]");
    };
    let mmid: i64 = mmid.parse().context("MMID is a person id")?;
    let days: i64 = args.next().map_or(Ok(14), |d| d.parse()).context("DAYS")?;
    let depth: i32 = args.next().map_or(Ok(2), |d| d.parse()).context("DEPTH")?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    let since = Utc::now() - TimeDelta::days(days);

    println!("-- GET /exposures/{mmid}?days={days}&depth={depth} (first page of 100)");
    let plan = sqlx::query(&format!("EXPLAIN (ANALYZE, BUFFERS) {EXPOSURES_POSTGRES}"))
        .bind(mmid)
        .bind(since)
        .bind(depth)
        .bind(0i32)
        .bind(0i64)
        .bind(101i64)
        .fetch_all(&pool)
        .await?;
    for row in plan {
        println!("{}", row.try_get::<String, _>(0)?);
    }

    println!("\n-- GET /contacts/{mmid} (first page of 100)");
    let plan = sqlx::query(&format!("EXPLAIN (ANALYZE, BUFFERS) {CONTACTS_OF}"))
        .bind(mmid)
        .bind(beginning())
        .bind(end())
        .bind(0i64)
        .bind(101i64)
        .fetch_all(&pool)
        .await?;
    for row in plan {
        println!("{}", row.try_get::<String, _>(0)?);
    }
    Ok(())
}
