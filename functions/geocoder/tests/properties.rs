//! Properties of `reverse` over arbitrary input. The k-d tree is checked
//! against a linear scan in the unit tests of `src/index.rs`, which can see
//! the embedded points.

use pact_geocoder::{PLACE_MAX_KM, Place, ZIP_MAX_KM, reverse, reverse_with_distance};
use proptest::prelude::*;

/// The promises of [`Place`]'s documentation.
fn well_formed(place: &Place) -> bool {
    !place.city.is_empty()
        && place.city.chars().count() <= 100
        && place.state.chars().count() <= 100
        && place.zipcode.len() <= 16
        && place.country.len() == 2
        && place.country.bytes().all(|b| b.is_ascii_uppercase())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_input_never_panics(lat in proptest::num::f64::ANY, lon in proptest::num::f64::ANY) {
        let valid = (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon);
        if let Some(place) = reverse(lat, lon) {
            prop_assert!(valid && well_formed(&place), "({lat}, {lon}) → {place:?}");
        }
    }

    #[test]
    fn answers_lie_within_the_cutoffs(lat in -90.0..=90.0f64, lon in -180.0..=180.0f64) {
        let with_distance = reverse_with_distance(lat, lon);
        prop_assert_eq!(reverse(lat, lon), with_distance.map(|(place, _)| place));
        if let Some((place, distance_m)) = with_distance {
            prop_assert!(well_formed(&place), "{place:?}");
            let max_km = if place.zipcode.is_empty() { PLACE_MAX_KM } else { ZIP_MAX_KM };
            // 1 m slack: the cutoff is compared in f32.
            prop_assert!(distance_m <= max_km * 1000.0 + 1.0, "{place:?} at {distance_m} m");
        }
    }
}
