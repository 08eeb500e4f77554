//! pact-producer's errors are the runtime's: bad input (400, 413, 415,
//! 422), a sink that still fails after retries (503), and bugs (500, with
//! their source). It adds none of its own: everything it does (reading,
//! validating, emitting) is the runtime's, and an error of the runtime's is
//! answered and logged once by `pact_runtime::Error`'s `IntoResponse`.

pub use pact_runtime::{Error, Result};
