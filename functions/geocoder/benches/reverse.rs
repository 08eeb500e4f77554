//! Cost of one `reverse` lookup: in a city (dense data), at sea (both
//! searches come back empty) and over a mixed batch of 1000 points.
//!
//! `cargo bench -p pact-geocoder`.
#![expect(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pact_geocoder::reverse;

/// Minneapolis downtown.
const CITY: (f64, f64) = (44.9778, -93.2650);
/// Mid-Atlantic, far from any place or ZIP.
const SEA: (f64, f64) = (30.0, -40.0);

const CITIES: [(f64, f64); 8] = [
    (44.9778, -93.2650),
    (40.7128, -74.0060),
    (51.5074, -0.1278),
    (35.6812, 139.7671),
    (-23.5505, -46.6333),
    (19.4326, -99.1332),
    (-33.8688, 151.2093),
    (28.6139, 77.2090),
];

/// 1000 points: half scattered within ~50 km of big cities, half uniform on
/// the globe (mostly sea). A fixed xorshift keeps runs comparable.
fn mixed_batch() -> Vec<(f64, f64)> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 // uniform in [0, 1)
    };
    (0..1000)
        .map(|i| {
            if i % 2 == 0 {
                let (lat, lon) = CITIES[i / 2 % CITIES.len()];
                (lat + next() - 0.5, lon + next() - 0.5)
            } else {
                // Uniform on the sphere: latitude from asin of a uniform sine.
                let lat = (2.0 * next() - 1.0).asin().to_degrees();
                (lat, 360.0 * next() - 180.0)
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    c.bench_function("reverse/city", |b| {
        b.iter(|| reverse(black_box(CITY.0), black_box(CITY.1)))
    });
    c.bench_function("reverse/sea", |b| {
        b.iter(|| reverse(black_box(SEA.0), black_box(SEA.1)))
    });

    let batch = mixed_batch();
    let mut group = c.benchmark_group("reverse");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("mixed_1000", |b| {
        b.iter(|| {
            batch
                .iter()
                .filter(|&&(lat, lon)| reverse(black_box(lat), black_box(lon)).is_some())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
