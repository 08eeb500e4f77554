//! Known places with their real city, state, ZIP and country.
//!
//! Expected values are facts about the location (addresses, maps), not what
//! the code printed. Where the nearest-point model gives a defensible
//! neighbour instead (an adjacent ZIP, the USPS name of a ZIP), the comment
//! says so and the case asserts that.

use pact_geocoder::{Place, reverse};

/// What the ZIP must be.
enum Zip {
    Is(&'static str),
    OneOf(&'static [&'static str]),
    /// Not sure enough of the ZIP area at this point to assert one.
    NotChecked,
}

struct Case {
    name: &'static str,
    lat: f64,
    lon: f64,
    city: &'static str,
    state: &'static str,
    zip: Zip,
    country: &'static str,
}

const fn case(
    name: &'static str,
    (lat, lon): (f64, f64),
    (city, state): (&'static str, &'static str),
    zip: Zip,
    country: &'static str,
) -> Case {
    Case {
        name,
        lat,
        lon,
        city,
        state,
        zip,
        country,
    }
}

const KNOWN: &[Case] = &[
    // --- United States: ZIP answers
    // Minneapolis City Hall (350 S 5th St, 55415). The ZCTA internal point of
    // 55402 (central business district, 520 m) is nearer than that of 55415
    // (670 m), so the nearest-point model may answer the adjacent 55402. The
    // PO-box ZIP 55488 (postal point 260 m away) must never be the answer.
    case(
        "Minneapolis downtown",
        (44.9778, -93.2650),
        ("Minneapolis", "MN"),
        Zip::OneOf(&["55415", "55402"]),
        "US",
    ),
    case(
        "US Bank Stadium, Minneapolis (401 Chicago Ave)",
        (44.9736, -93.2575),
        ("Minneapolis", "MN"),
        Zip::Is("55415"),
        "US",
    ),
    // In Bloomington, but "Minneapolis" is the USPS city name of 55425.
    case(
        "Mall of America",
        (44.8549, -93.2422),
        ("Minneapolis", "MN"),
        Zip::Is("55425"),
        "US",
    ),
    case(
        "Macalester College, St Paul (1600 Grand Ave)",
        (44.9379, -93.1691),
        ("Saint Paul", "MN"),
        Zip::Is("55105"),
        "US",
    ),
    case(
        "University of Minnesota Duluth",
        (46.8185, -92.0840),
        ("Duluth", "MN"),
        Zip::Is("55812"),
        "US",
    ),
    case(
        "University of Alaska Anchorage (3211 Providence Dr)",
        (61.1900, -149.8200),
        ("Anchorage", "AK"),
        Zip::Is("99508"),
        "US",
    ),
    case(
        "Waikiki, Honolulu",
        (21.2778, -157.8290),
        ("Honolulu", "HI"),
        Zip::Is("96815"),
        "US",
    ),
    case(
        "Old San Juan, Puerto Rico",
        (18.4655, -66.1057),
        ("San Juan", "PR"),
        Zip::Is("00901"),
        "PR",
    ),
    case(
        "Charlotte Amalie, St Thomas, US Virgin Islands",
        (18.3419, -64.9307),
        ("Charlotte Amalie", "VI"),
        Zip::Is("00802"),
        "VI",
    ),
    case(
        "Campus Martius, Detroit",
        (42.3314, -83.0458),
        ("Detroit", "MI"),
        Zip::Is("48226"),
        "US",
    ),
    case(
        "Chicago City Hall",
        (41.8837, -87.6319),
        ("Chicago", "IL"),
        Zip::Is("60602"),
        "US",
    ),
    case(
        "Wrigley Field, Chicago",
        (41.9484, -87.6553),
        ("Chicago", "IL"),
        Zip::Is("60613"),
        "US",
    ),
    case(
        "Fenway Park, Boston",
        (42.3467, -71.0972),
        ("Boston", "MA"),
        Zip::Is("02215"),
        "US",
    ),
    case(
        "San Francisco City Hall",
        (37.7793, -122.4193),
        ("San Francisco", "CA"),
        Zip::Is("94102"),
        "US",
    ),
    case(
        "Texas State Capitol, Austin",
        (30.2747, -97.7404),
        ("Austin", "TX"),
        Zip::Is("78701"),
        "US",
    ),
    case(
        "Central Park, New York",
        (40.7829, -73.9654),
        ("New York", "NY"),
        Zip::NotChecked,
        "US",
    ),
    // Downtown San Diego is ringed by single-site military ZIPs (92132 Naval
    // Base, 92134 Naval Medical Center) whose internal points can be nearer.
    case(
        "Downtown San Diego",
        (32.7157, -117.1611),
        ("San Diego", "CA"),
        Zip::NotChecked,
        "US",
    ),
    // Part of the City of San Diego, on the border; USPS calls 92173 San Ysidro.
    case(
        "San Ysidro, San Diego",
        (32.5556, -117.0470),
        ("San Ysidro", "CA"),
        Zip::Is("92173"),
        "US",
    ),
    case(
        "El Paso City Hall",
        (31.7590, -106.4870),
        ("El Paso", "TX"),
        Zip::Is("79901"),
        "US",
    ),
    case(
        "Niagara Falls, New York",
        (43.0962, -79.0377),
        ("Niagara Falls", "NY"),
        Zip::Is("14301"),
        "US",
    ),
    case(
        "Downtown Las Vegas",
        (36.1699, -115.1398),
        ("Las Vegas", "NV"),
        Zip::Is("89101"),
        "US",
    ),
    case(
        "Bethel, rural Alaska",
        (60.7922, -161.7558),
        ("Bethel", "AK"),
        Zip::Is("99559"),
        "US",
    ),
    // Kotzebue's ZCTA internal point lies about 75 km inland; the town gets
    // its ZIP from the postal point added where no ZCTA point is near.
    case(
        "Kotzebue, rural Alaska",
        (66.8983, -162.5967),
        ("Kotzebue", "AK"),
        Zip::Is("99752"),
        "US",
    ),
    // Rural towns whose large ZCTA has its internal point far from the town.
    case(
        "Tonopah, Nevada",
        (38.0672, -117.2301),
        ("Tonopah", "NV"),
        Zip::Is("89049"),
        "US",
    ),
    case(
        "Ely, Nevada",
        (39.2474, -114.8886),
        ("Ely", "NV"),
        Zip::Is("89301"),
        "US",
    ),
    case(
        "Winnemucca, Nevada",
        (40.9730, -117.7357),
        ("Winnemucca", "NV"),
        Zip::Is("89445"),
        "US",
    ),
    // Downtown Fairbanks (99701) is nearer to the internal point of Fort
    // Wainwright's ZCTA, the army post bordering the city: a nearest-centroid
    // geocoder gives that neighbour (no polygons here).
    case(
        "Fairbanks, Alaska",
        (64.8378, -147.7164),
        ("Fort Wainwright", "AK"),
        Zip::Is("99703"),
        "US",
    ),
    // Empty desert in Nye County: only the state and country are sure.
    case(
        "Nevada desert",
        (38.8, -116.0),
        ("", "NV"),
        Zip::NotChecked,
        "US",
    ),
    // --- Across the borders: place answers
    case(
        "Toronto City Hall",
        (43.6534, -79.3841),
        ("Toronto", "Ontario"),
        Zip::Is(""),
        "CA",
    ),
    case(
        "Devonshire Mall, Windsor",
        (42.2745, -83.0020),
        ("Windsor", "Ontario"),
        Zip::Is(""),
        "CA",
    ),
    case(
        "Clifton Hill, Niagara Falls, Ontario",
        (43.0896, -79.0849),
        ("Niagara Falls", "Ontario"),
        Zip::Is(""),
        "CA",
    ),
    // Downtown Vancouver borders the West End neighbourhood, a GeoNames place
    // whose point is nearer than Vancouver's own.
    case(
        "Downtown Vancouver",
        (49.2827, -123.1207),
        ("West End", "British Columbia"),
        Zip::Is(""),
        "CA",
    ),
    case(
        "Centro, Tijuana",
        (32.5327, -117.0363),
        ("Tijuana", "Baja California"),
        Zip::Is(""),
        "MX",
    ),
    case(
        "Ciudad Juárez",
        (31.6904, -106.4245),
        ("Ciudad Juárez", "Chihuahua"),
        Zip::Is(""),
        "MX",
    ),
    case(
        "Zócalo, Mexico City",
        (19.4326, -99.1332),
        ("Mexico City", "Mexico City"),
        Zip::Is(""),
        "MX",
    ),
    // --- Elsewhere
    case(
        "Trafalgar Square, London",
        (51.5080, -0.1281),
        ("London", "England"),
        Zip::Is(""),
        "GB",
    ),
    case(
        "Notre-Dame, Paris",
        (48.8530, 2.3499),
        ("Paris", "Île-de-France"),
        Zip::Is(""),
        "FR",
    ),
    // "State of Berlin" is GeoNames' admin1 name for the Land Berlin.
    case(
        "Alexanderplatz, Berlin",
        (52.5219, 13.4132),
        ("Berlin", "State of Berlin"),
        Zip::Is(""),
        "DE",
    ),
    case(
        "Tokyo Station",
        (35.6812, 139.7671),
        ("Tokyo", "Tokyo"),
        Zip::Is(""),
        "JP",
    ),
    case(
        "Sydney Town Hall",
        (-33.8732, 151.2061),
        ("Sydney", "New South Wales"),
        Zip::Is(""),
        "AU",
    ),
    case(
        "Praça da Sé, São Paulo",
        (-23.5505, -46.6340),
        ("São Paulo", "São Paulo"),
        Zip::Is(""),
        "BR",
    ),
    case(
        "Cape Town city centre",
        (-33.9249, 18.4241),
        ("Cape Town", "Western Cape"),
        Zip::Is(""),
        "ZA",
    ),
    case(
        "Hallgrímskirkja, Reykjavík",
        (64.1417, -21.9266),
        ("Reykjavík", "Capital Region"),
        Zip::Is(""),
        "IS",
    ),
    case(
        "Plaza de Mayo, Buenos Aires",
        (-34.6037, -58.3816),
        ("Buenos Aires", "Buenos Aires F.D."),
        Zip::Is(""),
        "AR",
    ),
    // The data has no admin1 for Singapore: state is "".
    case(
        "Singapore",
        (1.2903, 103.8520),
        ("Singapore", ""),
        Zip::Is(""),
        "SG",
    ),
    // Taveuni (Northern Division, Fiji) straddles the antimeridian and has no
    // town in cities1000; the nearest is Savusavu on Vanua Levu, across the
    // Somosomo Strait, which both sides of the 180th meridian must find.
    case(
        "Taveuni, west of 180°",
        (-16.79, 179.99),
        ("Savusavu", "Northern"),
        Zip::Is(""),
        "FJ",
    ),
    case(
        "Taveuni, east of 180°",
        (-16.86, -179.96),
        ("Savusavu", "Northern"),
        Zip::Is(""),
        "FJ",
    ),
];

