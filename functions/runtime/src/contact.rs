//! The contact domain: validated types that cannot hold a bad value.
//!
//! Input lands in the wire DTOs of [`crate::wire`]; one `TryFrom` turns it into
//! these types, and nothing past that boundary sees raw input.

use std::fmt;

use chrono::{DateTime, Duration as TimeDelta, SecondsFormat, Utc};

use crate::error::Error;

/// How far in the future an `observed_at` may be (clock skew of phones).
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// A person's id. Positive by contract; the partition key relies on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersonId(i64);

impl PersonId {
    /// Accepts positive integers only.
    pub fn parse(field: &str, raw: i64) -> Result<Self, Error> {
        if raw > 0 {
            Ok(Self(raw))
        } else {
            Err(Error::invalid(
                field,
                format!("must be a positive integer, got {raw}"),
            ))
        }
    }

    /// The id as stored and sent.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// Two different people who met, in the order they were reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContactPair {
    first: PersonId,
    second: PersonId,
}

impl ContactPair {
    /// Rejects a person meeting themselves.
    pub fn new(first: PersonId, second: PersonId) -> Result<Self, Error> {
        if first == second {
            return Err(Error::invalid(
                "mmid2",
                "must differ from mmid1: a contact is between two people",
            ));
        }
        Ok(Self { first, second })
    }

    /// `mmid1` as reported.
    pub fn first(self) -> PersonId {
        self.first
    }

    /// `mmid2` as reported.
    pub fn second(self) -> PersonId {
        self.second
    }

    /// The unordered pair, `"1-2"` for both (1, 2) and (2, 1), so a KafkaSink
    /// keys every event of one pair to the same partition.
    pub fn partition_key(self) -> String {
        let (low, high) = if self.first < self.second {
            (self.first, self.second)
        } else {
            (self.second, self.first)
        };
        format!("{}-{}", low.0, high.0)
    }
}

/// A point on Earth in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    lat: f64,
    lon: f64,
}

impl Coordinates {
    /// Accepts finite latitudes in [-90, 90] and longitudes in [-180, 180].
    pub fn parse(lat: f64, lon: f64) -> Result<Self, Error> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(Error::invalid(
                "lat",
                format!("must be a number in [-90, 90], got {lat}"),
            ));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(Error::invalid(
                "lon",
                format!("must be a number in [-180, 180], got {lon}"),
            ));
        }
        Ok(Self { lat, lon })
    }

    /// Latitude in degrees.
    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Longitude in degrees.
    pub fn lon(self) -> f64 {
        self.lon
    }
}

/// When the contact happened: not more than [`MAX_CLOCK_SKEW`] in the future,
/// and not before 1970 (a phone clock that lost its time, or a hostile
/// value such as year 0, which no query window would ever hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObservedAt(DateTime<Utc>);

impl ObservedAt {
    /// Parses an RFC 3339 timestamp; `now` is passed in so tests fix the clock.
    pub fn parse(raw: &str, now: DateTime<Utc>) -> Result<Self, Error> {
        let at = DateTime::parse_from_rfc3339(raw.trim()).map_err(|e| {
            Error::invalid(
                "observed_at",
                format!("must be an RFC 3339 timestamp such as 2026-11-24T10:00:00Z ({e})"),
            )
        })?;
        Self::new(at.with_timezone(&Utc), now)
    }

