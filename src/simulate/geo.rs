//! Where the phones are: named cities, bounding boxes, and the local metric
//! frame the model works in.
//!
//! Distances, speeds and the proximity grid need metres, not degrees. A city
//! is small next to the Earth, so an equirectangular projection around the
//! centre of the box is plenty: x metres east, y metres north of the centre.
//! Within a box of a few degrees its error is far below the few metres of a
//! contact radius's own uncertainty (a phone's Bluetooth or GPS).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Mean Earth radius (IUGG), metres.
const EARTH_RADIUS_M: f64 = 6_371_008.8;
/// Largest box side, degrees: the projection stays good and the grid's
/// cell numbers stay small.
const MAX_SPAN_DEG: f64 = 5.0;
/// Smallest box side, degrees (about 11 m).
const MIN_SPAN_DEG: f64 = 0.0001;
/// Polar regions distort the projection too much (and nobody lives there).
const MAX_ABS_LAT: f64 = 85.0;

/// A latitude/longitude box, degrees (WGS 84).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BBox {
    /// Southern edge (lowest latitude).
    pub south: f64,
    /// Western edge (lowest longitude).
    pub west: f64,
    /// Northern edge.
    pub north: f64,
    /// Eastern edge.
    pub east: f64,
}

impl BBox {
    /// A box, checked: finite, south < north, west < east (no box across the
    /// antimeridian), at most 5 degrees a side, not beyond 85 degrees of latitude.
    pub fn new(south: f64, west: f64, north: f64, east: f64) -> Result<Self, String> {
        if ![south, west, north, east].iter().all(|v| v.is_finite()) {
            return Err("the bounding box holds a number that is not finite".into());
        }
        if !(-MAX_ABS_LAT..=MAX_ABS_LAT).contains(&south)
            || !(-MAX_ABS_LAT..=MAX_ABS_LAT).contains(&north)
        {
            return Err(format!("latitudes must be within ±{MAX_ABS_LAT} degrees"));
        }
        if !(-180.0..=180.0).contains(&west) || !(-180.0..=180.0).contains(&east) {
            return Err("longitudes must be within ±180 degrees".into());
        }
        if north - south < MIN_SPAN_DEG || east - west < MIN_SPAN_DEG {
            return Err(
                "south must be below north and west left of east (south,west,north,east), by at least 0.0001 degrees".into(),
            );
        }
        if north - south > MAX_SPAN_DEG || east - west > MAX_SPAN_DEG {
            return Err(format!(
                "a side is more than {MAX_SPAN_DEG} degrees: simulate a city, not a country"
            ));
        }
        Ok(Self {
            south,
            west,
            north,
            east,
        })
    }

    /// Whether the point lies inside (edges included).
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        (self.south..=self.north).contains(&lat) && (self.west..=self.east).contains(&lon)
    }
}

impl FromStr for BBox {
    type Err = String;

    /// `south,west,north,east`, as Nominatim and most tools write it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [south, west, north, east] = parts.as_slice() else {
            return Err(format!(
                "expected south,west,north,east in degrees (four numbers), got {s:?}"
            ));
        };
        let number = |name: &str, v: &str| {
            v.parse::<f64>()
                .map_err(|_| format!("{name} {v:?} is not a number"))
        };
        Self::new(
            number("south", south)?,
            number("west", west)?,
            number("north", north)?,
            number("east", east)?,
        )
    }
}

impl fmt::Display for BBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{}",
            self.south, self.west, self.north, self.east
        )
    }
}

/// Cities `--city` knows: the dense centre of each, some 6–10 km a side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum City {
    /// Minneapolis, MN: downtown, the university, Uptown (the default).
    Minneapolis,
    /// Saint Paul, MN.
    StPaul,
    /// Chicago, IL: the Loop and around.
    Chicago,
    /// New York, NY: Manhattan below Central Park's north end.
    NewYork,
    /// London, UK: the City, the West End, the South Bank.
    London,
    /// Paris, France: within the Périphérique.
    Paris,
    /// Tokyo, Japan: from Shinjuku to Ginza.
    Tokyo,
    /// Sydney, Australia: the CBD and the inner suburbs.
    Sydney,
    /// São Paulo, Brazil: the Centro and Paulista.
    SaoPaulo,
}

impl City {
    /// Every city, for tests and listings.
    pub const ALL: [City; 9] = [
        City::Minneapolis,
        City::StPaul,
        City::Chicago,
        City::NewYork,
        City::London,
        City::Paris,
        City::Tokyo,
        City::Sydney,
        City::SaoPaulo,
    ];

    /// The name people write.
    pub fn name(self) -> &'static str {
        match self {
            City::Minneapolis => "Minneapolis",
            City::StPaul => "St Paul",
            City::Chicago => "Chicago",
            City::NewYork => "New York",
            City::London => "London",
            City::Paris => "Paris",
            City::Tokyo => "Tokyo",
            City::Sydney => "Sydney",
            City::SaoPaulo => "São Paulo",
        }
    }

    /// Its box: south, west, north, east.
    pub fn bbox(self) -> BBox {
        let (south, west, north, east) = match self {
            City::Minneapolis => (44.940, -93.320, 45.010, -93.200),
            City::StPaul => (44.910, -93.170, 44.990, -93.030),
            City::Chicago => (41.840, -87.700, 41.930, -87.600),
            City::NewYork => (40.700, -74.020, 40.800, -73.930),
            City::London => (51.480, -0.180, 51.540, -0.060),
            City::Paris => (48.820, 2.260, 48.900, 2.410),
            City::Tokyo => (35.640, 139.690, 35.720, 139.800),
            City::Sydney => (-33.910, 151.170, -33.850, 151.240),
            City::SaoPaulo => (-23.600, -46.690, -23.520, -46.600),
        };
        BBox {
            south,
            west,
            north,
            east,
        }
    }
}

