//! Build script: turns `geodata/` into the reverse-geocoding index.
//!
//! Reads the GeoNames and Census files, keeps the rows that geodata/README.md
//! describes, arranges the ZIP points and the places into two implicit k-d
//! trees and writes them with a deduplicated string table to
//! `$OUT_DIR/index.bin`, in the layout of src/layout.rs. The library embeds
//! that file and reads it in place, so nothing is parsed at start-up.
//! Any surprise in the data (a column, a number, a too-long name) fails the
//! build with the file and line, rather than shipping a wrong index.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

#[allow(dead_code)] // build.rs uses only part of the shared module
#[path = "src/layout.rs"]
mod layout;
#[allow(dead_code)] // build.rs uses only part of the shared module
#[path = "src/sphere.rs"]
mod sphere;

use layout::{MAGIC, NODE_LEN};
use sphere::{EARTH_RADIUS_M, chord2, chord2_of_m, unit_vector};

const CITIES: &str = "geodata/geonames-cities1000.tsv";
const ADMIN1: &str = "geodata/geonames-admin1.tsv";
const POSTAL: &str = "geodata/geonames-postal-US.txt";
const ZCTA: &str = "geodata/us-zcta-2021.csv";
/// A ZIP's postal point becomes a second point when this far from its ZCTA point.
const SECOND_POINT_M: f64 = 5_000.0;

/// GeoNames feature codes that are not a place of their own: PPLX section of
/// a populated place, PPLH historical, PPLQ abandoned, PPLW destroyed,
/// PPLCH historical capital.
const SKIPPED_FEATURE_CODES: [&str; 5] = ["PPLX", "PPLH", "PPLQ", "PPLW", "PPLCH"];

/// A row without a feature code (added to GeoNames after the feature-code
/// snapshot) is kept only if no coded place lies within this distance: near
/// coded places such rows are mostly neighbourhoods ("Dupont Circle"), far
/// from them they are towns that fill a gap (rural Brazil, Côte d'Ivoire).
const UNCODED_MIN_GAP_M: f64 = 10_000.0;

/// ZCTAs of territories that GeoNames' US.txt does not cover, by ZIP prefix,
/// with the code used as both USPS state and ISO country (they coincide).
const TERRITORY_ZIP_PREFIXES: [(&str, &str); 9] = [
    ("006", "PR"),
    ("007", "PR"),
    ("009", "PR"),
    ("008", "VI"),
    ("96799", "AS"),
    ("9691", "GU"),
    ("9692", "GU"),
    ("9693", "GU"),
    ("9695", "MP"),
];

const MAX_CITY_CHARS: usize = 100;
const MAX_STATE_CHARS: usize = 100;
const MAX_ZIP_CHARS: usize = 16;
/// Strings are stored behind a u8 byte length (src/layout.rs).
const MAX_STRING_BYTES: usize = u8::MAX as usize;

/// The answer stored for one point.
#[derive(Clone, Debug)]
struct Label {
    city: String,
    state: String,
    zip: String,
    country: String,
}

/// One point of either k-d tree.
struct Entry {
    lat: f64,
    point: [f32; 3],
    axis: u8,
    label: Label,
}

impl Entry {
    fn new(lat: f64, lon: f64, label: Label) -> Self {
        Self {
            lat,
            point: unit_vector(lat, lon),
            axis: 0,
            label,
        }
    }
}

fn main() {
    for file in [
        CITIES,
        ADMIN1,
        POSTAL,
        ZCTA,
        "src/layout.rs",
        "src/sphere.rs",
        "build.rs",
    ] {
        println!("cargo:rerun-if-changed={file}");
    }

    let admin1 = read_admin1();
    let mut places = read_places(&admin1);
    let mut zips = read_zips(&places);

    arrange(&mut zips);
    arrange(&mut places);
    let index = encode(&zips, &places);

    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let out = out_dir.join("index.bin");
    fs::write(&out, &index).unwrap_or_else(|e| panic!("write {}: {e}", out.display()));
    // Not a cargo directive: lands in the build script's `output` file for reference.
    println!(
        "index: {} ZIP points, {} places, {} bytes",
        zips.len(),
        places.len(),
        index.len()
    );
}

// ---------------------------------------------------------------- reading

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Data lines of a file whose first line must be `header`, as (line number, fields).
fn lines_after_header<'a>(
    path: &'static str,
    text: &'a str,
    separator: char,
    header: &str,
) -> impl Iterator<Item = (usize, Vec<&'a str>)> {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    assert_eq!(first, header, "{path}: unexpected header");
    lines
        .enumerate()
        .map(move |(i, line)| (i + 2, line.split(separator).collect()))
}

