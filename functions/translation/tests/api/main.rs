//! pact-translation's API tests over real sockets.

mod fake;
mod forms;
mod helpers;
mod online;
mod pipeline;
mod providers;
mod secrets;
