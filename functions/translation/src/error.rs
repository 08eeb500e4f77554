//! pact-translation's errors are the runtime's: bad input (400, 413, 415,
//! 422), a geocoder or sink that fails (502, 503, 504), and bugs (500,
//! with their source). The geocoders answer in them too, so a failure is
//! answered and logged once, by `pact_runtime::Error`'s `IntoResponse`.

pub use pact_runtime::{Error, Result};
