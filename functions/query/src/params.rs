//! Reading query strings and path parameters into checked values.
//!
//! Each endpoint documents its query parameters as `IntoParams` structs
//! (the OpenAPI document lists them); the same structs decide which names
//! are accepted here, so a parameter cannot be served without being
//! documented. A name that is not documented, or one given twice, is a 400
//! naming it: a typo such as `?day=3` must not silently mean the default.
//! Then each value is parsed into a type that cannot hold a bad one; a bad
//! value is a 400 naming the parameter and saying what is accepted.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use pact_runtime::contact::{CountryCode, PersonId};
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa::openapi::path::ParameterIn;

use crate::error::{Error, Result};
use crate::store;

/// Rows per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 100;
/// Most rows one page may hold.
pub const MAX_LIMIT: u32 = 1000;
/// The longest state name stored (the column's bound).
pub const MAX_STATE_CHARS: usize = 100;

/// The names of the query parameters a documented struct declares.
pub fn names<T: IntoParams>() -> Vec<String> {
    T::into_params(|| Some(ParameterIn::Query))
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// A query string whose names are all documented and given once.
#[derive(Debug, Clone, Copy)]
pub struct QueryString<'a>(&'a str);

impl<'a> QueryString<'a> {
    /// Checks the names in `raw` against the `documented` ones.
    pub fn check(raw: Option<&'a str>, documented: &[Vec<String>]) -> Result<Self> {
        let raw = raw.unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|e| Error::parameter("query", format!("is not a valid query string: {e}")))?;
        let accepted: BTreeSet<&str> = documented.iter().flatten().map(String::as_str).collect();
        let mut seen = BTreeSet::new();
        for (name, _) in &pairs {
            if !accepted.contains(name.as_str()) {
                let list = if accepted.is_empty() {
                    "this endpoint takes no query parameters".to_owned()
                } else {
                    format!(
                        "this endpoint takes {}",
                        accepted.iter().copied().collect::<Vec<_>>().join(", ")
                    )
                };
                return Err(Error::parameter(
                    name.clone(),
                    format!("is not a parameter of this endpoint; {list}"),
                ));
            }
            if !seen.insert(name.as_str()) {
                return Err(Error::parameter(name.clone(), "is given more than once"));
            }
        }
        Ok(Self(raw))
    }

    /// The raw values of one documented struct (all its fields are
    /// optional strings, so this only fails on a bug).
    pub fn read<T: DeserializeOwned>(self) -> Result<T> {
        serde_urlencoded::from_str(self.0)
            .map_err(|e| Error::parameter("query", format!("cannot be read: {e}")))
    }
}

/// An optional value: absent or empty (as an HTML form sends an empty
/// field) both mean "not given".
fn given(raw: Option<&str>) -> Option<&str> {
    raw.filter(|v| !v.is_empty())
}

/// `limit`: 1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
pub fn limit(raw: Option<&str>) -> Result<u32> {
    bounded("limit", raw, DEFAULT_LIMIT, 1..=MAX_LIMIT)
}

