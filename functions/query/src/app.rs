//! pact-query's state, router and start-up: the data routes of [`crate::api`]
//! and `/openapi.json` inside the function contract.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::response::IntoResponse;
use axum::routing::get;
use http::{HeaderValue, header};
use pact_runtime::database::{Database, Schema};
use pact_runtime::emit::Emitter;
use pact_runtime::metrics::Metrics;
use pact_runtime::server::{Function, Started, contract};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::{NAME, SOURCE, api, auth, cases, openapi, ui};

/// pact-query, as the runtime starts it.
pub struct Query;

impl Function for Query {
    const NAME: &'static str = NAME;
    type Settings = Config;

    fn start(config: Config) -> Started {
        let database = Database::connect_lazy(&config.database);
        Started::new(app(AppState::new(config, database)))
    }
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    config: Arc<Config>,
    schema: Schema,
    metrics: Arc<Metrics>,
    emitter: Arc<Emitter>,
}

impl AppState {
    /// The state for `config` over `database`. Starts migrating the schema in
    /// the background (pact-query may start before pact-contactlog, so it
    /// applies the same embedded migrations; sqlx's lock makes two
    /// migrators safe): must be called inside a Tokio runtime.
    pub fn new(config: Config, database: Database) -> Self {
        let metrics = Metrics::new().freeze();
        let emitter = Arc::new(
            Emitter::new(SOURCE, &config.runtime, metrics.clone())
                .with_token_file(config.emit_token_file.clone()),
        );
        Self {
            config: Arc::new(config),
            schema: Schema::migrate_in_background(database),
            metrics,
            emitter,
        }
    }

    /// Emits the case events (`POST /cases`).
    pub(crate) fn emitter(&self) -> &Emitter {
        &self.emitter
    }

    /// The database, once the schema is in place; before, a 503.
    pub(crate) fn database(&self) -> Result<&Database> {
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
    pub(crate) async fn read<T>(
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
        .routes(routes!(cases::report))
        .routes(routes!(cases::withdraw, cases::status))
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
        .route("/openapi.json", get(serve_document))
        .merge(ui::router(&auth));
    contract(
        routes,
        &state.config.runtime,
        state.metrics.clone(),
        state.schema.clone(),
    )
}