fn parse_f64(path: &str, line: usize, field: &str) -> f64 {
    match field.parse::<f64>() {
        Ok(value) if value.is_finite() => value,
        _ => panic!("{path}:{line}: not a number: {field:?}"),
    }
}

fn parse_lat_lon(path: &str, line: usize, lat: &str, lon: &str) -> (f64, f64) {
    let (lat, lon) = (parse_f64(path, line, lat), parse_f64(path, line, lon));
    assert!(
        (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon),
        "{path}:{line}: coordinates out of range: {lat},{lon}"
    );
    (lat, lon)
}

/// `CC.ADMIN1` → admin1 name.
fn read_admin1() -> HashMap<String, String> {
    let text = read(ADMIN1);
    lines_after_header(ADMIN1, &text, '\t', "code\tname")
        .map(|(line, fields)| match fields[..] {
            [code, name] => (code.to_owned(), name.to_owned()),
            _ => panic!("{ADMIN1}:{line}: expected 2 columns"),
        })
        .collect()
}

/// State of a place: USPS codes where the ZIP data uses them, so the two
/// kinds of answer agree; elsewhere the GeoNames admin1 name, or "".
fn place_state(country: &str, admin1_code: &str, admin1: &HashMap<String, String>) -> String {
    if country == "US" {
        // For the US, GeoNames' admin1 code is the USPS state code.
        return admin1_code.to_owned();
    }
    if TERRITORY_ZIP_PREFIXES
        .iter()
        .any(|&(_, code)| code == country)
    {
        return country.to_owned();
    }
    admin1
        .get(&format!("{country}.{admin1_code}"))
        .cloned()
        .unwrap_or_default()
}

/// Places that may answer a query, in file order.
fn read_places(admin1: &HashMap<String, String>) -> Vec<Entry> {
    let text = read(CITIES);
    let header = "geonameid\tname\tlat\tlon\tcountry_code\tadmin1_code\tadmin2_code\tpopulation\tfeature_code";
    let mut coded = Vec::new();
    let mut uncoded = Vec::new();
    let mut skipped = 0;
    for (line, fields) in lines_after_header(CITIES, &text, '\t', header) {
        let [
            _id,
            name,
            lat,
            lon,
            country,
            admin1_code,
            _admin2,
            _population,
            feature,
        ] = fields[..]
        else {
            panic!("{CITIES}:{line}: expected 9 columns");
        };
        if SKIPPED_FEATURE_CODES.contains(&feature) {
            skipped += 1;
            continue;
        }
        let (lat, lon) = parse_lat_lon(CITIES, line, lat, lon);
        let label = Label {
            city: name.to_owned(),
            state: place_state(country, admin1_code, admin1),
            zip: String::new(),
            country: country.to_owned(),
        };
        check(&label, CITIES, line);
        let entry = Entry::new(lat, lon, label);
        if feature.is_empty() {
            uncoded.push(entry);
        } else {
            coded.push(entry);
        }
    }

    let uncoded_total = uncoded.len();
    let mut by_lat: Vec<&Entry> = coded.iter().collect();
    by_lat.sort_by(|a, b| a.lat.total_cmp(&b.lat));
    uncoded.retain(|entry| !any_within(&by_lat, entry, UNCODED_MIN_GAP_M));
    println!(
        "places: {} coded kept, {skipped} skipped by feature code, {} of {uncoded_total} uncoded kept",
        coded.len(),
        uncoded.len()
    );
    coded.extend(uncoded);
    coded
}

/// Whether any of `sorted_by_lat` lies within `radius_m` of `entry`.
fn any_within(sorted_by_lat: &[&Entry], entry: &Entry, radius_m: f64) -> bool {
    let max = chord2_of_m(radius_m);
    // Scan only the latitude band that can hold such a point (1% margin).
    let band_deg = (radius_m / EARTH_RADIUS_M).to_degrees() * 1.01;
    let start = sorted_by_lat.partition_point(|other| other.lat < entry.lat - band_deg);
    sorted_by_lat[start..]
        .iter()
        .take_while(|other| other.lat <= entry.lat + band_deg)
        .any(|other| chord2(other.point, entry.point) <= max)
}

/// A postal row: place name, USPS state, and its point when it has one.
type PostalRow<'a> = (&'a str, &'a str, Option<(f64, f64)>);

