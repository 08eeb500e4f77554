//! pact-query: PACT's read API over the `contactlist` table (DESIGN.md
//! section 5), a Knative Service that scales to zero.
//!
//! - `GET /findcontactbystate?state=MN`, `GET /findcontactbycountry?country=US`:
//!   the original demo's endpoints, with its JSON field names (a JSON array
//!   of rows), plus where and when each contact happened.
//! - `GET /contacts/{mmid}?since=&until=`: whom one person met, when and where.
//! - `GET /exposures/{mmid}?days=14&depth=2`: everyone reachable through
//!   contacts in the last `days` days, with the smallest number of hops and
//!   the earliest contact linking them; one recursive query in the database.
//! - `GET /stats`: counts by country, state and day.
//! - `GET /openapi.json`: the OpenAPI 3.1 document, generated from the same
//!   route list as the router.
//!
//! Pages hold `limit` rows (default 100, at most 1000) in a stable order and
//! continue with an opaque `cursor`. Data endpoints need `Authorization:
//! Bearer <token>` unless open access was stated (`PACT_QUERY_AUTH=none`).
//! Bad parameters (a made-up or foreign cursor too) are a 400 problem naming
//! the parameter; a database that is down is a 503 with `Retry-After`, one
//! slower than `PACT_QUERY_READ_TIMEOUT_MS` a 504 with `Retry-After`.

pub mod api;
pub mod auth;
pub mod config;
pub mod cursor;
pub mod error;
pub mod model;
pub mod openapi;
pub mod params;
pub mod store;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::response::IntoResponse;
use axum::routing::get;
use http::{HeaderValue, header};
use pact_runtime::database::{Database, Schema};
use pact_runtime::metrics::Metrics;
use pact_runtime::server::contract;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use config::{Auth, Config};
pub use error::{Error, Result};

/// The function's name, in logs and metrics.
pub const NAME: &str = "pact-query";

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    config: Arc<Config>,
    schema: Schema,
    metrics: Arc<Metrics>,
}

impl AppState {
    /// The state for `config` over `database`. Starts migrating the schema in
    /// the background (pact-query may start before pact-contactlog, so it
    /// applies the same embedded migrations; sqlx's lock makes two
    /// migrators safe): must be called inside a Tokio runtime.
    pub fn new(config: Config, database: Database) -> Self {
        Self {
            config: Arc::new(config),
            schema: Schema::migrate_in_background(database),
            metrics: Metrics::new().freeze(),
        }
    }

    /// The database, once the schema is in place; before, a 503.
    fn database(&self) -> Result<&Database> {
        if self.schema.is_ready() {
            Ok(self.schema.database())
        } else {
            Err(Error::unavailable(
                "the database schema is not ready yet; retry shortly",
            ))
        }
    }

    /// Waits for a store call at most [`Config::read_timeout`]: past it, a
    /// 504 with `Retry-After` instead of a request held until the runtime's
    /// timeout. (Dropping the call releases the request; the server-side
    /// limit is the pool's `statement_timeout` on PostgreSQL.)
    async fn read<T>(
        &self,
        query: impl Future<Output = std::result::Result<T, sqlx::Error>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.config.read_timeout, query).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(Error::Runtime(pact_runtime::Error::UpstreamTimeout(
                format!(
                    "the database did not answer within {} ms; retry shortly, or ask for a \
                     smaller window",
                    self.config.read_timeout.as_millis()
                ),
            ))),
        }
    }

    /// The schema migrator (its readiness is `/readyz`).
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

/// The data routes and their OpenAPI description, from one list: adding a
/// route here documents it.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(api::find_by_state))
        .routes(routes!(api::find_by_country))
        .routes(routes!(api::contacts))
        .routes(routes!(api::exposures))
        .routes(routes!(api::stats))
}

/// pact-query's routes inside the function contract.
pub fn app(state: AppState) -> Router {
    let auth = Arc::new(state.config.auth.clone());
    let (data, mut document) = api_router()
        .route_layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            auth::require_token,
        ))
        .split_for_parts();
    openapi::finish(&mut document, &auth);
    let document = Bytes::from(match document.to_json() {
        Ok(json) => json,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize the OpenAPI document");
            String::from("{}")
        }
    });
    let serve_document = move || {
        let body = document.clone();
        async move {
            let mut response = body.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
    };
    let routes = data
        .with_state(state.clone())
        .route("/openapi.json", get(serve_document));
    contract(
        routes,
        &state.config.runtime,
        state.metrics.clone(),
        state.schema.clone(),
    )
}

/// The whole process: configuration from the environment, serve until
/// SIGTERM. What the `pact-query` binary and `pact function query` run.
pub fn run() -> std::process::ExitCode {
    use pact_runtime::server::{block_on, config_failed, start};
    // Read before the runtime starts: the token file is read with blocking I/O.
    let (config, warnings) = match Config::from_env(&pact_runtime::config::ProcessEnv) {
        Ok(read) => read,
        Err(e) => return config_failed(NAME, &e),
    };
    block_on(NAME, async move {
        // Logs first, so the background migration's messages are kept.
        pact_runtime::telemetry::init(&config.runtime);
        let database = pact_runtime::database::Database::connect_lazy(&config.database);
        let state = AppState::new(config.clone(), database);
        start(NAME, &config.runtime, &warnings, app(state)).await
    })
}
