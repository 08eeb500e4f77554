//! Embedded offline reverse geocoder: latitude/longitude → city, state, ZIP
//! and country, with no network, no files and no start-up work.
//!
//! ```
//! let place = pact_geocoder::reverse(44.9736, -93.2575).expect("US Bank Stadium");
//! assert_eq!((place.city, place.state, place.zipcode), ("Minneapolis", "MN", "55415"));
//! assert_eq!(pact_geocoder::reverse(30.0, -40.0), None); // mid-Atlantic
//! ```
//!
//! # How a point is answered
//!
//! build.rs indexes two sets of points into k-d trees over unit vectors
//! (see `geodata/README.md` for which rows are kept):
//!
//! - **ZIP points**: Census ZCTA internal points of US ZIPs (and of the
//!   territories PR, VI, GU, AS, MP), named after GeoNames' postal file, plus
//!   GeoNames postal points of towns that no ZCTA point is near;
//! - **places**: GeoNames `cities1000` populated places (about 1000
//!   inhabitants or more, or the seat of an administrative division).
//!
//! A lookup finds `z`, the nearest ZIP point within [`ZIP_MAX_KM`], and `p`,
//! the nearest place within [`PLACE_MAX_KM`], then:
//!
//! 1. if `z` exists and `p` is absent or in the same country as `z` (US, or
//!    the territory), the answer is `z`: its ZIP, postal city and USPS state;
//! 2. otherwise, if `p` exists, the answer is `p` with an empty ZIP;
//! 3. otherwise `None`: open sea, polar ice, deep wilderness, or coordinates
//!    that are not finite or out of range.
//!
//! # Limits
//!
//! Without boundary polygons, "nearest point" stands in for "containing
//! area", so borders are approximate:
//!
//! - near a national border the nearest place decides the country: a point
//!   on one bank of the Detroit River can be named after the city on the other;
//! - a point near a ZIP boundary can get the neighbouring ZIP, and in very
//!   large rural ZIP areas (Alaska, Nevada) the nearest internal point may
//!   belong to a neighbouring ZIP area;
//! - places are points, so an answer within [`PLACE_MAX_KM`] can lie offshore.
//!
//! # Data
//!
//! Place names, administrative divisions and postal codes: © GeoNames
//! (<https://www.geonames.org/>), licensed under CC BY 4.0
//! (<https://creativecommons.org/licenses/by/4.0/>). Modified: columns dropped
//! and tables joined for PACT; rows filtered and indexed at build time. ZIP
//! Code Tabulation Area centroids: U.S. Census Bureau, 2021 Gazetteer Files
//! (public domain).

mod index;
mod layout;
mod sphere;

use index::{INDEX, Tree};
use sphere::{chord2_of_m, m_of_chord2, unit_vector};

/// Farthest a ZIP internal point may be from the query, in km. On a 0.5° grid
/// over Nevada the nearest ZIP point is a median 24 km away and 91% of the
/// grid is within 50 km; in Alaska half the land is farther, where beyond
/// 50 km the nearest point is usually another village's, so an empty ZIP is
/// the more honest answer. (Towns far from their own ZCTA point, such as
/// Kotzebue, have a postal point of their own.)
pub const ZIP_MAX_KM: f64 = 50.0;

/// Farthest a GeoNames place may be from the query, in km: beyond it the
/// point is open sea or empty land, and naming a town there would mislead.
pub const PLACE_MAX_KM: f64 = 100.0;

/// An address as far as the embedded data knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// Town or city: the postal place name for a ZIP answer, the GeoNames
    /// name otherwise. At most 100 characters.
    pub city: &'static str,
    /// US and territories: USPS code ("MN", "PR"); elsewhere the GeoNames
    /// admin1 name ("Ontario", "England"), "" if unknown. At most 100 characters.
    pub state: &'static str,
    /// US ZIP ("55415"); "" outside the US and its territories, and where no
    /// ZIP point is within [`ZIP_MAX_KM`]. At most 16 characters.
    pub zipcode: &'static str,
    /// ISO 3166-1 alpha-2, upper case ("US", "CA", "PR").
    pub country: &'static str,
}

/// The address of a point, or `None` for open sea, the poles, or bad input
/// (NaN, infinite, latitude outside ±90°, longitude outside ±180°). Never panics.
pub fn reverse(lat: f64, lon: f64) -> Option<Place> {
    reverse_with_distance(lat, lon).map(|(place, _)| place)
}

/// Like [`reverse`], with the great-circle distance in metres from the query
/// to the data point that answered (ZIP internal point or place), to judge
/// how much to trust the answer.
pub fn reverse_with_distance(lat: f64, lon: f64) -> Option<(Place, f64)> {
    // `contains` is false for NaN and infinities too.
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return None;
    }
    let query = unit_vector(lat, lon);
    let zip = nearest(&INDEX.zips, query, ZIP_MAX_KM);
    let place = nearest(&INDEX.places, query, PLACE_MAX_KM);
    let (answer, chord2) = match (zip, place) {
        (Some(zip), None) => zip,
        // Near a border the nearest place decides the country.
        (Some(zip), Some(place)) if place.0.country == zip.0.country => zip,
        (_, Some(place)) => place,
        (None, None) => return None,
    };
    Some((answer, m_of_chord2(chord2)))
}

/// The answer of the point of `tree` nearest to `query` within `max_km`,
/// with its squared chord length.
fn nearest(tree: &Tree, query: [f32; 3], max_km: f64) -> Option<(Place, f32)> {
    let hit = tree.nearest(query, chord2_of_m(max_km * 1000.0))?;
    Some((INDEX.place(tree, hit.index)?, hit.chord2))
}
