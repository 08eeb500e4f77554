//! Opaque page cursors (keyset pagination).
//!
//! A cursor names the last row of a page by its sort key, so the next page
//! starts right after it: no row is skipped or repeated when rows are added
//! meanwhile, and no page costs more than the first (no `OFFSET`). It also
//! carries a fingerprint of the query it was made for — endpoint, person,
//! filters, window — so a cursor reused with other parameters is a 400
//! rather than a silently wrong page.
//!
//! Wire form: base64url without padding of `p1:<fingerprint>:<key>:<key>…`.
//! Clients must treat it as opaque; the form may change.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};

/// The query parameter's name.
pub const CURSOR: &str = "cursor";
/// Version tag of the wire form.
const VERSION: &str = "p1";
/// Longest cursor text read (a real one is well under 100 characters).
const MAX_CURSOR_CHARS: usize = 200;

/// What a cursor belongs to: an endpoint and the filters of one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope(u64);

impl Scope {
    /// The scope of `endpoint` with these filter values (in a fixed order).
    pub fn new(endpoint: &str, filters: &[&str]) -> Self {
        // FNV-1a, 64 bits: stable across builds and platforms, unlike std's
        // hasher; a fingerprint, not a secret.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in std::iter::once(endpoint).chain(filters.iter().copied()) {
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
        let broken = || {
            Error::parameter(
                CURSOR,
                "is not a cursor this API gave out; pass next_cursor of the previous page unchanged",
            )
        };
        if cursor.len() > MAX_CURSOR_CHARS {
            return Err(broken());
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| broken())?;
        let text = std::str::from_utf8(&bytes).map_err(|_| broken())?;
        let mut parts = text.split(':');
        if parts.next() != Some(VERSION) {
            return Err(broken());
        }
        let fingerprint = parts
            .next()
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
            .ok_or_else(broken)?;
        if fingerprint != self.0 {
            return Err(Error::parameter(
                CURSOR,
                "was given for a query with other parameters; repeat the query's parameters \
                 unchanged with the cursor, or start again without one",
            ));
        }
        let mut keys = [0i64; N];
        for key in &mut keys {
            *key = parts
                .next()
                .and_then(|k| k.parse().ok())
                .ok_or_else(broken)?;
        }
        if parts.next().is_some() {
            return Err(broken());
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_cursor_is_bound_to_its_query() {
        let mn = Scope::new("findcontactbystate", &["MN"]);
        let wi = Scope::new("findcontactbystate", &["WI"]);
        let cursor = mn.encode(&[42]);
        assert_eq!(mn.decode::<1>(&cursor).expect("valid"), [42]);
        let err = wi.decode::<1>(&cursor).expect_err("other query");
        assert!(err.to_string().starts_with("cursor: was given for a query"));
        assert!(mn.decode::<2>(&cursor).is_err(), "too few keys");
        assert!(mn.decode::<1>("not-a-cursor").is_err());
        assert!(mn.decode::<1>("").is_err());
    }

    #[test]
    fn filters_are_separated() {
        assert_ne!(Scope::new("e", &["ab", "c"]), Scope::new("e", &["a", "bc"]));
    }

    proptest! {
        #[test]
        fn keys_round_trip(keys in proptest::array::uniform3(any::<i64>()), filter in ".*") {
            let scope = Scope::new("exposures", &[&filter]);
            prop_assert_eq!(scope.decode::<3>(&scope.encode(&keys)).expect("valid"), keys);
        }

        #[test]
        fn random_text_never_panics(text in ".*") {
            let _ = Scope::new("contacts", &[]).decode::<2>(&text);
        }
    }
}
