//! The movement model: phones going about their day in a city, and the
//! contacts they report.
//!
//! **Places.** A city has 60 places, made from the seed: 24 *homes* (blocks
//! of flats, 40 m across-ish) spread evenly over the box, and 36 places
//! people go to, denser near the centre as in a real city: 10 offices, 2
//! campuses, 12 shops, 8 cafés and bars, 4 parks. Each has a radius (12 m
//! for a bar to 120 m for a campus), a popularity, and how long people stay
//! (a few minutes in a shop, up to half an hour at an office or at home).
//!
//! **Phones.** Each phone has a home and alternates two states (random
//! waypoint between places):
//! - *dwelling* at a place: it stands still for 10 s to 3 min (at a desk, a
//!   table, a till), then strolls at 0.3–0.8 m/s to another spot of the same
//!   place, and so on until its time there is up;
//! - *travelling* in a straight line to the next place: home with
//!   probability 0.35 when away from it, otherwise a place picked by
//!   popularity; on foot at 1.2–1.6 m/s when the trip is under 1.5 km,
//!   otherwise by car at 8–14 m/s.
//!
//! At the start every phone is at home or out somewhere, part-way through
//! its stay, so contacts flow from the first tick.
//!
//! **Time.** A tick is one second of simulated time. The simulation runs as
//! many ticks as it takes to produce the contacts asked for, so it usually
//! runs much faster than real time: simulated time is a model of how people
//! move, wall-clock time is when the contacts are reported.
//!
//! **Contacts.** After every tick, every pair of phones within the radius (2
//! m by default, [`super::grid`]) is a contact, reported at most once per
//! pair per cooldown (15 min of simulated time by default), at the midpoint
//! of the two phones. Person ids are the phone's index + 1, lower id first.
//!
//! **Limits.** Places are not snapped to land or streets (a home may stand in
//! a river), cars drive straight lines, and nobody's day has a rhythm: good
//! enough to exercise contact tracing, not to study epidemics. Phones never
//! leave the box: every place and spot is inside it, and so is every straight
//! line between two of them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::RangeInclusive;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::geo::{BBox, Frame, Point};
use super::grid::Grid;

/// Walking speed on trips, m/s.
pub const WALK_SPEED: RangeInclusive<f64> = 1.2..=1.6;
/// Driving speed on trips, m/s (about 30–50 km/h through a city).
pub const DRIVE_SPEED: RangeInclusive<f64> = 8.0..=14.0;
/// The fastest a phone ever moves in one tick, metres.
pub const MAX_SPEED: f64 = 14.0;
/// Trips up to this long are walked, longer ones driven, metres.
pub const LONGEST_WALK_M: f64 = 1_500.0;
/// Strolling speed within a place, m/s.
pub const STROLL_SPEED: RangeInclusive<f64> = 0.3..=0.8;
/// How long a phone stands still at a spot, seconds.
pub const PAUSE_S: RangeInclusive<u32> = 10..=180;
/// Chance of going home next, when away from home.
pub const GO_HOME: f64 = 0.35;

/// What a place is; decides its size, where it is, and how long people stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Where a phone sleeps; each phone has one.
    Home,
    /// An office building.
    Office,
    /// A university or hospital campus.
    Campus,
    /// A shop or supermarket.
    Shop,
    /// A café, restaurant or bar.
    Bar,
    /// A park or square.
    Park,
}

/// How many places of a kind, and what they are like.
struct KindSpec {
    kind: Kind,
    count: usize,
    radius_m: f64,
    /// Standard deviation of the distance from the centre, as a fraction of
    /// the box's half-size; `None` for evenly spread.
    spread: Option<f64>,
    /// Relative popularity as a destination (homes are only one's own).
    weight: f64,
    /// Stay, seconds.
    stay_s: RangeInclusive<u64>,
}

