//! Points on the Earth as 3D unit vectors.
//!
//! Shared with build.rs (`#[path]`), so the index and the queries compute
//! their vectors and distances with exactly the same operations: a point and
//! its own data row then compare bit-for-bit equal, and ties break the same way
//! in the k-d tree and in a linear scan.

/// Mean Earth radius (IUGG), in metres.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Unit vector of a latitude/longitude in degrees.
///
/// The straight-line (chord) distance between two such vectors grows
/// monotonically with the great-circle distance, so "nearest by chord" is
/// "nearest on the globe", with no special case at the antimeridian or the poles.
pub fn unit_vector(lat_deg: f64, lon_deg: f64) -> [f32; 3] {
    let (sin_lat, cos_lat) = lat_deg.to_radians().sin_cos();
    let (sin_lon, cos_lon) = lon_deg.to_radians().sin_cos();
    // f32 keeps about 0.4 m of precision on the Earth's surface: plenty here.
    [
        (cos_lat * cos_lon) as f32,
        (cos_lat * sin_lon) as f32,
        sin_lat as f32,
    ]
}

/// Squared chord length between two unit vectors.
pub fn chord2(a: [f32; 3], b: [f32; 3]) -> f32 {
    let dx = a[0] - b[0];
    let dy = a[1] - b[1];
    let dz = a[2] - b[2];
    dx * dx + dy * dy + dz * dz
}

/// Squared chord length of a great-circle distance in metres: the search
/// radius in the units the k-d tree compares.
pub fn chord2_of_m(distance_m: f64) -> f32 {
    let chord = 2.0 * (distance_m / (2.0 * EARTH_RADIUS_M)).sin();
    (chord * chord) as f32
}

/// Great-circle distance in metres of a squared chord length.
pub fn m_of_chord2(chord2: f32) -> f64 {
    let half_chord = f64::from(chord2).sqrt() / 2.0;
    2.0 * EARTH_RADIUS_M * half_chord.min(1.0).asin()
}
