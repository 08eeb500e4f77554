//! Opaque page cursors (keyset pagination) that cannot widen a query.
//!
//! A cursor names the last row of a page by its sort key, so the next page
//! starts right after it: no row is skipped or repeated when rows are added
//! meanwhile, and no page costs more than the first (no `OFFSET`).
//!
//! Cursors are not signed: there is no key to share between instances,
//! rotate or lose on a restart. They are made harmless instead.
//!
//! - **Bound**: a cursor carries a fingerprint of the query it was issued
//!   for — endpoint, person, every parameter (`limit` included) as read,
//!   defaults applied — so a cursor replayed with other parameters is a 400
//!   rather than a page of another query.
//! - **Checked against the query's window**: what a cursor carries is only
//!   a position inside the query's own window, and the position is checked
//!   against that window on every page (see [`row_id`], [`contact_position`],
//!   [`exposure_position`]). A made-up cursor with the right fingerprint can
//!   at most skip rows of the query it names; it never shows a row the query
//!   without a cursor would not.
//! - **The one carried time**, an exposure window's start (so that the pages
//!   of one answer fit together), is accepted only within
//!   [`EXPOSURE_CURSOR_LIFETIME`] of `now - days`: whatever a forged start
//!   shows, the same query asked at most that long ago showed too.
//!
//! Wire form: base64url without padding of `p2:<fingerprint>:<key>:<key>…`.
//! Clients must treat it as opaque; the form may change.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{Error, Result};

/// The query parameter's name.
pub const CURSOR: &str = "cursor";
/// Version tag of the wire form (`p1` cursors did not bind `limit`).
const VERSION: &str = "p2";
/// Longest cursor text read (a real one is well under 100 characters).
const MAX_CURSOR_CHARS: usize = 200;
/// How long an exposures cursor is accepted after its first page: also the
/// most a made-up cursor can move the window's start before `now - days`.
pub const EXPOSURE_CURSOR_LIFETIME: TimeDelta = TimeDelta::minutes(15);
/// Clock difference tolerated between the instance that issued an exposures
/// cursor and the one that reads it.
pub const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(1);

/// What a cursor belongs to: an endpoint and the parameters of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope(u64);

impl Scope {
    /// The scope of `endpoint` with these parameter values (in a fixed order).
    pub fn new(endpoint: &str, parameters: &[&str]) -> Self {
        // FNV-1a, 64 bits: stable across builds, platforms and instances,
        // unlike std's hasher. It tells queries apart; it is not a secret,
        // which is why every position is checked against the window too.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in std::iter::once(endpoint).chain(parameters.iter().copied()) {
            for byte in part.bytes().chain(std::iter::once(0)) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        Self(hash)
    }

    /// The cursor of the row with sort key `keys`.
    pub fn encode(self, keys: &[i64]) -> String {
        let mut text = format!("{VERSION}:{:016x}", self.0);
        for key in keys {
            text.push(':');
            text.push_str(&key.to_string());
        }
        URL_SAFE_NO_PAD.encode(text)
    }

    /// The sort key a cursor of this scope holds.
    pub fn decode<const N: usize>(self, cursor: &str) -> Result<[i64; N]> {
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(foreign());
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| foreign())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| foreign())?;
        let mut parts = text.split(':');
        if parts.next() != Some(VERSION) {
            return Err(foreign());
        }
        let fingerprint = parts
            .next()
            .filter(|hex| hex.len() == 16)
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .ok_or_else(foreign)?;
        if fingerprint != self.0 {
            return Err(Error::parameter(
                CURSOR,
                "was given for a query with other parameters; repeat the query's parameters \
                 (limit included) unchanged with the cursor, or start again without one",
            ));
        }
        let mut keys = [0i64; N];
        for key in &mut keys {
            *key = parts
                .next()
                .and_then(|k| k.parse().ok())
                .ok_or_else(foreign)?;
        }
        if parts.next().is_some() {
            return Err(foreign());
        }
        Ok(keys)
    }
}

/// Not a cursor at all, or not one of this form.
fn foreign() -> Error {
    Error::parameter(
        CURSOR,
        "is not a cursor this API gave out; pass next_cursor of the previous page unchanged, \
         or start again without one",
    )
}

/// Well-formed and of this query, but a position no page of it ends on.
fn outside() -> Error {
    Error::parameter(
        CURSOR,
        "points outside this query's window, so it is not a cursor this API gave out; pass \
         next_cursor of the previous page unchanged, or start again without one",
    )
}