const KINDS: [KindSpec; 6] = [
    KindSpec {
        kind: Kind::Home,
        count: 24,
        radius_m: 40.0,
        spread: None,
        weight: 0.0,
        stay_s: 8 * 60..=25 * 60,
    },
    KindSpec {
        kind: Kind::Office,
        count: 10,
        radius_m: 30.0,
        spread: Some(0.15),
        weight: 3.0,
        stay_s: 10 * 60..=30 * 60,
    },
    KindSpec {
        kind: Kind::Campus,
        count: 2,
        radius_m: 120.0,
        spread: Some(0.25),
        weight: 4.0,
        stay_s: 10 * 60..=30 * 60,
    },
    KindSpec {
        kind: Kind::Shop,
        count: 12,
        radius_m: 20.0,
        spread: Some(0.25),
        weight: 2.0,
        stay_s: 3 * 60..=10 * 60,
    },
    KindSpec {
        kind: Kind::Bar,
        count: 8,
        radius_m: 12.0,
        spread: Some(0.2),
        weight: 2.0,
        stay_s: 5 * 60..=20 * 60,
    },
    KindSpec {
        kind: Kind::Park,
        count: 4,
        radius_m: 80.0,
        spread: Some(0.4),
        weight: 1.0,
        stay_s: 5 * 60..=15 * 60,
    },
];

/// A place phones go to.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    /// What it is.
    pub kind: Kind,
    /// Its centre.
    pub centre: Point,
    /// People spread over a disc of this radius, metres.
    pub radius: f64,
}

/// The places and how phones choose among them.
#[derive(Debug)]
struct Places {
    all: Vec<Place>,
    homes: Vec<usize>,
    /// Places other than homes, with the running sum of their popularity.
    outings: Vec<(usize, f64)>,
}

impl Places {
    fn generate(frame: &Frame, rng: &mut ChaCha8Rng) -> Self {
        let mut all = Vec::new();
        let (mut homes, mut outings) = (Vec::new(), Vec::new());
        let mut total = 0.0;
        for spec in &KINDS {
            for _ in 0..spec.count {
                let centre = match spec.spread {
                    None => Point {
                        x: rng.random_range(-1.0..=1.0) * frame.half_width,
                        y: rng.random_range(-1.0..=1.0) * frame.half_height,
                    },
                    Some(sigma) => {
                        let (gx, gy) = gaussian_pair(rng);
                        Point {
                            x: gx * sigma * frame.half_width,
                            y: gy * sigma * frame.half_height,
                        }
                    }
                };
                // Keep the whole place inside when the box allows it.
                let margin_x = spec.radius_m.min(frame.half_width);
                let margin_y = spec.radius_m.min(frame.half_height);
                let centre = Point {
                    x: centre
                        .x
                        .clamp(-frame.half_width + margin_x, frame.half_width - margin_x),
                    y: centre
                        .y
                        .clamp(-frame.half_height + margin_y, frame.half_height - margin_y),
                };
                let index = all.len();
                all.push(Place {
                    kind: spec.kind,
                    centre,
                    radius: spec.radius_m,
                });
                if spec.kind == Kind::Home {
                    homes.push(index);
                } else {
                    // Some places of a kind draw more people than others.
                    total += spec.weight * rng.random_range(0.5..=1.5);
                    outings.push((index, total));
                }
            }
        }
        Self {
            all,
            homes,
            outings,
        }
    }

    /// A place to go out to, by popularity.
    fn pick_outing(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.outings.last().map_or(0.0, |&(_, sum)| sum);
        let draw = rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
        let at = self.outings.partition_point(|&(_, sum)| sum <= draw);
        self.outings
            .get(at)
            .or(self.outings.last())
            .map_or(0, |&(place, _)| place)
    }

    /// Where a phone goes when its stay at `current` is over.
    fn next_destination(&self, current: usize, home: usize, rng: &mut ChaCha8Rng) -> usize {
        if current != home && rng.random_bool(GO_HOME) {
            return home;
        }
        // A few tries to go somewhere else than here; home if it keeps failing.
        for _ in 0..4 {
            let place = self.pick_outing(rng);
            if place != current {
                return place;
            }
        }
        home
    }

    /// A random spot of a place (uniform over its disc), inside the box.
    fn spot(&self, place: usize, frame: &Frame, rng: &mut ChaCha8Rng) -> Point {
        let p = self.all[place];
        let r = p.radius * rng.random::<f64>().sqrt();
        let angle = rng.random_range(0.0..std::f64::consts::TAU);
        frame.clamp(Point {
            x: p.centre.x + r * angle.cos(),
            y: p.centre.y + r * angle.sin(),
        })
    }

