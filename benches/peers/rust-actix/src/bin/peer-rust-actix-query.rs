//! pact-query's `GET /contacts/{mmid}` as a Rust function a `kn func` user
//! would write: the same SELECT as pact-query's first page (each side of the
//! pair through its own index, merged; 100 rows at most) through a
//! deadpool-postgres pool of 5, and the same JSON page (no cursor: a person
//! of the benchmark's data has fewer than 100 contacts). Laid out as the
//! translation peer (src/main.rs). `DATABASE_URL` names the database.

use std::io::{Error, ErrorKind, Result};

use actix_web::error::{ErrorBadRequest, ErrorServiceUnavailable};
use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use env_logger::{Builder, Env};
use serde::Serialize;
use tokio_postgres::NoTls;

const COLUMNS: &str = "id, mmid1, mmid2, street, city, state, zipcode, country, lat, lon, \
    observed_at, recorded_at, geocoder";

#[derive(Serialize)]
struct Met {
    met: i64,
    id: i64,
    mmid1: i64,
    mmid2: i64,
    street: String,
    city: String,
    state: String,
    zipcode: String,
    country: String,
    lat: Option<f64>,
    lon: Option<f64>,
    observed_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    geocoder: String,
}

#[derive(Serialize)]
struct Page {
    mmid: i64,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    items: Vec<Met>,
    next_cursor: Option<String>,
}

async fn contacts(
    path: web::Path<String>,
    pool: web::Data<Pool>,
) -> std::result::Result<HttpResponse, actix_web::Error> {
    let mmid: i64 = path
        .parse()
        .ok()
        .filter(|m| *m > 0)
        .ok_or_else(|| ErrorBadRequest("mmid is a positive integer"))?;
    let client = pool.get().await.map_err(ErrorServiceUnavailable)?;
    let select = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM (\
             SELECT * FROM (SELECT {COLUMNS} FROM contactlist WHERE mmid1 = $1 \
             ORDER BY observed_at, id LIMIT 100) AS first_side \
             UNION ALL \
             SELECT * FROM (SELECT {COLUMNS} FROM contactlist WHERE mmid2 = $1 \
             ORDER BY observed_at, id LIMIT 100) AS second_side\
             ) AS met ORDER BY observed_at, id LIMIT 100"
        ))
        .await
        .map_err(ErrorServiceUnavailable)?;
    let rows = client
        .query(&select, &[&mmid])
        .await
        .map_err(ErrorServiceUnavailable)?;
    let items = rows
        .iter()
        .map(|row| {
            let (mmid1, mmid2): (i64, i64) = (row.get("mmid1"), row.get("mmid2"));
            Met {
                met: if mmid1 == mmid { mmid2 } else { mmid1 },
                id: row.get("id"),
                mmid1,
                mmid2,
                street: row.get("street"),
                city: row.get("city"),
                state: row.get("state"),
                zipcode: row.get("zipcode"),
                country: row.get("country"),
                lat: row.get("lat"),
                lon: row.get("lon"),
                observed_at: row.get("observed_at"),
                recorded_at: row.get("recorded_at"),
                geocoder: row.get("geocoder"),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page {
        mmid,
        since: None,
        until: None,
        items,
        next_cursor: None,
    }))
}

#[actix_web::main]
async fn main() -> Result<()> {
    Builder::from_env(Env::default().default_filter_or("info,actix_web=warn")).init();

    let port: u16 = match std::env::var("PORT") {
        Ok(value) => value
            .parse()
            .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("PORT: {e}")))?,
        Err(_) => 8080,
    };
    let pool = web::Data::new(pool()?);

    HttpServer::new(move || {
        App::new()
            .wrap(Logger::default())
            .app_data(pool.clone())
            .route("/contacts/{mmid}", web::get().to(contacts))
            .route(
                "/health/{_:(readiness|liveness)}",
                web::get().to(HttpResponse::Ok),
            )
    })
    .bind(("127.0.0.1", port))?
    .workers(1)
    .run()
    .await
}

/// A pool of 5 on `DATABASE_URL`, connecting lazily.
fn pool() -> Result<Pool> {
    let invalid = |e: String| Error::new(ErrorKind::InvalidInput, e);
    let url =
        std::env::var("DATABASE_URL").map_err(|_| invalid("DATABASE_URL is not set".into()))?;
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| invalid(format!("DATABASE_URL: {e}")))?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(5)
        .build()
        .map_err(|e| invalid(e.to_string()))
}
