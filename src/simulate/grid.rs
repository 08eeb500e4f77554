//! Finding every pair of phones within the contact radius, in about linear
//! time per tick.
//!
//! A uniform grid: the plane is cut into square cells a little larger than
//! the radius, so two points within the radius are always in the same or in
//! neighbouring cells. The points are kept sorted by cell, row by row and
//! column by column; a sweep then compares each point only with the points
//! after it in its own cell and the next cell of its row, and with the
//! three cells below-left, below and below-right of it in the next row
//! (reached with a pointer that only moves forward). Each pair of
//! neighbouring cells is looked at from one side only, so each pair is found
//! exactly once, and memory is read in order: no hash table, no probing.
//!
//! Phones move at most a few metres per tick, so last tick's order is
//! nearly right, and an insertion sort puts it right in time proportional
//! to the points plus how far they moved in the order (measured with 2000
//! phones: a whole tick a third shorter than with the standard sort).
//! When that is not so (the first tick, a crowd teleported), it gives up
//! early for a general sort: never quadratic.

use super::geo::Point;

/// The cell side is the radius times this: the margin absorbs the rounding
/// of `x / cell`, so points exactly `radius` apart can never land two cells
/// apart.
const CELL_MARGIN: f64 = 1.0 + 1e-6;

/// Whether two points are within `radius` (`radius_sq` = radius²), edge
/// included. The one definition of "in contact": the grid and the tests use it.
#[inline]
pub fn within(a: Point, b: Point, radius_sq: f64) -> bool {
    let (dx, dy) = (a.x - b.x, a.y - b.y);
    dx * dx + dy * dy <= radius_sq
}

/// `v.floor() as i32`, without the call to libm that `floor` is on x86-64
/// without SSE4.1. `as` saturates; the box's size keeps real values far
/// from i32's limits.
#[inline]
fn floor(v: f64) -> i32 {
    let t = v as i32;
    t - i32::from(f64::from(t) > v)
}

/// A cell's row and column as one number that sorts row by row, then column
/// by column (the sign bit flipped so that negative numbers sort first).
#[inline]
fn cell_key(row: i32, column: i32) -> u64 {
    let bias = |v: i32| u64::from((v as u32) ^ 0x8000_0000);
    bias(row) << 32 | bias(column)
}

#[inline]
fn row(key: u64) -> i64 {
    (key >> 32) as i64
}

#[inline]
fn column(key: u64) -> i64 {
    (key & 0xFFFF_FFFF) as i64
}