    fn stay(&self, place: usize, rng: &mut ChaCha8Rng) -> u64 {
        let kind = self.all[place].kind;
        let spec = KINDS.iter().find(|s| s.kind == kind);
        spec.map_or(600, |s| rng.random_range(s.stay_s.clone()))
    }
}

/// Two independent standard normal values (Box–Muller).
fn gaussian_pair(rng: &mut ChaCha8Rng) -> (f64, f64) {
    let u: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let angle = rng.random_range(0.0..std::f64::consts::TAU);
    let r = (-2.0 * u.ln()).sqrt();
    (r * angle.cos(), r * angle.sin())
}

/// Hashes a pair key (`low << 32 | high`) with the SplitMix64 finaliser.
/// std's SipHash resists hash flooding, which a simulation need not fear,
/// at several times the cost; this one still spreads every bit.
#[derive(Debug, Default, Clone, Copy)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }

    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Last tick each pair was reported, by pair key.
type LastReported = HashMap<u64, u64, BuildHasherDefault<PairHasher>>;

/// One phone's state (its position is kept apart, for the grid).
#[derive(Debug, Clone, Copy)]
struct Phone {
    home: usize,
    /// The place it is at, or travelling to.
    place: usize,
    travelling: bool,
    /// Where it is walking or driving to.
    target: Point,
    /// Metres per tick toward `target`.
    speed: f64,
    /// Ticks left standing still.
    pause: u32,
    /// When its stay at `place` ends.
    leave_at: u64,
}

impl Phone {
    fn step(
        &mut self,
        at: &mut Point,
        places: &Places,
        frame: &Frame,
        rng: &mut ChaCha8Rng,
        now: u64,
    ) {
        if !self.travelling && now >= self.leave_at {
            self.depart(*at, places, frame, rng);
        } else if self.pause > 0 {
            self.pause -= 1;
            return;
        }
        let (dx, dy) = (self.target.x - at.x, self.target.y - at.y);
        let distance = (dx * dx + dy * dy).sqrt();
        if distance <= self.speed {
            *at = self.target;
            self.arrive(places, frame, rng, now);
        } else {
            let f = self.speed / distance;
            *at = frame.clamp(Point {
                x: at.x + dx * f,
                y: at.y + dy * f,
            });
        }
    }

    fn depart(&mut self, at: Point, places: &Places, frame: &Frame, rng: &mut ChaCha8Rng) {
        self.place = places.next_destination(self.place, self.home, rng);
        self.target = places.spot(self.place, frame, rng);
        self.speed = if at.distance(self.target) <= LONGEST_WALK_M {
            rng.random_range(WALK_SPEED)
        } else {
            rng.random_range(DRIVE_SPEED)
        };
        self.travelling = true;
        self.pause = 0;
    }

    /// At a spot: stand a while, then stroll to another spot of the place.
    fn arrive(&mut self, places: &Places, frame: &Frame, rng: &mut ChaCha8Rng, now: u64) {
        if self.travelling {
            self.travelling = false;
            self.leave_at = now + places.stay(self.place, rng);
        }
        self.pause = rng.random_range(PAUSE_S);
        self.target = places.spot(self.place, frame, rng);
        self.speed = rng.random_range(STROLL_SPEED);
    }
}

/// What the model is asked to simulate.
#[derive(Debug, Clone, Copy)]
pub struct WorldConfig {
    /// The area.
    pub bbox: BBox,
    /// How many phones (at least 2).
    pub phones: usize,
    /// Contact distance, metres (positive).
    pub radius: f64,
    /// Least simulated time between two reports of the same pair.
    pub cooldown: Duration,
    /// Everything random comes from this.
    pub seed: u64,
}

/// One contact, as the model reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimContact {
    /// Simulated second it happened in (the first tick is 1).
    pub tick: u64,
    /// The lower person id.
    pub mmid1: i64,
    /// The higher person id.
    pub mmid2: i64,
    /// Latitude of the midpoint, degrees.
    pub lat: f64,
    /// Longitude of the midpoint, degrees.
    pub lon: f64,
}

