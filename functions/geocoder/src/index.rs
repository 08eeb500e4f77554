//! The embedded index, read in place: two implicit k-d trees (ZIP points and
//! places) with their labels, in the layout of `layout.rs`.
//!
//! The file is split into sections at compile time (a `const fn` in a
//! `static` initialiser), so a lookup starts searching straight away: nothing
//! is parsed, allocated or initialised at start-up or on first use.

use crate::Place;
use crate::layout::{HEADER_LEN, MAGIC, NODE_LEN, PLACE_LABEL_LEN, REGION_LEN, ZIP_LABEL_LEN};
use crate::sphere::chord2;

/// The index that build.rs wrote to `$OUT_DIR/index.bin`.
pub(crate) static INDEX: Index =
    Index::split(include_bytes!(concat!(env!("OUT_DIR"), "/index.bin")));

/// The sections of the index file.
pub(crate) struct Index {
    /// Census ZCTA internal points.
    pub(crate) zips: Tree,
    /// GeoNames populated places.
    pub(crate) places: Tree,
    regions: &'static [u8],
    strings: &'static [u8],
}

/// One implicit k-d tree and the label of each of its points.
pub(crate) struct Tree {
    nodes: &'static [u8],
    labels: &'static [u8],
    label_len: usize,
}

/// A point found by [`Tree::nearest`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Hit {
    /// Position of the point in its tree.
    pub(crate) index: usize,
    /// Squared chord length to the query (unit sphere).
    pub(crate) chord2: f32,
}

impl Hit {
    /// Keeps the closer point; on a tie the lower index, so the answer does
    /// not depend on the order in which points are visited.
    fn offer(&mut self, index: usize, chord2: f32) {
        if chord2 < self.chord2 || (chord2 == self.chord2 && index < self.index) {
            *self = Self { index, chord2 };
        }
    }
}

/// A k-d tree node: position and the axis its subtrees are split on.
struct Node {
    point: [f32; 3],
    axis: usize,
}

impl Index {
    /// Splits the file into sections. Runs at compile time: a stale or
    /// truncated file fails the build instead of a lookup.
    const fn split(bytes: &'static [u8]) -> Self {
        let (magic, rest) = bytes.split_at(MAGIC.len());
        let mut i = 0;
        while i < MAGIC.len() {
            assert!(magic[i] == MAGIC[i], "index.bin: unknown format");
            i += 1;
        }
        let zip_count = header_u32(rest, 0);
        let place_count = header_u32(rest, 1);
        let region_count = header_u32(rest, 2);
        let strings_len = header_u32(rest, 3);
        let (_, rest) = bytes.split_at(HEADER_LEN);
        let (zip_nodes, rest) = rest.split_at(zip_count * NODE_LEN);
        let (zip_labels, rest) = rest.split_at(zip_count * ZIP_LABEL_LEN);
        let (place_nodes, rest) = rest.split_at(place_count * NODE_LEN);
        let (place_labels, rest) = rest.split_at(place_count * PLACE_LABEL_LEN);
        let (regions, strings) = rest.split_at(region_count * REGION_LEN);
        assert!(strings.len() == strings_len, "index.bin: wrong length");
        Self {
            zips: Tree {
                nodes: zip_nodes,
                labels: zip_labels,
                label_len: ZIP_LABEL_LEN,
            },
            places: Tree {
                nodes: place_nodes,
                labels: place_labels,
                label_len: PLACE_LABEL_LEN,
            },
            regions,
            strings,
        }
    }

    /// The answer stored for point `index` of `tree`; `None` only if the
    /// index were corrupt (build.rs and the tests rule that out).
    pub(crate) fn place(&self, tree: &Tree, index: usize) -> Option<Place> {
        let label = tree.labels.get(index * tree.label_len..)?;
        let city = self.string(le_u32(label, 0)?)?;
        let region = usize::from(u16::from_le_bytes(*label.get(4..)?.first_chunk()?));
        let zipcode = if tree.label_len == ZIP_LABEL_LEN {
            self.string(le_u32(label, PLACE_LABEL_LEN)?)?
        } else {
            ""
        };
        let region = self.regions.get(region * REGION_LEN..)?;
        Some(Place {
            city,
            state: self.string(le_u32(region, 0)?)?,
            zipcode,
            country: self.string(le_u32(region, 4)?)?,
        })
    }

    /// The string at `offset`: a u8 byte length, then UTF-8.
    fn string(&self, offset: usize) -> Option<&'static str> {
        let (&len, rest) = self.strings.get(offset..)?.split_first()?;
        std::str::from_utf8(rest.get(..usize::from(len))?).ok()
    }
}