/// Points more than `PLACE_MAX_KM` from any place and `ZIP_MAX_KM` from any ZIP.
const NOWHERE: &[(&str, f64, f64)] = &[
    ("open Atlantic", 30.0, -40.0),
    ("Point Nemo, South Pacific", -48.8767, -123.3933),
    ("North Pole", 90.0, 0.0),
    ("North Pole, other longitude", 90.0, 180.0),
    ("South Pole", -90.0, 0.0),
    ("South Pole, other longitude", -90.0, -180.0),
    // Gates of the Arctic: no town in cities1000 within 100 km.
    ("Alaska wilderness", 67.5, -153.5),
];

fn mismatch(case: &Case, got: Option<Place>) -> Option<String> {
    let Some(place) = got else {
        return Some(format!("{}: got None", case.name));
    };
    let zip_ok = match case.zip {
        Zip::Is(zip) => place.zipcode == zip,
        Zip::OneOf(zips) => zips.contains(&place.zipcode),
        Zip::NotChecked => true,
    };
    let ok = (case.city.is_empty() || place.city == case.city)
        && place.state == case.state
        && zip_ok
        && place.country == case.country;
    (!ok).then(|| format!("{}: got {place:?}", case.name))
}

#[test]
fn known_points_have_their_real_address() {
    assert!(KNOWN.len() >= 30);
    let failures: Vec<String> = KNOWN
        .iter()
        .filter_map(|case| mismatch(case, reverse(case.lat, case.lon)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn open_sea_poles_and_wilderness_have_no_address() {
    for &(name, lat, lon) in NOWHERE {
        assert_eq!(reverse(lat, lon), None, "{name}");
    }
}

#[test]
fn bad_coordinates_have_no_address() {
    let bad = [
        (f64::NAN, 0.0),
        (0.0, f64::NAN),
        (f64::NAN, f64::NAN),
        (91.0, 0.0),
        (-91.0, 0.0),
        (0.0, 181.0),
        (0.0, -181.0),
        (90.000_001, -93.0),
        (f64::INFINITY, 0.0),
        (0.0, f64::NEG_INFINITY),
    ];
    for (lat, lon) in bad {
        assert_eq!(reverse(lat, lon), None, "({lat}, {lon})");
    }
}