/// ZIP points: Census ZCTA internal points, named from GeoNames' postal file,
/// plus a ZIP's GeoNames postal coordinate as a second point where no ZCTA
/// point lies within [`SECOND_POINT_M`] of it. A large rural ZCTA's internal
/// point can lie far from its town (Tonopah, NV would get Silver Peak's ZIP
/// 50 km away); the postal point sits on the town. Where ZCTA points are dense
/// (downtowns) nothing is added, so a single-building ZIP whose postal point
/// is the city centre does not take over its neighbours.
fn read_zips(places: &[Entry]) -> Vec<Entry> {
    // ZIP → (place name, USPS state, postal point). A ZIP listed twice (96860,
    // 96863) has a Hawaii row and an FPO row without state: keep the first
    // with a state.
    let postal_text = read(POSTAL);
    let mut postal_rows: HashMap<&str, PostalRow> = HashMap::new();
    for (i, line) in postal_text.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [
            _country,
            zip,
            place,
            _state_name,
            state,
            _,
            _,
            _,
            _,
            lat,
            lon,
            ..,
        ] = fields[..]
        else {
            panic!("{POSTAL}:{}: expected 12 columns", i + 1);
        };
        if !state.is_empty() {
            let point = (!lat.is_empty() && !lon.is_empty())
                .then(|| parse_lat_lon(POSTAL, i + 1, lat, lon));
            postal_rows.entry(zip).or_insert((place, state, point));
        }
    }

    let text = read(ZCTA);
    let mut zips = Vec::new();
    let (mut territory_count, mut dropped) = (0, Vec::new());
    let mut postal = Vec::new();
    for (line, fields) in lines_after_header(ZCTA, &text, ',', "zcta,lat,lon") {
        let [zip, lat, lon] = fields[..] else {
            panic!("{ZCTA}:{line}: expected 3 columns");
        };
        let (lat, lon) = parse_lat_lon(ZCTA, line, lat, lon);
        let label = if let Some(&(city, state, point)) = postal_rows.get(zip) {
            let label = Label {
                city: city.to_owned(),
                state: state.to_owned(),
                zip: zip.to_owned(),
                country: "US".to_owned(),
            };
            if let Some((postal_lat, postal_lon)) = point {
                postal.push(Entry::new(postal_lat, postal_lon, label.clone()));
            }
            label
        } else if let Some(code) = territory(zip) {
            // No postal row: name it after the nearest place of the territory.
            territory_count += 1;
            let city = nearest_in_country(places, code, unit_vector(lat, lon))
                .unwrap_or_else(|| panic!("{ZCTA}:{line}: no {code} place for ZIP {zip}"));
            Label {
                city: city.label.city.clone(),
                state: code.to_owned(),
                zip: zip.to_owned(),
                country: code.to_owned(),
            }
        } else {
            // Neither a postal row nor a known territory: no name to give it.
            dropped.push(zip);
            continue;
        };
        check(&label, ZCTA, line);
        zips.push(Entry::new(lat, lon, label));
    }
    let mut by_lat: Vec<&Entry> = zips.iter().collect();
    by_lat.sort_by(|a, b| a.lat.total_cmp(&b.lat));
    postal.retain(|entry| !any_within(&by_lat, entry, SECOND_POINT_M));
    println!(
        "zips: {} ZCTA points ({territory_count} territory), {} postal points in gaps, dropped {dropped:?}",
        zips.len(),
        postal.len()
    );
    zips.extend(postal);
    zips
}

fn territory(zip: &str) -> Option<&'static str> {
    TERRITORY_ZIP_PREFIXES
        .iter()
        .find(|(prefix, _)| zip.starts_with(prefix))
        .map(|&(_, code)| code)
}

fn nearest_in_country<'a>(
    places: &'a [Entry],
    country: &str,
    point: [f32; 3],
) -> Option<&'a Entry> {
    places
        .iter()
        .filter(|place| place.label.country == country)
        .min_by(|a, b| chord2(a.point, point).total_cmp(&chord2(b.point, point)))
}

/// Fails the build on a string the API promises not to return.
fn check(label: &Label, path: &str, line: usize) {
    let chars = |s: &str| s.chars().count();
    let ok = !label.city.is_empty()
        && chars(&label.city) <= MAX_CITY_CHARS
        && chars(&label.state) <= MAX_STATE_CHARS
        && chars(&label.zip) <= MAX_ZIP_CHARS
        && label.country.len() == 2
        && label.country.bytes().all(|b| b.is_ascii_uppercase())
        && [&label.city, &label.state, &label.zip]
            .iter()
            .all(|s| s.len() <= MAX_STRING_BYTES);
    assert!(ok, "{path}:{line}: bad or too long string in {label:?}");
}

