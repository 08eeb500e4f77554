//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the code.
//!
//! The data routes and their description come from one list (utoipa-axum's
//! `OpenApiRouter`, see [`crate::api_router`]); the endpoints every PACT
//! function serves (`/healthz`, `/readyz`, `/metrics`) and this document
//! itself are described here, since the runtime adds their routes. When
//! access is open (`PACT_QUERY_AUTH=none`) the document says so: no security
//! requirement and no 401 response.

use serde::Serialize;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use crate::config::Auth;
use crate::model::{
    ContactRecord, ContactsPage, CountryCount, DayCount, Exposure, ExposuresPage, MetContact,
    StateCount, Stats,
};

/// The name of the bearer security scheme in the document.
pub const BEARER: &str = "bearer";

/// An RFC 9457 problem document, as every error is answered.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDoc {
    /// The kind of problem, a relative URI such as `/problems/malformed`.
    #[serde(rename = "type")]
    #[schema(example = "/problems/malformed")]
    kind: String,
    /// The HTTP reason phrase.
    #[schema(example = "Bad Request")]
    title: String,
    /// The HTTP status code.
    #[schema(example = 400)]
    status: u16,
    /// What is wrong and what to do.
    #[schema(example = "depth: must be a whole number from 1 to 3, got \"9\"")]
    detail: String,
    /// The parameter at fault, for a 400.
    #[schema(example = "depth")]
    field: Option<String>,
}

/// The errors every data endpoint may answer.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only its description is used.
pub enum ErrorResponses {
    /// A parameter is missing, unknown, given twice or not acceptable (a cursor of another query, altered, made up or expired too); `field` names it.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(ProblemDoc),
    /// No bearer token, or not an accepted one.
    #[response(
        status = 401,
        content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"pact-query\"`, with an RFC 6750 error code when a token was sent"))
    )]
    Unauthorized(ProblemDoc),
    /// The database is not available (or not migrated yet); retry after `Retry-After` seconds.
    #[response(
        status = 503,
        content_type = "application/problem+json",
        headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))
    )]
    Unavailable(ProblemDoc),
    /// The database did not answer within `PACT_QUERY_READ_TIMEOUT_MS`; retry after `Retry-After` seconds, or ask for less.
    #[response(
        status = 504,
        content_type = "application/problem+json",
        headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))
    )]
    Timeout(ProblemDoc),
}

/// The document's frame: title, tags, shared schemas, the bearer scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "pact-query",
        description = "PACT's read API: who met whom, when and where; who is exposed through \
                       contacts; counts by country, state and day. Data endpoints need \
                       `Authorization: Bearer <token>` unless the server is run with open \
                       access.",
    ),
    components(schemas(
        ProblemDoc, ContactRecord, MetContact, ContactsPage, Exposure, ExposuresPage,
        CountryCount, StateCount, DayCount, Stats
    )),
    modifiers(&BearerScheme),
    tags(
        (name = "original", description = "The original demo's endpoints, with its field names"),
        (name = "tracing", description = "Contacts and exposures of one person"),
        (name = "statistics", description = "Counts over the whole contact log"),
        (name = "cases", description = "Reporting a case, so pact-notify notifies the people exposed to it; withdrawing it"),
        (name = "operations", description = "Health, readiness, metrics and this document; no token needed"),
    ),
)]
pub struct ApiDoc;

/// The endpoints the runtime adds to every function, and this document.
#[derive(OpenApi)]
#[openapi(paths(healthz, readyz, metrics, openapi_json))]
struct OperationsDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from PACT_QUERY_TOKENS_FILE or PACT_QUERY_TOKENS",
                    ))
                    .build(),
            ),
        );
    }
}

/// Liveness: 200 while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process is alive", body = String, content_type = "text/plain")),
)]
#[allow(dead_code)] // The runtime serves it; this describes it.
fn healthz() {}

/// Readiness: 200 once the schema is migrated and the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to answer queries", body = String, content_type = "text/plain"),
        (status = 503, description = "Not ready yet; the reason is in `detail`", body = ProblemDoc,
         content_type = "application/problem+json"),
    ),
)]
#[allow(dead_code)] // The runtime serves it; this describes it.
fn readyz() {}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Request counts and latencies by route and status",
               body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")),
)]
#[allow(dead_code)] // The runtime serves it; this describes it.
fn metrics() {}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API",
               body = Object, content_type = "application/json")),
)]
#[allow(dead_code)] // Served by `crate::app`; this describes it.
fn openapi_json() {}

/// Completes the document of the data routes: adds the operational
/// endpoints, and drops the security requirements when access is open.
pub fn finish(document: &mut Document, auth: &Auth) {
    document.merge(OperationsDoc::openapi());
    if auth.is_required() {
        return;
    }
    for item in document.paths.paths.values_mut() {
        for operation in operations(item) {
            operation.security = None;
            operation.responses.responses.remove("401");
        }
    }
    if let Some(components) = document.components.as_mut() {
        components.security_schemes.remove(BEARER);
    }
    document.info.description = Some(
        "PACT's read API: who met whom, when and where; who is exposed through contacts; \
         counts by country, state and day. This server runs with open access \
         (PACT_QUERY_AUTH=none): no token is needed."
            .into(),
    );
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}
