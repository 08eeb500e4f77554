//! pact-translation's API tests over real sockets.

mod forms;
mod helpers;
mod pipeline;
