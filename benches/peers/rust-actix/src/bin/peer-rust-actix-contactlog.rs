//! pact-contactlog's job as a `kn func` Rust function would do it: a
//! `dev.pact.contact.translated` CloudEvent in (the SDK's actix extractor),
//! one row in `contactlist` by `INSERT … ON CONFLICT DO NOTHING` on the
//! event's (source, id) through a deadpool-postgres pool of 5 (pact's
//! default), 200 once it is committed. Laid out as the translation peer
//! (src/main.rs). `DATABASE_URL` names the database.

use std::io::{Error, ErrorKind, Result};

use actix_web::error::{ErrorBadRequest, ErrorServiceUnavailable};
use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};
use cloudevents::event::Data;
use cloudevents::{AttributesReader, Event};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use env_logger::{Builder, Env};
use serde::Deserialize;
use serde_json::json;
use tokio_postgres::NoTls;

const INSERT: &str = "INSERT INTO contactlist \
    (mmid1, mmid2, street, city, state, zipcode, country, lat, lon, observed_at, geocoder, \
     event_source, event_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
    ON CONFLICT (event_source, event_id) DO NOTHING";

#[derive(Deserialize)]
struct Translated {
    mmid1: i64,
    mmid2: i64,
    lat: f64,
    lon: f64,
    observed_at: DateTime<Utc>,
    #[serde(default)]
    street: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    zipcode: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    geocoder: String,
}

async fn handle(
    event: Event,
    pool: web::Data<Pool>,
) -> std::result::Result<HttpResponse, actix_web::Error> {
    let contact: Translated = match event.data() {
        Some(Data::Json(value)) => Translated::deserialize(value).map_err(ErrorBadRequest)?,
        Some(Data::Binary(bytes)) => serde_json::from_slice(bytes).map_err(ErrorBadRequest)?,
        Some(Data::String(text)) => serde_json::from_str(text).map_err(ErrorBadRequest)?,
        None => return Err(ErrorBadRequest("expected a translated contact as data")),
    };
    let client = pool.get().await.map_err(ErrorServiceUnavailable)?;
    let insert = client
        .prepare_cached(INSERT)
        .await
        .map_err(ErrorServiceUnavailable)?;
    let source = event.source().to_string();
    let stored = client
        .execute(
            &insert,
            &[
                &contact.mmid1,
                &contact.mmid2,
                &contact.street,
                &contact.city,
                &contact.state,
                &contact.zipcode,
                &contact.country,
                &contact.lat,
                &contact.lon,
                &contact.observed_at,
                &contact.geocoder,
                &source,
                &event.id(),
            ],
        )
        .await
        // A check constraint is bad data; anything else, the database.
        .map_err(|e| match e.code() {
            Some(code) if code.code().starts_with("23") => ErrorBadRequest(e),
            _ => ErrorServiceUnavailable(e),
        })?;
    Ok(HttpResponse::Ok().json(json!({ "stored": stored, "duplicates": 1 - stored })))
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
            .route("/", web::post().to(handle))
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
