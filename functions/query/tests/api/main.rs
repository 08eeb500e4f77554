//! pact-query's API tests: every endpoint over a real socket, on a fresh
//! PostgreSQL database per test (`#[sqlx::test]`, `DATABASE_URL` from the
//! environment) and on SQLite, with the same test bodies.

mod helpers;

mod auth;
mod cases;
mod config;
mod contacts;
mod cursors;
mod exposures;
mod openapi;
mod original;
mod parameters;
mod stats;
mod ui;
mod unavailable;
