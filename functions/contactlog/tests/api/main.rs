//! pact-contactlog's tests, on PostgreSQL (a fresh database per test, from
//! `#[sqlx::test]`, on the server `DATABASE_URL` names) and on SQLite.

mod helpers;
mod outages;
mod processes;
mod sender_auth;
mod store;
mod timeouts;
