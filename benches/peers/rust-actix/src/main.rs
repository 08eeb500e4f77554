//! The HTTP server around [`handler::handle`], laid out as `kn func`'s Rust
//! CloudEvents template lays it out: one actix worker, the request logger,
//! `POST /` to the handler and the two health routes. Unlike the template it
//! binds 127.0.0.1 (a benchmark peer listens on loopback only).

use std::io::{Error, ErrorKind, Result};

use actix_web::{middleware::Logger, web, App, HttpResponse, HttpServer};
use env_logger::{Builder, Env};

mod handler;

#[actix_web::main]
async fn main() -> Result<()> {
    Builder::from_env(Env::default().default_filter_or("info,actix_web=warn")).init();

    let port: u16 = match std::env::var("PORT") {
        Ok(value) => value
            .parse()
            .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("PORT: {e}")))?,
        Err(_) => 8080,
    };

    HttpServer::new(|| {
        App::new()
            .wrap(Logger::default())
            .route("/", web::post().to(handler::handle))
            .route("/", web::get().to(HttpResponse::MethodNotAllowed))
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
