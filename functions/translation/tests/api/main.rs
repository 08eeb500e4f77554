//! pact-translation's API tests over real sockets.

mod fake;
mod forms;
mod helpers;
mod hostile_provider;
mod online;
mod pipeline;
mod providers;
mod secrets;
mod sender_auth;