    /// Checks a time that is already parsed (a CloudEvent `time`).
    pub fn new(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<Self, Error> {
        if at < DateTime::UNIX_EPOCH {
            return Err(Error::invalid(
                "observed_at",
                "is before 1970-01-01T00:00:00Z; a contact needs a time from a set clock",
            ));
        }
        if at > now + MAX_CLOCK_SKEW {
            return Err(Error::invalid(
                "observed_at",
                format!(
                    "is more than {} minutes in the future ({})",
                    MAX_CLOCK_SKEW.num_minutes(),
                    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                ),
            ));
        }
        Ok(Self(at))
    }

    /// The instant.
    pub fn get(self) -> DateTime<Utc> {
        self.0
    }
}

impl fmt::Display for ObservedAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

/// Text of at most `MAX` characters, never silently truncated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BoundedText<const MAX: usize>(String);

impl<const MAX: usize> BoundedText<MAX> {
    /// Trims surrounding whitespace and rejects longer text or control characters.
    pub fn parse(field: &str, raw: &str) -> Result<Self, Error> {
        let text = raw.trim();
        let chars = text.chars().count();
        if chars > MAX {
            return Err(Error::invalid(
                field,
                format!("is {chars} characters long; at most {MAX} are accepted"),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(Error::invalid(field, "must not contain control characters"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case (`"US"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Accepts two ASCII letters, in either case.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        match raw.trim().as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                Ok(Self([a.to_ascii_uppercase(), b.to_ascii_uppercase()]))
            }
            _ => Err(Error::invalid(
                "country",
                format!("must be an ISO 3166-1 alpha-2 code such as US, got {raw:?}"),
            )),
        }
    }

    /// The code, upper case.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// An untranslated contact: who met whom, where and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// Who met.
    pub pair: ContactPair,
    /// Where.
    pub at: Coordinates,
    /// When.
    pub observed_at: ObservedAt,
}

/// The address a geocoder found. Empty fields mean "not known".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// Street and house number.
    pub street: BoundedText<200>,
    /// City, town or village.
    pub city: BoundedText<100>,
    /// State code in the US (`MN`); region name elsewhere.
    pub state: BoundedText<100>,
    /// Postal code.
    pub zipcode: BoundedText<16>,
    /// Country; `None` when no place is near (open sea).
    pub country: Option<CountryCode>,
}

/// Which geocoder answered (`offline`, `nominatim`, `none`, ...).
pub type GeocoderName = BoundedText<32>;

/// A translated contact. The original CSV line carries no coordinates, so
/// they are optional here.
#[derive(Debug, Clone, PartialEq)]
pub struct TranslatedContact {
    /// Who met.
    pub pair: ContactPair,
    /// Where, when known.
    pub at: Option<Coordinates>,
    /// When.
    pub observed_at: ObservedAt,
    /// The address of `at`.
    pub address: Address,
    /// Which geocoder answered.
    pub geocoder: GeocoderName,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-24T10:00:00Z".parse().expect("valid")
    }

    #[test]
    fn partition_key_is_symmetric() {
        let one = PersonId::parse("mmid1", 1).expect("positive");
        let two = PersonId::parse("mmid2", 2).expect("positive");
        let forth = ContactPair::new(one, two).expect("distinct");
        let back = ContactPair::new(two, one).expect("distinct");
        assert_eq!(forth.partition_key(), "1-2");
        assert_eq!(back.partition_key(), "1-2");
    }

    #[test]
    fn rejects_what_the_contract_forbids() {
        assert!(PersonId::parse("mmid1", 0).is_err());
        assert!(PersonId::parse("mmid1", -5).is_err());
        let one = PersonId::parse("mmid1", 1).expect("positive");
        assert!(ContactPair::new(one, one).is_err());
        assert!(Coordinates::parse(90.000_001, 0.0).is_err());
        assert!(Coordinates::parse(0.0, -180.1).is_err());
        assert!(Coordinates::parse(f64::NAN, 0.0).is_err());
        assert!(Coordinates::parse(0.0, f64::INFINITY).is_err());
        assert!(Coordinates::parse(-90.0, 180.0).is_ok());
        assert!(BoundedText::<3>::parse("zipcode", "1234").is_err());
        assert!(BoundedText::<3>::parse("zipcode", "a\u{7}b").is_err());
        assert_eq!(
            BoundedText::<3>::parse("city", " äöü ")
                .expect("3 chars")
                .as_str(),
            "äöü"
        );
        assert!(CountryCode::parse("USA").is_err());
        assert!(CountryCode::parse("1A").is_err());
        assert_eq!(CountryCode::parse("us").expect("letters").as_str(), "US");
    }

    #[test]
    fn observed_at_allows_small_clock_skew_only() {
        assert!(ObservedAt::parse("2026-11-24T10:04:59Z", now()).is_ok());
        assert!(ObservedAt::parse("2026-11-24T10:05:01Z", now()).is_err());
        assert!(ObservedAt::parse("2026-11-24 10:00", now()).is_err());
        let zoned = ObservedAt::parse("2026-11-24T04:00:00-06:00", now()).expect("valid");
        assert_eq!(zoned.to_string(), "2026-11-24T10:00:00Z");
    }

    #[test]
    fn observed_at_is_not_before_1970() {
        assert!(ObservedAt::parse("1970-01-01T00:00:00Z", now()).is_ok());
        for bad in ["1969-12-31T23:59:59Z", "0000-01-01T00:00:00Z"] {
            let e = ObservedAt::parse(bad, now()).expect_err(bad);
            assert!(
                matches!(e, Error::Invalid { ref field, .. } if field == "observed_at"),
                "{bad}"
            );
        }
    }
}