impl Tree {
    /// Number of points.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len() / NODE_LEN
    }

    /// The point nearest to `query` with a squared chord of at most
    /// `max_chord2`, if any.
    pub(crate) fn nearest(&self, query: [f32; 3], max_chord2: f32) -> Option<Hit> {
        let mut best = Hit {
            index: usize::MAX,
            chord2: max_chord2,
        };
        self.search(0, self.len(), query, &mut best);
        (best.index != usize::MAX).then_some(best)
    }

    /// Searches the subtree `lo..hi`, whose root is its middle element.
    fn search(&self, lo: usize, hi: usize, query: [f32; 3], best: &mut Hit) {
        if lo >= hi {
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let Some(node) = self.node(mid) else {
            return;
        };
        best.offer(mid, chord2(node.point, query));
        let diff = query[node.axis] - node.point[node.axis];
        let (near, far) = if diff < 0.0 {
            ((lo, mid), (mid + 1, hi))
        } else {
            ((mid + 1, hi), (lo, mid))
        };
        self.search(near.0, near.1, query, best);
        // Every point across the split plane is at least |diff| away along
        // this axis, so that side can only win if diff² is not already worse.
        if diff * diff <= best.chord2 {
            self.search(far.0, far.1, query, best);
        }
    }

    fn node(&self, index: usize) -> Option<Node> {
        let bytes: &[u8; NODE_LEN] = self.nodes.get(index * NODE_LEN..)?.first_chunk()?;
        let [x0, x1, x2, x3, y0, y1, y2, y3, z0, z1, z2, z3, axis] = *bytes;
        Some(Node {
            point: [
                f32::from_le_bytes([x0, x1, x2, x3]),
                f32::from_le_bytes([y0, y1, y2, y3]),
                f32::from_le_bytes([z0, z1, z2, z3]),
            ],
            axis: usize::from(axis).min(2),
        })
    }
}

/// The `n`th u32 count after the magic, at compile time.
const fn header_u32(after_magic: &[u8], n: usize) -> usize {
    let at = n * 4;
    let b = [
        after_magic[at],
        after_magic[at + 1],
        after_magic[at + 2],
        after_magic[at + 3],
    ];
    u32::from_le_bytes(b) as usize
}

fn le_u32(bytes: &[u8], at: usize) -> Option<usize> {
    let b: &[u8; 4] = bytes.get(at..)?.first_chunk()?;
    usize::try_from(u32::from_le_bytes(*b)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sphere::{chord2_of_m, unit_vector};
    use proptest::prelude::*;

    /// Test-only linear scan with the same distance and tie rule as the tree.
    fn brute_force(tree: &Tree, query: [f32; 3], max_chord2: f32) -> Option<Hit> {
        let mut best = Hit {
            index: usize::MAX,
            chord2: max_chord2,
        };
        for index in 0..tree.len() {
            let node = tree.node(index).expect("index below len");
            best.offer(index, chord2(node.point, query));
        }
        (best.index != usize::MAX).then_some(best)
    }

    fn lat_lon(tree: &Tree, index: usize) -> (f64, f64) {
        let [x, y, z] = tree
            .node(index)
            .expect("index below len")
            .point
            .map(f64::from);
        (z.asin().to_degrees(), y.atan2(x).to_degrees())
    }

    #[test]
    fn index_is_small_and_holds_both_trees() {
        let bytes = include_bytes!(concat!(env!("OUT_DIR"), "/index.bin")).len();
        assert!(bytes <= 6 * 1024 * 1024, "index is {bytes} bytes");
        assert!(INDEX.zips.len() > 33_000, "{} ZIP points", INDEX.zips.len());
        assert!(
            INDEX.places.len() > 140_000,
            "{} places",
            INDEX.places.len()
        );
    }

    #[test]
    fn every_label_decodes_within_the_api_limits() {
        for (tree, has_zip) in [(&INDEX.zips, true), (&INDEX.places, false)] {
            for index in 0..tree.len() {
                let place = INDEX.place(tree, index).expect("label decodes");
                assert!(!place.city.is_empty() && place.city.chars().count() <= 100);
                assert!(place.state.chars().count() <= 100);
                assert_eq!(place.zipcode.is_empty(), !has_zip, "{place:?}");
                assert!(place.zipcode.len() <= 16);
                assert!(
                    place.country.len() == 2
                        && place.country.bytes().all(|b| b.is_ascii_uppercase()),
                    "{place:?}"
                );
            }
        }
    }

    #[test]
    fn every_point_finds_itself() {
        // Each stored point is at distance 0 from itself; with the tie rule
        // the tree must return the lowest index among identical points.
        for tree in [&INDEX.zips, &INDEX.places] {
            for index in (0..tree.len()).step_by(97) {
                let node = tree.node(index).expect("index below len");
                let hit = tree.nearest(node.point, 0.0).expect("itself");
                assert_eq!(hit.chord2, 0.0);
                assert!(hit.index <= index);
            }
        }
    }

    fn same_as_brute_force(query: [f32; 3]) -> Result<(), TestCaseError> {
        // The lookup's radii, and the whole globe (chord 2 = antipode).
        let cases = [
            (&INDEX.zips, chord2_of_m(crate::ZIP_MAX_KM * 1000.0)),
            (&INDEX.places, chord2_of_m(crate::PLACE_MAX_KM * 1000.0)),
            (&INDEX.places, 4.0),
        ];
        for (tree, max_chord2) in cases {
            prop_assert_eq!(
                tree.nearest(query, max_chord2),
                brute_force(tree, query, max_chord2)
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn tree_matches_linear_scan_anywhere(lat in -90.0..=90.0f64, lon in -180.0..=180.0f64) {
            same_as_brute_force(unit_vector(lat, lon))?;
        }

        #[test]
        fn tree_matches_linear_scan_near_data(
            pick in any::<prop::sample::Index>(),
            zip_tree in any::<bool>(),
            dlat in -0.3..0.3f64,
            dlon in -0.3..0.3f64,
        ) {
            // Uniform points are mostly sea; these land among dense data.
            let tree = if zip_tree { &INDEX.zips } else { &INDEX.places };
            let (lat, lon) = lat_lon(tree, pick.index(tree.len()));
            let lat = (lat + dlat).clamp(-90.0, 90.0);
            same_as_brute_force(unit_vector(lat, lon + dlon))?;
        }
    }
}
