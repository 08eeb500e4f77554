//! The online geocoders' settings (`PACT_GEOCODER_*`), read with the rest of
//! pact-translation's so every bad value is reported at once.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use pact_runtime::config::{Env, EnvReader};
use reqwest::Url;

use super::nominatim;
use super::provider::Provider;
use crate::{
    PACT_GEOCODER_BREAKER_FAILURES, PACT_GEOCODER_BREAKER_OPEN_MS, PACT_GEOCODER_CACHE_PRECISION,
    PACT_GEOCODER_CACHE_SIZE, PACT_GEOCODER_CACHE_TTL_S, PACT_GEOCODER_CONTACT,
    PACT_GEOCODER_FALLBACK, PACT_GEOCODER_KEY, PACT_GEOCODER_RATE, PACT_GEOCODER_RETRIES,
    PACT_GEOCODER_TIMEOUT_MS, PACT_GEOCODER_URL,
};

/// Default for [`PACT_GEOCODER_TIMEOUT_MS`]: one lookup, retries included.
pub const DEFAULT_TIMEOUT_MS: u64 = 1_000;
/// Default for [`PACT_GEOCODER_RETRIES`].
pub const DEFAULT_RETRIES: u32 = 1;
/// Default for [`PACT_GEOCODER_RATE`], requests per second; the public
/// Nominatim service allows 1 and is never sent more.
pub const DEFAULT_RATE: u32 = 10;
/// Default for [`PACT_GEOCODER_CACHE_SIZE`], entries (a few hundred bytes each).
pub const DEFAULT_CACHE_SIZE: u64 = 10_000;
/// Default for [`PACT_GEOCODER_CACHE_TTL_S`]: a day; addresses rarely move.
pub const DEFAULT_CACHE_TTL_S: u64 = 86_400;
/// Default for [`PACT_GEOCODER_CACHE_PRECISION`]: 4 decimals, about 11 m of latitude.
pub const DEFAULT_CACHE_PRECISION: u8 = 4;
/// Default for [`PACT_GEOCODER_BREAKER_FAILURES`].
pub const DEFAULT_BREAKER_FAILURES: u32 = 5;
/// Default for [`PACT_GEOCODER_BREAKER_OPEN_MS`].
pub const DEFAULT_BREAKER_OPEN_MS: u64 = 30_000;
/// Largest [`PACT_GEOCODER_TIMEOUT_MS`]: a minute, already twice the default
/// request timeout.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Largest [`PACT_GEOCODER_CACHE_TTL_S`]: 30 days (the cache refuses
/// lifetimes beyond 1,000 years with a panic).
pub const MAX_CACHE_TTL_S: u64 = 30 * 86_400;
/// Largest [`PACT_GEOCODER_BREAKER_OPEN_MS`]: the breaker's own cap.
pub const MAX_BREAKER_OPEN_MS: u64 = 3_600_000;

/// A value that never prints: `***` in `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What happens when the provider gives no answer (`PACT_GEOCODER_FALLBACK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fallback {
    /// Answer from the embedded offline geocoder (`"geocoder":"offline"`).
    #[default]
    Offline,
    /// Answer 503 with `Retry-After`: the event source retries later.
    None,
}

/// An online geocoder's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineConfig {
    /// Which provider.
    pub provider: Provider,
    /// Its base URL, path ending with `/`.
    pub url: Url,
    /// The MapQuest key; never logged.
    pub key: Option<Secret>,
    /// Who to contact about this client, sent in the `User-Agent`.
    pub contact: Option<String>,
    /// Time budget of one lookup, retries included.
    pub timeout: Duration,
    /// Extra attempts after a 5xx, a timeout or a connection failure.
    pub retries: u32,
    /// Requests per second sent to the provider at most.
    pub rate: NonZeroU32,
    /// Cache entries at most (0: no cache; identical lookups in flight are
    /// still coalesced).
    pub cache_size: u64,
    /// How long a cached answer is used.
    pub cache_ttl: Duration,
    /// Decimals the coordinates are rounded to, for the cache and the request.
    pub precision: u8,
    /// Consecutive failures that open the circuit.
    pub breaker_failures: u32,
    /// How long an open circuit stays open before one probe is let through.
    pub breaker_open: Duration,
    /// What to do without an answer.
    pub fallback: Fallback,
}

impl OnlineConfig {
    /// The defaults for `provider` at its public service.
    pub fn new(provider: Provider) -> Self {
        // A constant, checked by a test below.
        let url = Url::parse(provider.public_url()).expect("the public URLs are valid");
        Self {
            rate: default_rate(provider, &url),
            provider,
            url,
            key: None,
            contact: None,
            timeout: Duration::from_millis(DEFAULT_TIMEOUT_MS),
            retries: DEFAULT_RETRIES,
            cache_size: DEFAULT_CACHE_SIZE,
            cache_ttl: Duration::from_secs(DEFAULT_CACHE_TTL_S),
            precision: DEFAULT_CACHE_PRECISION,
            breaker_failures: DEFAULT_BREAKER_FAILURES,
            breaker_open: Duration::from_millis(DEFAULT_BREAKER_OPEN_MS),
            fallback: Fallback::Offline,
        }
    }