// ---------------------------------------------------------------- k-d tree

/// Reorders `entries` into an implicit balanced k-d tree: the median along
/// the widest axis at the middle, smaller ones before, larger ones after.
fn arrange(entries: &mut [Entry]) {
    if entries.len() <= 1 {
        return;
    }
    let axis = widest_axis(entries);
    let mid = entries.len() / 2;
    entries.select_nth_unstable_by(mid, |a, b| a.point[axis].total_cmp(&b.point[axis]));
    entries[mid].axis = u8::try_from(axis).expect("axis is 0, 1 or 2");
    let (before, rest) = entries.split_at_mut(mid);
    arrange(before);
    arrange(&mut rest[1..]);
}

fn widest_axis(entries: &[Entry]) -> usize {
    let spread = |axis: usize| {
        let (min, max) = entries.iter().fold((f32::MAX, f32::MIN), |(min, max), e| {
            (min.min(e.point[axis]), max.max(e.point[axis]))
        });
        max - min
    };
    (0..3)
        .max_by(|&a, &b| spread(a).total_cmp(&spread(b)))
        .expect("three axes")
}

// ---------------------------------------------------------------- encoding

/// Deduplicated strings and (state, country) regions.
#[derive(Default)]
struct Tables {
    strings: Vec<u8>,
    string_offsets: HashMap<String, u32>,
    regions: Vec<u8>,
    region_ids: HashMap<(String, String), u16>,
}

impl Tables {
    fn string(&mut self, s: &str) -> u32 {
        if let Some(&offset) = self.string_offsets.get(s) {
            return offset;
        }
        let offset = u32::try_from(self.strings.len()).expect("string table under 4 GiB");
        self.strings
            .push(u8::try_from(s.len()).expect("checked against MAX_STRING_BYTES"));
        self.strings.extend_from_slice(s.as_bytes());
        self.string_offsets.insert(s.to_owned(), offset);
        offset
    }

    fn region(&mut self, state: &str, country: &str) -> u16 {
        let key = (state.to_owned(), country.to_owned());
        if let Some(&id) = self.region_ids.get(&key) {
            return id;
        }
        let id = u16::try_from(self.region_ids.len()).expect("under 65536 regions");
        let (state, country) = (self.string(state), self.string(country));
        self.regions.extend_from_slice(&state.to_le_bytes());
        self.regions.extend_from_slice(&country.to_le_bytes());
        self.region_ids.insert(key, id);
        id
    }

    /// Encodes one tree: its node bytes and its label bytes (with the ZIP
    /// string if `with_zip`), adding strings and regions to the tables.
    fn tree(&mut self, entries: &[Entry], with_zip: bool) -> (Vec<u8>, Vec<u8>) {
        let mut nodes = Vec::with_capacity(entries.len() * NODE_LEN);
        let mut labels = Vec::new();
        for entry in entries {
            for coordinate in entry.point {
                nodes.extend_from_slice(&coordinate.to_le_bytes());
            }
            nodes.push(entry.axis);
            let label = &entry.label;
            labels.extend_from_slice(&self.string(&label.city).to_le_bytes());
            labels.extend_from_slice(&self.region(&label.state, &label.country).to_le_bytes());
            if with_zip {
                labels.extend_from_slice(&self.string(&label.zip).to_le_bytes());
            }
        }
        (nodes, labels)
    }
}

fn encode(zips: &[Entry], places: &[Entry]) -> Vec<u8> {
    let mut tables = Tables::default();
    tables.string(""); // offset 0: the empty string
    let (zip_nodes, zip_labels) = tables.tree(zips, true);
    let (place_nodes, place_labels) = tables.tree(places, false);

    let count = |n: usize| u32::try_from(n).expect("count fits u32").to_le_bytes();
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&count(zips.len()));
    out.extend_from_slice(&count(places.len()));
    out.extend_from_slice(&count(tables.region_ids.len()));
    out.extend_from_slice(&count(tables.strings.len()));
    for section in [
        &zip_nodes,
        &zip_labels,
        &place_nodes,
        &place_labels,
        &tables.regions,
        &tables.strings,
    ] {
        out.extend_from_slice(section);
    }
    out
}