/// The simulated city.
#[derive(Debug)]
pub struct World {
    frame: Frame,
    places: Places,
    phones: Vec<Phone>,
    positions: Vec<Point>,
    grid: Grid,
    pairs: Vec<(u32, u32)>,
    /// Last tick each pair (`low << 32 | high`) was reported.
    last_reported: LastReported,
    cooldown: u64,
    rng: ChaCha8Rng,
    now: u64,
}

impl World {
    /// Builds the places and puts the phones in them; `config` is trusted
    /// (`pact simulate` checks its arguments).
    pub fn new(config: &WorldConfig) -> Self {
        // ChaCha8: the same stream on every platform and release of rand.
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let frame = Frame::new(config.bbox);
        let places = Places::generate(&frame, &mut rng);
        let mut phones = Vec::with_capacity(config.phones);
        let mut positions = Vec::with_capacity(config.phones);
        for _ in 0..config.phones {
            let home = places.homes[rng.random_range(0..places.homes.len())];
            let place = if rng.random_bool(0.5) {
                home
            } else {
                places.pick_outing(&mut rng)
            };
            positions.push(places.spot(place, &frame, &mut rng));
            let stay = places.stay(place, &mut rng);
            phones.push(Phone {
                home,
                place,
                travelling: false,
                target: places.spot(place, &frame, &mut rng),
                speed: rng.random_range(STROLL_SPEED),
                pause: rng.random_range(0..=*PAUSE_S.end()),
                // Part-way through its stay.
                leave_at: rng.random_range(0..=stay),
            });
        }
        Self {
            frame,
            places,
            phones,
            positions,
            grid: Grid::new(config.radius),
            pairs: Vec::new(),
            last_reported: LastReported::default(),
            cooldown: config.cooldown.as_secs(),
            rng,
            now: 0,
        }
    }

    /// Advances one second and appends that second's contacts to `out`.
    pub fn tick(&mut self, out: &mut Vec<SimContact>) {
        self.now += 1;
        let now = self.now;
        for (phone, at) in self.phones.iter_mut().zip(self.positions.iter_mut()) {
            phone.step(at, &self.places, &self.frame, &mut self.rng, now);
        }
        self.grid.pairs(&self.positions, &mut self.pairs);
        for &(a, b) in &self.pairs {
            if self.cooldown > 0 {
                match self.last_reported.entry(u64::from(a) << 32 | u64::from(b)) {
                    Entry::Occupied(mut last) if now - *last.get() >= self.cooldown => {
                        last.insert(now);
                    }
                    Entry::Occupied(_) => continue,
                    Entry::Vacant(slot) => {
                        slot.insert(now);
                    }
                }
            }
            let (pa, pb) = (self.positions[a as usize], self.positions[b as usize]);
            let (lat, lon) = self.frame.to_lat_lon(Point {
                x: (pa.x + pb.x) / 2.0,
                y: (pa.y + pb.y) / 2.0,
            });
            out.push(SimContact {
                tick: now,
                mmid1: i64::from(a) + 1,
                mmid2: i64::from(b) + 1,
                lat,
                lon,
            });
        }
        // Forget pairs whose cooldown is over, so memory follows the recent
        // contacts rather than every pair ever met. A new table rather than
        // `retain`: the tombstones `retain` leaves make every later miss
        // probe far (measured: lookups became most of a tick's time).
        if self.cooldown > 0 && now.is_multiple_of(self.cooldown.max(60)) {
            let cooldown = self.cooldown;
            self.last_reported = std::mem::take(&mut self.last_reported)
                .into_iter()
                .filter(|&(_, at)| now - at < cooldown)
                .collect();
        }
    }

    /// Simulated seconds so far.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Where every phone is, in the local frame.
    pub fn positions(&self) -> &[Point] {
        &self.positions
    }

    /// The places.
    pub fn places(&self) -> Vec<Place> {
        self.places.all.clone()
    }

    /// The projection.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::geo::City;
    use crate::simulate::grid::within;

    fn config(seed: u64, phones: usize) -> WorldConfig {
        WorldConfig {
            bbox: City::Minneapolis.bbox(),
            phones,
            radius: 2.0,
            cooldown: Duration::from_secs(15 * 60),
            seed,
        }
    }