/// The row id an original endpoint's cursor holds: a row, so at least 1.
pub fn row_id(scope: Scope, cursor: &str) -> Result<i64> {
    let [id] = scope.decode::<1>(cursor)?;
    if id < 1 {
        return Err(outside());
    }
    Ok(id)
}

/// The (observed_at, id) a `/contacts` cursor holds: a row's, so inside
/// the query's range [`since`, `until`).
pub fn contact_position(
    scope: Scope,
    cursor: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(DateTime<Utc>, i64)> {
    let [micros, id] = scope.decode::<2>(cursor)?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(outside)?;
    if at < since || at >= until || id < 1 {
        return Err(outside());
    }
    Ok((at, id))
}

/// Where an `/exposures` page goes on: the window's start and (hops, person).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExposurePosition {
    /// The window's start, as the first page had it.
    pub since: DateTime<Utc>,
    /// The last row's hops: 1 to the query's depth.
    pub hops: u32,
    /// The last row's person.
    pub person: i64,
}

/// The position an `/exposures` cursor holds, read at `now` for a query of
/// `days` and `depth`. The window's start must be `now - days`, less at
/// most [`EXPOSURE_CURSOR_LIFETIME`] (time since the first page) and at most
/// [`CLOCK_SKEW`] later: a cursor cannot stretch the window.
pub fn exposure_position(
    scope: Scope,
    cursor: &str,
    now: DateTime<Utc>,
    days: u32,
    depth: u32,
) -> Result<ExposurePosition> {
    let [micros, hops, person] = scope.decode::<3>(cursor)?;
    let since = DateTime::from_timestamp_micros(micros).ok_or_else(outside)?;
    let start = window_start(now, days).ok_or_else(outside)?;
    let earliest = start
        .checked_sub_signed(EXPOSURE_CURSOR_LIFETIME)
        .ok_or_else(outside)?;
    let latest = start.checked_add_signed(CLOCK_SKEW).ok_or_else(outside)?;
    if since < earliest {
        return Err(Error::parameter(
            CURSOR,
            format!(
                "has expired: an exposures cursor is good for {} minutes after the first page, \
                 so that it cannot stretch the window past days; start again without one",
                EXPOSURE_CURSOR_LIFETIME.num_minutes()
            ),
        ));
    }
    let hops = u32::try_from(hops)
        .ok()
        .filter(|h| (1..=depth).contains(h))
        .ok_or_else(outside)?;
    if since > latest || person < 1 {
        return Err(outside());
    }
    Ok(ExposurePosition {
        since,
        hops,
        person,
    })
}

