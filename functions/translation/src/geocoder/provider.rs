//! What the online providers share: which one, where its reverse endpoint
//! is, what one answer means, and the ways a lookup can fail. Each provider's
//! own module reads its response shape (`../shared` fixtures, tests/fixtures).

use std::time::Duration;

use pact_runtime::contact::{Address, BoundedText, Coordinates, CountryCode};
use reqwest::{StatusCode, Url};

use super::{mapquest, nominatim, photon};

/// An online reverse geocoder (`PACT_GEOCODER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// OpenStreetMap's Nominatim (`/reverse?format=jsonv2`).
    Nominatim,
    /// Komoot's Photon (`/reverse`, GeoJSON).
    Photon,
    /// MapQuest's Geocoding API (`/geocoding/v1/reverse`), the original demo's.
    Mapquest,
}

impl Provider {
    /// The `geocoder` field value and metrics label.
    pub fn name(self) -> &'static str {
        match self {
            Self::Nominatim => "nominatim",
            Self::Photon => "photon",
            Self::Mapquest => "mapquest",
        }
    }

    /// The provider's public service, used when `PACT_GEOCODER_URL` is unset.
    pub fn public_url(self) -> &'static str {
        match self {
            Self::Nominatim => nominatim::PUBLIC_URL,
            Self::Photon => photon::PUBLIC_URL,
            Self::Mapquest => mapquest::PUBLIC_URL,
        }
    }

    /// The reverse-lookup URL for `at` under `base` (a URL whose path ends
    /// with `/`). The MapQuest key goes into the query: redact it with
    /// [`redact`] before the URL reaches a log or an error.
    pub fn url(self, base: &Url, at: Coordinates, key: Option<&str>) -> Url {
        let (path, pairs): (&str, Vec<(&str, String)>) = match self {
            Self::Nominatim => (
                "reverse",
                vec![
                    ("format", "jsonv2".into()),
                    ("lat", at.lat().to_string()),
                    ("lon", at.lon().to_string()),
                    ("zoom", "18".into()),
                    ("addressdetails", "1".into()),
                ],
            ),
            Self::Photon => (
                "reverse",
                vec![("lat", at.lat().to_string()), ("lon", at.lon().to_string())],
            ),
            Self::Mapquest => (
                "geocoding/v1/reverse",
                vec![
                    ("key", key.unwrap_or_default().to_owned()),
                    ("location", format!("{},{}", at.lat(), at.lon())),
                    ("thumbMaps", "false".into()),
                ],
            ),
        };
        let mut url = base.join(path).unwrap_or_else(|_| base.clone());
        url.query_pairs_mut().extend_pairs(pairs);
        url
    }

    /// Reads an answer that is neither a 429 nor a 5xx (those are handled
    /// alike for every provider).
    pub fn read(self, status: StatusCode, body: &[u8]) -> Result<Answer, Failure> {
        match self {
            Self::Nominatim => nominatim::read(status, body),
            Self::Photon => photon::read(status, body),
            Self::Mapquest => mapquest::read(status, body),
        }
    }
}

/// What a provider said about one point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An address (fields it does not know are empty).
    Found(Address),
    /// Nothing there (open sea, or no data): not an error.
    NoResult,
}

/// Why a provider gave no usable answer. The texts never hold the request
/// URL (it may carry a key) nor the provider's body verbatim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// No answer within the lookup's time budget.
    #[error("the geocoder did not answer in time")]
    Timeout,
    /// Connection refused, reset, DNS...
    #[error("the geocoder could not be reached")]
    Unreachable,
    /// The provider answered 429 Too Many Requests.
    #[error("the geocoder is rate limiting this client (HTTP 429)")]
    RateLimited {
        /// Its `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// This function's own rate limit toward the provider is used up.
    #[error("the client-side rate limit toward the geocoder is reached")]
    Throttled {
        /// When the next request is allowed.
        wait: Duration,
    },
    /// The provider answered 5xx.
    #[error("the geocoder failed (HTTP {status})")]
    Server {
        /// The HTTP status.
        status: u16,
    },
    /// The provider refused the request: a bad key (403) or a request it
    /// cannot read (400). Retrying the same request does not help.
    #[error("the geocoder refused the request ({status}: {reason})")]
    Rejected {
        /// The HTTP status, or the status code inside the body.
        status: u16,
        /// A short fixed reason.
        reason: &'static str,
    },
    /// A 2xx whose body is not the provider's format.
    #[error("the geocoder's answer could not be read")]
    BadResponse,
    /// A 3xx. Redirects are not followed: they could send the request, with
    /// the contact's coordinates, to a host nobody configured.
    #[error(
        "the geocoder answered with a redirect (HTTP {status}), which is not followed; check PACT_GEOCODER_URL"
    )]
    Redirected {
        /// The HTTP status.
        status: u16,
    },
    /// The circuit breaker is open after repeated failures.
    #[error("the geocoder is not called for a while after repeated failures")]
    CircuitOpen {
        /// When the breaker lets a probe through.
        retry_after: Duration,
    },
}

