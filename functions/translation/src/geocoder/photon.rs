//! Photon's `/reverse` answer: a GeoJSON FeatureCollection, empty when
//! nothing is near; errors are `{"message":"..."}` with their status.

use reqwest::StatusCode;
use serde::Deserialize;

use super::provider::{Answer, Failure, address, street};

/// Komoot's public service ("fair use", throttled when abused).
pub const PUBLIC_URL: &str = "https://photon.komoot.io/";

#[derive(Deserialize)]
struct Collection {
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    #[serde(default)]
    properties: Properties,
}

#[derive(Deserialize, Default)]
struct Properties {
    housenumber: Option<String>,
    street: Option<String>,
    city: Option<String>,
    locality: Option<String>,
    district: Option<String>,
    state: Option<String>,
    postcode: Option<String>,
    countrycode: Option<String>,
}

/// Reads one answer (any status but 429 and 5xx).
pub fn read(status: StatusCode, body: &[u8]) -> Result<Answer, Failure> {
    if !status.is_success() {
        return Err(Failure::Rejected {
            status: status.as_u16(),
            reason: "bad request",
        });
    }
    let collection: Collection = serde_json::from_slice(body).map_err(|_| Failure::BadResponse)?;
    let Some(feature) = collection.features.into_iter().next() else {
        return Ok(Answer::NoResult);
    };
    let p = feature.properties;
    let city = p.city.or(p.locality).or(p.district).unwrap_or_default();
    Ok(Answer::Found(address(
        &street(p.housenumber.as_deref(), p.street.as_deref()),
        &city,
        // Photon has no state codes: the name ("Minnesota").
        p.state.as_deref().unwrap_or_default(),
        p.postcode.as_deref().unwrap_or_default(),
        p.countrycode.as_deref().unwrap_or_default(),
    )))
}