/// A point in the local frame: metres east (`x`) and north (`y`) of the
/// box's centre.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    /// Metres east of the centre.
    pub x: f64,
    /// Metres north of the centre.
    pub y: f64,
}

impl Point {
    /// Euclidean distance, metres.
    pub fn distance(self, other: Point) -> f64 {
        (self.x - other.x).hypot(self.y - other.y)
    }
}

/// The equirectangular projection around the centre of a box.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    bbox: BBox,
    lat0: f64,
    lon0: f64,
    m_per_deg_lat: f64,
    m_per_deg_lon: f64,
    /// Half the box's width, metres: x lies in `[-half_width, half_width]`.
    pub half_width: f64,
    /// Half the box's height, metres: y lies in `[-half_height, half_height]`.
    pub half_height: f64,
}

impl Frame {
    /// The frame of `bbox`.
    pub fn new(bbox: BBox) -> Self {
        let lat0 = (bbox.south + bbox.north) / 2.0;
        let lon0 = (bbox.west + bbox.east) / 2.0;
        let m_per_deg_lat = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        let m_per_deg_lon = m_per_deg_lat * lat0.to_radians().cos();
        Self {
            bbox,
            lat0,
            lon0,
            m_per_deg_lat,
            m_per_deg_lon,
            half_width: (bbox.east - bbox.west) / 2.0 * m_per_deg_lon,
            half_height: (bbox.north - bbox.south) / 2.0 * m_per_deg_lat,
        }
    }

    /// The box.
    pub fn bbox(&self) -> BBox {
        self.bbox
    }

    /// The nearest point inside the box.
    pub fn clamp(&self, p: Point) -> Point {
        Point {
            x: p.x.clamp(-self.half_width, self.half_width),
            y: p.y.clamp(-self.half_height, self.half_height),
        }
    }

    /// Whether the point is inside the box.
    pub fn contains(&self, p: Point) -> bool {
        p.x.abs() <= self.half_width && p.y.abs() <= self.half_height
    }

    /// Latitude and longitude of a point, rounded to 7 decimals (about a
    /// centimetre: more would be noise) and kept inside the box, which
    /// rounding could otherwise leave by a hair.
    pub fn to_lat_lon(&self, p: Point) -> (f64, f64) {
        let round = |v: f64| (v * 1e7).round() / 1e7;
        let lat = round(self.lat0 + p.y / self.m_per_deg_lat);
        let lon = round(self.lon0 + p.x / self.m_per_deg_lon);
        (
            lat.clamp(self.bbox.south, self.bbox.north),
            lon.clamp(self.bbox.west, self.bbox.east),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_boxes() {
        let b: BBox = "44.94, -93.32, 45.01, -93.2".parse().expect("valid");
        assert_eq!(b, City::Minneapolis.bbox());
        for bad in [
            "1,2,3",
            "a,b,c,d",
            "45,-93,44,-92",       // south above north
            "44,-92,45,-93",       // west right of east
            "10,10,20,20",         // too large
            "86,0,87,1",           // polar
            "44,-93,45,NaN",       // not finite
            "44,-181,44.1,-180.5", // longitude out of range
        ] {
            assert!(bad.parse::<BBox>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn every_city_box_is_valid_and_city_sized() {
        for city in City::ALL {
            let b = city.bbox();
            BBox::new(b.south, b.west, b.north, b.east).expect("valid");
            let frame = Frame::new(b);
            for side in [frame.half_width * 2.0, frame.half_height * 2.0] {
                assert!((5_000.0..=13_000.0).contains(&side), "{city:?}: {side} m");
            }
        }
    }

    #[test]
    fn projection_round_trips_and_stays_inside() {
        let frame = Frame::new(City::Minneapolis.bbox());
        let b = frame.bbox();
        let (lat, lon) = frame.to_lat_lon(Point::default());
        assert!((lat - (b.south + b.north) / 2.0).abs() < 1e-7);
        assert!((lon - (b.west + b.east) / 2.0).abs() < 1e-7);
        // A kilometre north is about 0.009 degrees of latitude.
        let (north, _) = frame.to_lat_lon(Point { x: 0.0, y: 1000.0 });
        assert!((north - lat - 0.008_993).abs() < 1e-5, "{}", north - lat);
        // The corners map to the box's corners, and beyond them is clamped.
        let corner = Point {
            x: frame.half_width,
            y: frame.half_height,
        };
        let (lat, lon) = frame.to_lat_lon(corner);
        assert!((lat - b.north).abs() < 1e-6 && (lon - b.east).abs() < 1e-6);
        let (lat, lon) = frame.to_lat_lon(Point {
            x: corner.x + 1.0,
            y: -corner.y - 1.0,
        });
        assert!(b.contains(lat, lon));
    }
}