/// A whole number in `range`, or `default` when not given.
pub fn bounded(
    name: &'static str,
    raw: Option<&str>,
    default: u32,
    range: RangeInclusive<u32>,
) -> Result<u32> {
    let Some(raw) = given(raw) else {
        return Ok(default);
    };
    raw.parse()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            Error::parameter(
                name,
                format!(
                    "must be a whole number from {} to {}, got {raw:?}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

/// A person id from the path: a positive whole number.
pub fn person(raw: &str) -> Result<PersonId> {
    raw.parse::<i64>()
        .ok()
        .and_then(|n| PersonId::parse("mmid", n).ok())
        .ok_or_else(|| {
            Error::parameter(
                "mmid",
                format!("must be a person id, a positive whole number; got {raw:?}"),
            )
        })
}

/// An optional RFC 3339 time such as `2026-11-24T10:00:00Z`, clamped to
/// [`store::beginning`]..=[`store::end`]: an offset can carry a four-digit
/// year into year 0 or 10000, which SQLite's text form would misorder; no
/// row lies outside, so clamping changes no answer.
pub fn time(name: &'static str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>> {
    let Some(raw) = given(raw) else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(raw)
        .map(|t| {
            Some(
                t.with_timezone(&Utc)
                    .clamp(store::beginning(), store::end()),
            )
        })
        .map_err(|e| {
            let hint = if raw.contains(' ') {
                " (a + in a URL means a space: write the offset as Z, or encode + as %2B)"
            } else {
                ""
            };
            Error::parameter(
                name,
                format!(
                    "must be an RFC 3339 time such as 2026-11-24T10:00:00Z, got {raw:?}: {e}{hint}"
                ),
            )
        })
}

/// A state as the geocoders store it: a USPS code (`MN`) in the US, a
/// region's name elsewhere (`Île-de-France`, `Provence-Alpes-Côte d'Azur`).
/// Letters of any script, digits, spaces and the punctuation of GeoNames'
/// region names; at most [`MAX_STATE_CHARS`]. Matched exactly.
pub fn state(raw: Option<&str>) -> Result<String> {
    let name = "state";
    let value = given(raw.map(str::trim)).ok_or_else(|| {
        Error::parameter(
            name,
            "is required, e.g. state=MN (matched exactly, as stored)",
        )
    })?;
    if value.chars().count() > MAX_STATE_CHARS {
        return Err(Error::parameter(
            name,
            format!("must be at most {MAX_STATE_CHARS} characters"),
        ));
    }
    let acceptable = |c: char| {
        c.is_alphanumeric()
            || c == ' '
            || "-'.,/()&".contains(c)
            || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
    };
    if let Some(bad) = value.chars().find(|&c| !acceptable(c)) {
        return Err(Error::parameter(
            name,
            format!(
                "must be a state code or region name (letters, digits, spaces, - ' . , / ( ) &), \
                 not {bad:?}"
            ),
        ));
    }
    Ok(value.to_owned())
}

/// An ISO 3166-1 alpha-2 country code, in either case.
pub fn country(raw: Option<&str>) -> Result<CountryCode> {
    let value = given(raw).ok_or_else(|| {
        Error::parameter(
            "country",
            "is required, e.g. country=US (ISO 3166-1 alpha-2)",
        )
    })?;
    CountryCode::parse(value).map_err(|_| {
        Error::parameter(
            "country",
            format!("must be an ISO 3166-1 alpha-2 code such as US, got {value:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_query_string_is_read_or_rejected_without_panic(raw in ".*") {
            let documented = [vec!["state".to_owned(), "limit".to_owned()]];
            if let Ok(query) = QueryString::check(Some(&raw), &documented) {
                let _ = query.read::<Vec<(String, String)>>();
            }
            let _ = state(Some(&raw));
            let _ = limit(Some(&raw));
            let _ = time("since", Some(&raw));
            let _ = person(&raw);
        }
    }

    fn field(e: Error) -> String {
        match e {
            Error::Parameter { name, .. } => name,
            other => panic!("not a parameter error: {other:?}"),
        }
    }

    #[test]
    fn unknown_and_repeated_names_are_rejected_by_name() {
        let documented = [vec!["days".to_owned(), "depth".to_owned()]];
        assert!(QueryString::check(Some("days=3&depth=2"), &documented).is_ok());
        assert!(QueryString::check(None, &documented).is_ok());
        let err = QueryString::check(Some("days=3&day=2"), &documented).expect_err("unknown");
        assert!(err.to_string().contains("takes days, depth"), "{err}");
        assert_eq!(field(err), "day");
        let err = QueryString::check(Some("days=3&days=4"), &documented).expect_err("twice");
        assert_eq!(field(err), "days");
    }

    #[test]
    fn numbers_are_bounded() {
        assert_eq!(limit(None).expect("default"), DEFAULT_LIMIT);
        assert_eq!(limit(Some("")).expect("empty is default"), DEFAULT_LIMIT);
        assert_eq!(limit(Some("1000")).expect("max"), 1000);
        for bad in ["0", "1001", "-1", "ten", "1.5"] {
            assert_eq!(field(limit(Some(bad)).expect_err(bad)), "limit");
        }
    }

    #[test]
    fn person_ids_are_positive() {
        assert_eq!(person("7").expect("valid").get(), 7);
        for bad in ["0", "-3", "x", "99999999999999999999", ""] {
            assert_eq!(field(person(bad).expect_err(bad)), "mmid");
        }
    }

    #[test]
    fn states_are_codes_or_region_names() {
        for good in [
            "MN",
            "Île-de-France",
            "Provence-Alpes-Côte d'Azur",
            "Bavaria",
            "08",
        ] {
            assert_eq!(state(Some(good)).expect(good), good);
        }
        assert_eq!(state(Some(" MN ")).expect("trimmed"), "MN");
        for bad in ["", "MN;DROP", "<b>", "a\u{0}b", "x=1"] {
            assert_eq!(field(state(Some(bad)).expect_err(bad)), "state");
        }
        assert!(state(Some(&"a".repeat(101))).is_err());
        assert!(state(None).is_err());
    }

    #[test]
    fn times_are_rfc3339() {
        let t = time("since", Some("2026-11-24T10:00:00+01:00")).expect("valid");
        assert_eq!(
            t.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-24T09:00:00+00:00")
        );
        // Offsets past the years RFC 3339 can write are clamped, not carried over.
        let first = time("since", Some("0000-01-01T00:00:00+23:59")).expect("valid");
        assert_eq!(first, Some(store::beginning()));
        let last = time("until", Some("9999-12-31T23:59:59-23:59")).expect("valid");
        assert_eq!(last, Some(store::end()));
        let err = time("since", Some("2026-11-24T10:00:00 01:00")).expect_err("space");
        assert!(err.to_string().contains("%2B"), "{err}");
        assert_eq!(time("until", Some("")).expect("empty"), None);
    }
}