    /// Reads the `PACT_GEOCODER_*` settings for `provider`.
    pub fn read<E: Env + ?Sized>(r: &mut EnvReader<'_, E>, provider: Provider) -> Self {
        let mut c = Self::new(provider);
        if let Some(url) = r.parse_with(
            PACT_GEOCODER_URL,
            "an absolute http:// or https:// URL such as http://127.0.0.1:8088/",
            |v| {
                Url::parse(v.trim())
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                    .filter(|u| u.query().is_none())
            },
        ) {
            c.url = with_trailing_slash(url);
        }
        c.key = r.raw(PACT_GEOCODER_KEY).map(|k| Secret::new(k.trim()));
        if provider == Provider::Mapquest && c.key.is_none() {
            r.reject(
                PACT_GEOCODER_KEY,
                String::new(),
                "a MapQuest key is required with PACT_GEOCODER=mapquest (from a Secret, never from git)",
            );
        }
        c.contact = r.parse_with(
            PACT_GEOCODER_CONTACT,
            "an e-mail address or URL, printable ASCII without spaces",
            |v| {
                let v = v.trim();
                (v.len() <= 200 && v.bytes().all(|b| b.is_ascii_graphic())).then(|| v.to_owned())
            },
        );
        let public_nominatim = is_public_nominatim(provider, &c.url);
        if public_nominatim && c.contact.is_none() {
            r.reject(
                PACT_GEOCODER_CONTACT,
                String::new(),
                "an e-mail address or URL is required for the public Nominatim service, whose usage policy asks for a contact in the User-Agent",
            );
        }
        // Time values are bounded, so no `Instant + Duration` can overflow.
        c.timeout = r.millis(PACT_GEOCODER_TIMEOUT_MS, c.timeout, 1..=MAX_TIMEOUT_MS);
        c.retries = r
            .parse_with(PACT_GEOCODER_RETRIES, "a whole number from 0 to 5", |v| {
                v.trim().parse().ok().filter(|n| *n <= 5)
            })
            .unwrap_or(c.retries);
        c.rate = default_rate(provider, &c.url);
        let most = if public_nominatim { 1 } else { 10_000 };
        let expected = if public_nominatim {
            "1: the public Nominatim service allows at most 1 request per second".to_owned()
        } else {
            format!("requests per second, a whole number from 1 to {most}")
        };
        if let Some(rate) = r.parse_with(PACT_GEOCODER_RATE, &expected, |v| {
            v.trim()
                .parse()
                .ok()
                .filter(|n| (1..=most).contains(n))
                .and_then(NonZeroU32::new)
        }) {
            c.rate = rate;
        }
        c.cache_size = r.parse_or(
            PACT_GEOCODER_CACHE_SIZE,
            c.cache_size,
            "a whole number of entries (0: no cache)",
        );
        c.cache_ttl = r.seconds(PACT_GEOCODER_CACHE_TTL_S, c.cache_ttl, 1..=MAX_CACHE_TTL_S);
        c.precision = r
            .parse_with(
                PACT_GEOCODER_CACHE_PRECISION,
                "decimals from 0 to 6 (4 is about 11 m)",
                |v| v.trim().parse().ok().filter(|p| *p <= 6),
            )
            .unwrap_or(c.precision);
        c.breaker_failures = r
            .parse_with(
                PACT_GEOCODER_BREAKER_FAILURES,
                "a whole number from 1 to 1000",
                |v| v.trim().parse().ok().filter(|n| (1..=1000).contains(n)),
            )
            .unwrap_or(c.breaker_failures);
        c.breaker_open = r.millis(
            PACT_GEOCODER_BREAKER_OPEN_MS,
            c.breaker_open,
            1..=MAX_BREAKER_OPEN_MS,
        );
        c.fallback = r
            .parse_with(PACT_GEOCODER_FALLBACK, "offline or none", |v| {
                match v.trim().to_ascii_lowercase().as_str() {
                    "offline" => Some(Fallback::Offline),
                    "none" => Some(Fallback::None),
                    _ => None,
                }
            })
            .unwrap_or_default();
        c
    }

    /// The `User-Agent` sent to the provider: PACT and the contact.
    pub fn user_agent(&self) -> String {
        let version = env!("CARGO_PKG_VERSION");
        match &self.contact {
            Some(contact) => {
                format!("pact-translation/{version} (PACT contact tracing; {contact})")
            }
            None => format!("pact-translation/{version} (PACT contact tracing)"),
        }
    }
}

/// The public Nominatim host, whose policy caps clients at 1 request/s.
fn is_public_nominatim(provider: Provider, url: &Url) -> bool {
    let public = Url::parse(nominatim::PUBLIC_URL).ok();
    provider == Provider::Nominatim && url.host_str() == public.as_ref().and_then(Url::host_str)
}

fn default_rate(provider: Provider, url: &Url) -> NonZeroU32 {
    let rate = if is_public_nominatim(provider, url) {
        1
    } else {
        DEFAULT_RATE
    };
    NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN)
}