/// `now - days`, the start of an exposures window asked for at `now`.
pub fn window_start(now: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(TimeDelta::try_days(i64::from(days))?)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn field_and_detail(e: Error) -> (String, String) {
        let detail = e.to_string();
        match e {
            Error::Parameter { name, .. } => (name, detail),
            other => panic!("not a parameter error: {other:?}"),
        }
    }

    #[test]
    fn a_cursor_is_bound_to_its_query() {
        let mn = Scope::new("findcontactbystate", &["MN", "100"]);
        let wi = Scope::new("findcontactbystate", &["WI", "100"]);
        let other_limit = Scope::new("findcontactbystate", &["MN", "10"]);
        let cursor = mn.encode(&[42]);
        assert_eq!(row_id(mn, &cursor).expect("valid"), 42);
        for other in [wi, other_limit] {
            let (field, detail) = field_and_detail(row_id(other, &cursor).expect_err("other"));
            assert_eq!(field, CURSOR);
            assert!(
                detail.starts_with("cursor: was given for a query"),
                "{detail}"
            );
        }
        assert!(mn.decode::<2>(&cursor).is_err(), "too few keys");
        assert!(mn.decode::<1>("not-a-cursor").is_err());
        assert!(mn.decode::<1>("").is_err());
        assert!(row_id(mn, &mn.encode(&[0])).is_err(), "no row has id 0");
    }

    #[test]
    fn parameters_are_separated() {
        assert_ne!(Scope::new("e", &["ab", "c"]), Scope::new("e", &["a", "bc"]));
    }

    #[test]
    fn contact_positions_stay_in_the_range() {
        let scope = Scope::new("contacts", &["1", "", "", "100"]);
        let since = DateTime::from_timestamp(1_000_000, 0).expect("time");
        let until = DateTime::from_timestamp(2_000_000, 0).expect("time");
        let at = |t: DateTime<Utc>| scope.encode(&[t.timestamp_micros(), 7]);
        assert_eq!(
            contact_position(scope, &at(since), since, until).expect("first instant"),
            (since, 7)
        );
        let before = since - TimeDelta::microseconds(1);
        for bad in [
            at(before),
            at(until),
            scope.encode(&[i64::MIN, 7]),
            scope.encode(&[i64::MAX, 7]),
            scope.encode(&[since.timestamp_micros(), 0]),
        ] {
            let (_, detail) =
                field_and_detail(contact_position(scope, &bad, since, until).expect_err("out"));
            assert!(detail.contains("outside this query's window"), "{detail}");
        }
    }

    #[test]
    fn the_documented_lifetime_is_the_real_one() {
        // api.rs (the OpenAPI text), README.md and docs/functions.md say 15.
        assert_eq!(EXPOSURE_CURSOR_LIFETIME.num_minutes(), 15);
    }

    #[test]
    fn exposure_windows_cannot_be_stretched() {
        let scope = Scope::new("exposures", &["1", "30", "3", "100"]);
        let now = Utc::now();
        let start = window_start(now, 30).expect("start");
        let read = |since: DateTime<Utc>, hops: i64, person: i64| {
            exposure_position(
                scope,
                &scope.encode(&[since.timestamp_micros(), hops, person]),
                now,
                30,
                3,
            )
        };
        let within = start - TimeDelta::minutes(14);
        let ok = read(within, 2, 9).expect("within the lifetime");
        assert_eq!((ok.hops, ok.person), (2, 9));
        // The attack of issue 15: a window 60 days long for days=30.
        let (_, detail) =
            field_and_detail(read(now - TimeDelta::days(60), 1, 2).expect_err("60 days"));
        assert!(detail.contains("has expired"), "{detail}");
        assert!(read(start - TimeDelta::minutes(16), 1, 2).is_err());
        // Nor narrowed, nor pointing at hops the query cannot reach.
        assert!(read(start + TimeDelta::minutes(2), 1, 2).is_err());
        for (hops, person) in [(0, 2), (4, 2), (-1, 2), (i64::MAX, 2), (1, 0), (1, -5)] {
            assert!(read(within, hops, person).is_err(), "{hops} {person}");
        }
        assert!(exposure_position(scope, &scope.encode(&[i64::MIN, 1, 2]), now, 30, 3).is_err());
    }

    proptest! {
        #[test]
        fn keys_round_trip(keys in proptest::array::uniform3(any::<i64>()), filter in ".*") {
            let scope = Scope::new("exposures", &[&filter]);
            prop_assert_eq!(scope.decode::<3>(&scope.encode(&keys)).expect("valid"), keys);
        }

        #[test]
        fn arbitrary_bytes_are_a_parameter_error_never_a_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let text = String::from_utf8_lossy(&bytes);
            let encoded = URL_SAFE_NO_PAD.encode(&bytes);
            let scope = Scope::new("contacts", &[]);
            for cursor in [text.as_ref(), encoded.as_str()] {
                for result in [
                    scope.decode::<2>(cursor).map(|_| ()),
                    row_id(scope, cursor).map(|_| ()),
                    contact_position(scope, cursor, DateTime::UNIX_EPOCH, Utc::now()).map(|_| ()),
                    exposure_position(scope, cursor, Utc::now(), 30, 3).map(|_| ()),
                ] {
                    if let Err(e) = result {
                        let cursor_error =
                            matches!(e, Error::Parameter { ref name, .. } if name == CURSOR);
                        prop_assert!(cursor_error, "{}", e);
                    }
                }
            }
        }

        /// Whatever keys a cursor of the right query holds, the position it
        /// yields is inside that query's window.
        #[test]
        fn forged_keys_never_leave_the_window(keys in proptest::array::uniform3(any::<i64>())) {
            let now = Utc::now();
            let scope = Scope::new("exposures", &["1", "14", "2", "100"]);
            if let Ok(p) = exposure_position(scope, &scope.encode(&keys), now, 14, 2) {
                let start = window_start(now, 14).expect("start");
                prop_assert!(p.since >= start - EXPOSURE_CURSOR_LIFETIME);
                prop_assert!((1..=2).contains(&p.hops) && p.person >= 1);
            }
            let since = now - TimeDelta::days(3);
            let scope = Scope::new("contacts", &["1", "x", "y", "100"]);
            if let Ok((at, id)) = contact_position(scope, &scope.encode(&keys[..2]), since, now) {
                prop_assert!(at >= since && at < now && id >= 1);
            }
        }
    }
}