/// Insertion sort while the points are nearly in order; a general sort as
/// soon as more than a few moves per point have been needed.
fn sort_nearly_sorted(entries: &mut [Entry]) {
    let budget = 8 * entries.len() + 64;
    let mut moves = 0;
    for i in 1..entries.len() {
        let entry = entries[i];
        let mut j = i;
        while j > 0 && entries[j - 1].key > entry.key {
            entries[j] = entries[j - 1];
            j -= 1;
        }
        entries[j] = entry;
        moves += i - j;
        if moves > budget {
            entries.sort_by_key(|e| e.key);
            return;
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: u64,
    at: Point,
    index: u32,
}

/// The proximity finder; keeps the points' order between ticks.
#[derive(Debug)]
pub struct Grid {
    radius_sq: f64,
    inverse_cell: f64,
    entries: Vec<Entry>,
}

impl Grid {
    /// A grid for contacts within `radius` metres (positive, finite).
    pub fn new(radius: f64) -> Self {
        Self {
            radius_sq: radius * radius,
            inverse_cell: 1.0 / (radius * CELL_MARGIN),
            entries: Vec::new(),
        }
    }

    /// Replaces `out` with every pair `(i, j)`, `i < j`, of `points` within the
    /// radius. The order is deterministic for the same sequence of calls.
    pub fn pairs(&mut self, points: &[Point], out: &mut Vec<(u32, u32)>) {
        out.clear();
        let inverse_cell = self.inverse_cell;
        let key = |p: Point| cell_key(floor(p.y * inverse_cell), floor(p.x * inverse_cell));
        if self.entries.len() == points.len() {
            // The same points, moved: refresh them in last tick's order.
            for entry in &mut self.entries {
                entry.at = points[entry.index as usize];
                entry.key = key(entry.at);
            }
        } else {
            self.entries.clear();
            for (index, &at) in points.iter().enumerate() {
                self.entries.push(Entry {
                    key: key(at),
                    at,
                    index: index as u32,
                });
            }
        }
        sort_nearly_sorted(&mut self.entries);

        let entries = &self.entries;
        let n = entries.len();
        let row_end = |start: usize| {
            let r = row(entries[start].key);
            let mut end = start;
            while end < n && row(entries[end].key) == r {
                end += 1;
            }
            end
        };
        let (mut start, mut end) = (0, if n > 0 { row_end(0) } else { 0 });
        while start < n {
            let r = row(entries[start].key);
            let next = if end < n && row(entries[end].key) == r + 1 {
                end..row_end(end)
            } else {
                end..end
            };
            let mut below = next.start;
            for p in start..end {
                let a = entries[p];
                let c = column(a.key);
                let mut check = |b: &Entry| {
                    if within(a.at, b.at, self.radius_sq) {
                        out.push((a.index.min(b.index), a.index.max(b.index)));
                    }
                };
                // The rest of its own cell, and the next cell of the row.
                for b in &entries[p + 1..end] {
                    if column(b.key) > c + 1 {
                        break;
                    }
                    check(b);
                }
                // Below-left, below, below-right; the row is sorted by column.
                while below < next.end && column(entries[below].key) < c - 1 {
                    below += 1;
                }
                for b in &entries[below..next.end] {
                    if column(b.key) > c + 1 {
                        break;
                    }
                    check(b);
                }
            }
            // The next row's end, when it was just found, is not looked for again.
            start = end;
            end = if next.end > next.start {
                next.end
            } else if end < n {
                row_end(end)
            } else {
                n
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brute_force(points: &[Point], radius: f64) -> Vec<(u32, u32)> {
        let mut pairs = Vec::new();
        for i in 0..points.len() {
            for j in i + 1..points.len() {
                if within(points[i], points[j], radius * radius) {
                    pairs.push((i as u32, j as u32));
                }
            }
        }
        pairs
    }

    fn grid_pairs(points: &[Point], radius: f64) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        Grid::new(radius).pairs(points, &mut out);
        out
    }

    /// A coordinate: anywhere, or exactly on a cell border (a multiple of the
    /// radius), or a hair either side of one.
    fn coordinate(radius: f64) -> impl Strategy<Value = f64> {
        prop_oneof![
            -60.0..60.0f64,
            (-30i32..30).prop_map(move |k| f64::from(k) * radius),
            ((-30i32..30), prop_oneof![Just(-1e-9), Just(1e-9)])
                .prop_map(move |(k, e)| f64::from(k) * radius + e),
        ]
    }

    fn points(radius: f64) -> impl Strategy<Value = Vec<Point>> {
        prop::collection::vec(
            (coordinate(radius), coordinate(radius)).prop_map(|(x, y)| Point { x, y }),
            0..300,
        )
    }

    proptest! {
        #[test]
        fn finds_exactly_the_brute_force_pairs(
            (radius, points) in prop_oneof![Just(2.0), Just(0.7), Just(5.0)]
                .prop_flat_map(|r| (Just(r), points(r)))
        ) {
            let mut found = grid_pairs(&points, radius);
            let count = found.len();
            found.sort_unstable();
            found.dedup();
            prop_assert_eq!(found.len(), count, "a pair was reported twice");
            prop_assert_eq!(found, brute_force(&points, radius));
        }
    }

    #[test]
    fn pairs_at_exactly_the_radius_count_and_beyond_do_not() {
        let r = 2.0;
        let points = [
            Point { x: 0.0, y: 0.0 },
            Point { x: 2.0, y: 0.0 },    // exactly r from 0, across a border
            Point { x: 4.0001, y: 0.0 }, // just over r from 1
            Point { x: 0.0, y: -2.0 },   // exactly r from 0, below
            Point { x: 0.0, y: 0.0 },    // same place as 0
        ];
        let mut found = grid_pairs(&points, r);
        found.sort_unstable();
        assert_eq!(found, vec![(0, 1), (0, 3), (0, 4), (1, 4), (3, 4)]);
    }

    #[test]
    fn dense_crowds_and_reuse_agree_with_brute_force() {
        // Many points in few cells, then a different set through the same grid.
        let mut grid = Grid::new(2.0);
        let mut out = Vec::new();
        for round in 0..3u32 {
            let points: Vec<Point> = (0..500u32)
                .map(|i| Point {
                    x: f64::from((i * 7 + round) % 23) * 0.37,
                    y: f64::from((i * 13 + round * 5) % 19) * 0.41,
                })
                .collect();
            grid.pairs(&points, &mut out);
            let mut found = out.clone();
            found.sort_unstable();
            assert_eq!(found, brute_force(&points, 2.0), "round {round}");
        }
    }
}