/// `Url::join` replaces the last path segment unless the path ends with `/`.
fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(pairs: &[(&str, &str)], provider: Provider) -> Result<OnlineConfig, String> {
        let env: HashMap<&str, &str> = pairs.iter().copied().collect();
        let mut r = EnvReader::new(&env);
        let config = OnlineConfig::read(&mut r, provider);
        r.finish().map(|_| config).map_err(|e| e.to_string())
    }

    #[test]
    fn public_services_have_valid_urls_and_defaults() {
        for provider in [Provider::Nominatim, Provider::Photon, Provider::Mapquest] {
            let c = OnlineConfig::new(provider);
            assert!(c.url.path().ends_with('/'), "{provider:?}");
        }
        assert_eq!(OnlineConfig::new(Provider::Nominatim).rate.get(), 1);
        assert_eq!(OnlineConfig::new(Provider::Photon).rate.get(), DEFAULT_RATE);
    }

    #[test]
    fn the_public_nominatim_needs_a_contact_and_gets_1_per_second() {
        let err = read(&[("PACT_GEOCODER_RATE", "5")], Provider::Nominatim).expect_err("bad");
        assert!(err.contains("PACT_GEOCODER_CONTACT"), "{err}");
        assert!(
            err.contains("PACT_GEOCODER_RATE=\"5\": 1: the public Nominatim"),
            "{err}"
        );
        let c = read(
            &[("PACT_GEOCODER_CONTACT", "ops@example.org")],
            Provider::Nominatim,
        )
        .expect("valid");
        assert_eq!(c.rate.get(), 1);
        assert!(
            c.user_agent().contains("ops@example.org"),
            "{}",
            c.user_agent()
        );
        assert!(c.user_agent().starts_with("pact-translation/"));
        // A self-hosted Nominatim has neither rule.
        let own = read(
            &[
                ("PACT_GEOCODER_URL", "http://127.0.0.1:8088/nominatim"),
                ("PACT_GEOCODER_RATE", "50"),
            ],
            Provider::Nominatim,
        )
        .expect("valid");
        assert_eq!(own.rate.get(), 50);
        assert_eq!(own.url.as_str(), "http://127.0.0.1:8088/nominatim/");
    }

    #[test]
    fn mapquest_needs_a_key_that_never_prints() {
        let err = read(&[], Provider::Mapquest).expect_err("no key");
        assert!(err.contains("PACT_GEOCODER_KEY"), "{err}");
        let c = read(&[("PACT_GEOCODER_KEY", "s3cr3t")], Provider::Mapquest).expect("valid");
        assert_eq!(c.key.as_ref().map(Secret::expose), Some("s3cr3t"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn time_values_are_bounded() {
        let huge = "18446744073709551615";
        let err = read(
            &[
                ("PACT_GEOCODER_TIMEOUT_MS", huge),
                ("PACT_GEOCODER_CACHE_TTL_S", huge),
                ("PACT_GEOCODER_BREAKER_OPEN_MS", "3600001"),
            ],
            Provider::Photon,
        )
        .expect_err("too long");
        for expected in [
            "PACT_GEOCODER_TIMEOUT_MS=\"18446744073709551615\": a whole number of milliseconds from 1 to 60000",
            "PACT_GEOCODER_CACHE_TTL_S=\"18446744073709551615\": a whole number of seconds from 1 to 2592000",
            "PACT_GEOCODER_BREAKER_OPEN_MS=\"3600001\"",
        ] {
            assert!(err.contains(expected), "{expected} in {err}");
        }
        let c = read(
            &[
                ("PACT_GEOCODER_TIMEOUT_MS", "60000"),
                ("PACT_GEOCODER_CACHE_TTL_S", "2592000"),
                ("PACT_GEOCODER_BREAKER_OPEN_MS", "3600000"),
            ],
            Provider::Photon,
        )
        .expect("the largest values");
        assert_eq!(c.timeout, Duration::from_secs(60));
        assert_eq!(c.cache_ttl, Duration::from_secs(2_592_000));
        assert_eq!(c.breaker_open, Duration::from_secs(3_600));
    }

    #[test]
    fn every_bad_value_is_reported_together() {
        let err = read(
            &[
                ("PACT_GEOCODER_URL", "ftp://x"),
                ("PACT_GEOCODER_TIMEOUT_MS", "0"),
                ("PACT_GEOCODER_RETRIES", "9"),
                ("PACT_GEOCODER_CACHE_PRECISION", "8"),
                ("PACT_GEOCODER_FALLBACK", "google"),
                ("PACT_GEOCODER_BREAKER_FAILURES", "0"),
            ],
            Provider::Photon,
        )
        .expect_err("bad");
        for name in [
            "PACT_GEOCODER_URL",
            "PACT_GEOCODER_TIMEOUT_MS",
            "PACT_GEOCODER_RETRIES",
            "PACT_GEOCODER_CACHE_PRECISION",
            "PACT_GEOCODER_FALLBACK=\"google\": offline or none",
            "PACT_GEOCODER_BREAKER_FAILURES",
        ] {
            assert!(err.contains(name), "{name} in {err}");
        }
    }
}