    fn first_contacts(config: &WorldConfig, n: usize) -> Vec<SimContact> {
        let mut world = World::new(config);
        let mut out = Vec::new();
        while out.len() < n {
            world.tick(&mut out);
            assert!(world.now() < 100_000, "no contacts from {config:?}");
        }
        out.truncate(n);
        out
    }

    #[test]
    fn the_same_seed_gives_the_same_contacts_and_another_seed_others() {
        let a = first_contacts(&config(7, 2000), 3000);
        assert_eq!(a, first_contacts(&config(7, 2000), 3000));
        assert_ne!(a, first_contacts(&config(8, 2000), 3000));
    }

    #[test]
    fn places_are_inside_the_box_and_denser_near_the_centre() {
        let world = World::new(&config(1, 10));
        let places = world.places();
        assert_eq!(places.len(), 60);
        let frame = world.frame();
        assert!(places.iter().all(|p| frame.contains(p.centre)));
        let mean_distance = |homes: bool| {
            let picked: Vec<f64> = places
                .iter()
                .filter(|p| (p.kind == Kind::Home) == homes)
                .map(|p| p.centre.distance(Point::default()))
                .collect();
            picked.iter().sum::<f64>() / picked.len() as f64
        };
        assert!(mean_distance(false) < mean_distance(true) * 0.7);
    }

    /// Runs a world tick by tick, checking what must hold at every tick.
    #[test]
    fn contacts_are_real_distinct_rate_limited_and_phones_stay_in_reach() {
        let cfg = config(42, 1500);
        let mut world = World::new(&cfg);
        let bbox = cfg.bbox;
        let mut last: HashMap<(i64, i64), u64> = HashMap::new();
        let mut out = Vec::new();
        let mut total = 0;
        let mut moved_far = 0usize;
        for _ in 0..1800 {
            let before = world.positions().to_vec();
            out.clear();
            world.tick(&mut out);
            for (b, a) in before.iter().zip(world.positions()) {
                let step = b.distance(*a);
                assert!(step <= MAX_SPEED + 1e-9, "moved {step} m in one second");
                assert!(world.frame().contains(*a), "left the box: {a:?}");
                moved_far += usize::from(step > *WALK_SPEED.end());
            }
            for c in &out {
                assert!(
                    c.mmid1 >= 1 && c.mmid1 < c.mmid2 && c.mmid2 <= 1500,
                    "{c:?}"
                );
                assert!(c.lat.is_finite() && c.lon.is_finite() && bbox.contains(c.lat, c.lon));
                let (pa, pb) = (
                    world.positions()[(c.mmid1 - 1) as usize],
                    world.positions()[(c.mmid2 - 1) as usize],
                );
                assert!(within(pa, pb, 4.0), "{c:?} is {} m apart", pa.distance(pb));
                if let Some(&previous) = last.get(&(c.mmid1, c.mmid2)) {
                    assert!(
                        c.tick - previous >= 900,
                        "{c:?} again after {}",
                        c.tick - previous
                    );
                }
                last.insert((c.mmid1, c.mmid2), c.tick);
            }
            total += out.len();
        }
        assert!(
            total > 1000,
            "only {total} contacts in 30 simulated minutes"
        );
        assert!(moved_far > 0, "nobody drove");
    }

    #[test]
    fn without_cooldown_a_pair_standing_together_is_reported_every_tick() {
        let cfg = WorldConfig {
            cooldown: Duration::ZERO,
            ..config(3, 2000)
        };
        let contacts = first_contacts(&cfg, 20_000);
        let mut seen: HashMap<(i64, i64), usize> = HashMap::new();
        for c in &contacts {
            *seen.entry((c.mmid1, c.mmid2)).or_default() += 1;
        }
        assert!(seen.values().any(|&n| n > 1));
    }

    #[test]
    fn a_tiny_box_keeps_everyone_inside() {
        let cfg = WorldConfig {
            bbox: BBox::new(44.9700, -93.2700, 44.9702, -93.2697).expect("valid"),
            ..config(5, 300)
        };
        let mut world = World::new(&cfg);
        let mut out = Vec::new();
        for _ in 0..600 {
            world.tick(&mut out);
            assert!(world.positions().iter().all(|p| world.frame().contains(*p)));
        }
        assert!(out.iter().all(|c| cfg.bbox.contains(c.lat, c.lon)));
        assert!(!out.is_empty());
    }
}
