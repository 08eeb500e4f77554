//! pact-producer's original endpoint as a `kn func` Rust function would do
//! it: `POST /pact/producer?message=mmid1,mmid2,lat,lon[,observed_at]` →
//! one binary-mode `dev.pact.contact.untranslated` CloudEvent POSTed to
//! `K_SINK` with reqwest and the CloudEvents SDK's reqwest binding, then 202.
//! The server is laid out as the translation peer (src/main.rs): one actix
//! worker, the request logger, the health routes, 127.0.0.1.

use std::io::{Error, ErrorKind, Result};

use actix_web::error::{ErrorBadGateway, ErrorBadRequest, ErrorInternalServerError};
use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};
use chrono::{DateTime, Utc};
use cloudevents::binding::reqwest::RequestBuilderExt;
use cloudevents::{EventBuilder, EventBuilderV10};
use env_logger::{Builder, Env};
use serde::Deserialize;
use serde_json::json;

struct Sink {
    client: reqwest::Client,
    url: String,
}

#[derive(Deserialize)]
struct Message {
    message: String,
}

async fn produce(
    query: web::Query<Message>,
    sink: web::Data<Sink>,
) -> std::result::Result<HttpResponse, actix_web::Error> {
    let fields: Vec<&str> = query.message.split(',').map(str::trim).collect();
    if !(4..=5).contains(&fields.len()) {
        return Err(ErrorBadRequest(
            "expected mmid1,mmid2,lat,lon[,observed_at]",
        ));
    }
    let mmid1: u64 = fields[0].parse().map_err(ErrorBadRequest)?;
    let mmid2: u64 = fields[1].parse().map_err(ErrorBadRequest)?;
    let lat: f64 = fields[2].parse().map_err(ErrorBadRequest)?;
    let lon: f64 = fields[3].parse().map_err(ErrorBadRequest)?;
    let observed_at: DateTime<Utc> = match fields.get(4) {
        Some(text) => text.parse().map_err(ErrorBadRequest)?,
        None => Utc::now(),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let event = EventBuilderV10::new()
        .id(id.as_str())
        .source("/peers/rust-actix/producer")
        .ty("dev.pact.contact.untranslated")
        .time(observed_at)
        .extension(
            "partitionkey",
            format!("{}-{}", mmid1.min(mmid2), mmid1.max(mmid2)),
        )
        .data(
            "application/json",
            json!({
                "mmid1": mmid1, "mmid2": mmid2, "lat": lat, "lon": lon,
                "observed_at": observed_at.to_rfc3339(),
            }),
        )
        .build()
        .map_err(ErrorInternalServerError)?;
    let response = sink
        .client
        .post(&sink.url)
        .event(event)
        .map_err(ErrorInternalServerError)?
        .send()
        .await
        .map_err(ErrorBadGateway)?;
    if !response.status().is_success() {
        return Err(ErrorBadGateway(format!(
            "the sink answered {}",
            response.status()
        )));
    }
    Ok(HttpResponse::Accepted().body(format!("Contact accepted as event {id}\n")))
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
    let url = std::env::var("K_SINK")
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "K_SINK is not set"))?;
    let sink = web::Data::new(Sink {
        client: reqwest::Client::new(),
        url,
    });

    HttpServer::new(move || {
        App::new()
            .wrap(Logger::default())
            .app_data(sink.clone())
            .route("/pact/producer", web::post().to(produce))
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