impl Failure {
    /// A metrics label from a fixed set.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::RateLimited { .. } => "rate_limited",
            Self::Throttled { .. } => "throttled",
            Self::Server { .. } => "server_error",
            Self::Rejected { .. } => "rejected",
            Self::BadResponse => "bad_response",
            Self::Redirected { .. } => "redirected",
            Self::CircuitOpen { .. } => "circuit_open",
        }
    }

    /// Whether another attempt at the same request may succeed now.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::Unreachable | Self::Server { .. }
        )
    }

    /// Whether it says something about the provider's health (the circuit
    /// breaker counts these); our own limits do not.
    pub fn counts_against_provider(&self) -> bool {
        !matches!(self, Self::Throttled { .. } | Self::CircuitOpen { .. })
    }
}

/// Builds an address from provider text, fitted to the contract's bounds:
/// control characters dropped, over-long text cut at a character boundary,
/// a country that is not an ISO alpha-2 code left unknown. A provider's
/// oddity never becomes an error for the event.
pub fn address(street: &str, city: &str, state: &str, zipcode: &str, country: &str) -> Address {
    Address {
        street: fit(street),
        city: fit(city),
        state: fit(state),
        zipcode: fit(zipcode),
        country: CountryCode::parse(country).ok(),
    }
}

fn fit<const MAX: usize>(raw: &str) -> BoundedText<MAX> {
    let clean: String = raw
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX)
        .collect();
    BoundedText::parse("address", &clean).unwrap_or_default()
}

/// `house_number road`, or whichever of the two is known.
pub fn street(number: Option<&str>, road: Option<&str>) -> String {
    match (number.map(str::trim), road.map(str::trim)) {
        (Some(n), Some(r)) if !n.is_empty() && !r.is_empty() => format!("{n} {r}"),
        (_, Some(r)) => r.to_owned(),
        _ => String::new(),
    }
}

/// The URL as it may appear in logs and errors: the `key` parameter's value
/// replaced by `***`.
pub fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k.eq_ignore_ascii_case("key") {
                "***".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if pairs.is_empty() {
        return shown.to_string();
    }
    shown.query_pairs_mut().clear().extend_pairs(pairs);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_redacted_from_urls() {
        let base = Url::parse("https://www.mapquestapi.com/").expect("url");
        let at = Coordinates::parse(44.9778, -93.265).expect("valid");
        let url = Provider::Mapquest.url(&base, at, Some("s3cr3t-KEY"));
        assert!(url.as_str().contains("key=s3cr3t-KEY"), "{url}");
        let shown = redact(&url);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(
            shown.contains("key=***") || shown.contains("key=%2A%2A%2A"),
            "{shown}"
        );
        assert!(shown.contains("location=44.9778%2C-93.265"), "{shown}");
    }

    #[test]
    fn urls_keep_a_base_path() {
        let base = Url::parse("http://127.0.0.1:8088/nominatim/").expect("url");
        let at = Coordinates::parse(1.5, -2.25).expect("valid");
        let url = Provider::Nominatim.url(&base, at, None);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8088/nominatim/reverse?format=jsonv2&lat=1.5&lon=-2.25&zoom=18&addressdetails=1"
        );
    }

    #[test]
    fn provider_text_is_fitted_not_rejected() {
        let long = "x".repeat(500);
        let a = address(
            &long,
            "Min\u{7}neapolis",
            "MN",
            "55415-2215-99999999",
            "USA",
        );
        assert_eq!(a.street.as_str().chars().count(), 200);
        assert_eq!(a.city.as_str(), "Minneapolis");
        assert_eq!(a.zipcode.as_str().len(), 16);
        assert_eq!(a.country, None);
        assert_eq!(street(Some("350"), Some("S 4th St")), "350 S 4th St");
        assert_eq!(street(None, Some("S 4th St")), "S 4th St");
        assert_eq!(street(Some("350"), None), "");
    }
}
