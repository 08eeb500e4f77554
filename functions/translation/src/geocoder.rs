//! Reverse geocoding behind one small trait, so online providers (Nominatim,
//! Photon, MapQuest) can sit beside the embedded offline one.

mod breaker;
mod mapquest;
mod nominatim;
pub mod online;
mod photon;
pub mod provider;
pub mod settings;

use std::future::Future;

pub use online::Online;
pub use provider::Provider;
pub use settings::{Fallback, OnlineConfig, Secret};

use pact_runtime::contact::{Address, BoundedText, Coordinates, CountryCode, GeocoderName};
use pact_runtime::{Error, Result};

/// What a geocoder found for one point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The address; empty fields where nothing is known.
    pub address: Address,
    /// Which geocoder answered (`offline`, ...), or `none` when none did.
    pub geocoder: GeocoderName,
}

/// Turns coordinates into an address. Each call carries its own point and
/// answer: no state is shared between concurrent lookups, so an output event
/// always pairs the ids with the address of its own coordinates.
pub trait Geocoder: Send + Sync + 'static {
    /// Looks up one point. An `Err` is a transient failure (the provider is
    /// down): the request is answered 5xx and the source retries.
    fn reverse(&self, at: Coordinates) -> impl Future<Output = Result<Resolved>> + Send;

    /// Adds the geocoder's own metrics to the function's registry (called
    /// once, before the registry is shared).
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

/// The embedded offline geocoder (`PACT_GEOCODER=offline`): nearest US ZIP
/// area, or nearest GeoNames place elsewhere, from data compiled into the
/// binary. No network, no start-up cost, a lookup in about a microsecond.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offline;

impl Offline {
    /// The lookup itself, synchronous.
    pub fn lookup(at: Coordinates) -> Result<Resolved> {
        let Some(place) = pact_geocoder::reverse(at.lat(), at.lon()) else {
            return Ok(Resolved {
                address: Address::default(),
                geocoder: name("none")?,
            });
        };
        // The build checks the embedded data against these bounds, so a
        // failure here is a bug, not bad input.
        let text = |e: Error| Error::bug("embedded geodata out of bounds", e);
        Ok(Resolved {
            address: Address {
                street: BoundedText::default(),
                city: BoundedText::parse("city", place.city).map_err(text)?,
                state: BoundedText::parse("state", place.state).map_err(text)?,
                zipcode: BoundedText::parse("zipcode", place.zipcode).map_err(text)?,
                country: Some(CountryCode::parse(place.country).map_err(text)?),
            },
            geocoder: name("offline")?,
        })
    }
}

impl Geocoder for Offline {
    async fn reverse(&self, at: Coordinates) -> Result<Resolved> {
        Self::lookup(at)
    }
}

fn name(value: &str) -> Result<GeocoderName> {
    BoundedText::parse("geocoder", value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downtown_minneapolis_and_the_open_sea() {
        let downtown =
            Offline::lookup(Coordinates::parse(44.9778, -93.2650).expect("valid")).expect("lookup");
        assert_eq!(downtown.address.city.as_str(), "Minneapolis");
        assert_eq!(downtown.address.state.as_str(), "MN");
        assert!(downtown.address.zipcode.as_str().starts_with("554"));
        assert_eq!(downtown.geocoder.as_str(), "offline");
        let sea = Offline::lookup(Coordinates::parse(30.0, -40.0).expect("valid")).expect("lookup");
        assert_eq!(sea.address, Address::default());
        assert_eq!(sea.geocoder.as_str(), "none");
    }
}
