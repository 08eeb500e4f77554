//! pact-notify's tests, on PostgreSQL (a fresh database per test, from
//! `#[sqlx::test]`, on the server `DATABASE_URL` names) and on SQLite,
//! with a real HTTP sink that records what it is sent.

mod cases;
mod helpers;
mod input;
mod logs;
