//! pact-query: PACT's read API over the `contactlist` table (DESIGN.md
//! section 5), and where cases are reported; a Knative Service that scales
//! to zero.
//!
//! - `GET /findcontactbystate?state=MN`, `GET /findcontactbycountry?country=US`:
//!   the original demo's endpoints, with its JSON field names (a JSON array
//!   of rows), plus where and when each contact happened.
//! - `GET /contacts/{mmid}?since=&until=`: whom one person met, when and where.
//! - `GET /exposures/{mmid}?days=14&depth=2`: everyone reachable through
//!   contacts in the last `days` days, with the smallest number of hops and
//!   the earliest contact linking them; one recursive query in the database.
//! - `GET /stats`: counts by country, state and day.
//! - `POST /cases`, `DELETE /cases/{case_id}`: health staff report or
//!   withdraw a case; pact-query emits the event pact-notify acts on to
//!   `K_SINK` ([`cases`]). `GET /cases/{case_id}`: how many pact-notify
//!   notified.
//! - `GET /openapi.json`: the OpenAPI 3.1 document, generated from the same
//!   route list as the router.
//! - `/ui/`: a page for health staff over these endpoints ([`ui`]); `GET /`
//!   sends a browser there and tells any other client where things are.
//!
//! Pages hold `limit` rows (default 100, at most 1000) in a stable order and
//! continue with an opaque `cursor`. Data endpoints need `Authorization:
//! Bearer <token>` unless open access was stated (`PACT_QUERY_AUTH=none`).
//! Bad parameters (a made-up or foreign cursor too) are a 400 problem naming
//! the parameter; a database that is down is a 503 with `Retry-After`, one
//! slower than `PACT_QUERY_READ_TIMEOUT_MS` a 504 with `Retry-After`.

pub mod api;
pub mod app;
pub mod auth;
pub mod cases;
pub mod config;
pub mod cursor;
pub mod error;
pub mod model;
pub mod openapi;
pub mod params;
pub mod store;
pub mod ui;

pub use app::{AppState, Query, api_router, app};
pub use config::{Auth, Config};
pub use error::{Error, Result};

/// The function's name, in logs and metrics.
pub const NAME: &str = "pact-query";
/// The `source` of the case events it emits.
pub const SOURCE: &str = "/pact/query";

/// The whole process (settings from the environment, serve until SIGTERM):
/// the runtime's one start-up path. What the `pact-query` binary and
/// `pact function query` run.
pub fn run() -> std::process::ExitCode {
    pact_runtime::server::run::<Query>()
}
