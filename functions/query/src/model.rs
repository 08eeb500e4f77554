//! What the endpoints answer, as JSON (and as OpenAPI schemas).
//!
//! A stored contact keeps the original demo's field names (`id, mmid1,
//! mmid2, street, city, state, zipcode, country`) and adds where and when it
//! happened, when it was recorded, and which geocoder named the place.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One row of the contact log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct ContactRecord {
    /// The row's id (increasing in insertion order).
    #[schema(example = 1)]
    pub id: i64,
    /// One person, as reported.
    #[schema(example = 1)]
    pub mmid1: i64,
    /// The other person.
    #[schema(example = 2)]
    pub mmid2: i64,
    /// Street address; empty from the offline geocoder.
    #[schema(example = "350 S 4th St")]
    pub street: String,
    /// City.
    #[schema(example = "Minneapolis")]
    pub city: String,
    /// State code in the US, region name elsewhere.
    #[schema(example = "MN")]
    pub state: String,
    /// Postal code.
    #[schema(example = "55415")]
    pub zipcode: String,
    /// ISO 3166-1 alpha-2 country code; empty where no place is near.
    #[schema(example = "US")]
    pub country: String,
    /// Latitude of the contact; null for rows of the original CSV format.
    #[schema(example = 44.9778)]
    pub lat: Option<f64>,
    /// Longitude of the contact.
    #[schema(example = -93.265)]
    pub lon: Option<f64>,
    /// When the two people met.
    pub observed_at: DateTime<Utc>,
    /// When the row was written.
    pub recorded_at: DateTime<Utc>,
    /// Which geocoder named the place: `offline`, `nominatim`, `none`…
    #[schema(example = "offline")]
    pub geocoder: String,
}

/// A contact of one person, with the other person named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetContact {
    /// The person met (`mmid2` when the person asked about is `mmid1`, and
    /// the other way round).
    #[schema(example = 2)]
    pub met: i64,
    /// The contact.
    #[serde(flatten)]
    pub contact: ContactRecord,
}

/// One page of `GET /contacts/{mmid}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContactsPage {
    /// The person asked about.
    pub mmid: i64,
    /// Start of the time range (inclusive), when given.
    pub since: Option<DateTime<Utc>>,
    /// End of the time range (exclusive), when given.
    pub until: Option<DateTime<Utc>>,
    /// Contacts in `observed_at` order (then `id`).
    pub items: Vec<MetContact>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A person reachable from the one asked about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Exposure {
    /// The person reached.
    #[schema(example = 3)]
    pub mmid: i64,
    /// The smallest number of contacts between them (1: met directly).
    #[schema(example = 2, minimum = 1, maximum = 3)]
    pub hops: u32,
    /// The person one hop closer through whom they are reached (for 1
    /// hop, the person asked about).
    #[schema(example = 2)]
    pub via: i64,
    /// The earliest contact in the window between `via` and `mmid`.
    pub contact: ContactRecord,
}

/// One page of `GET /exposures/{mmid}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExposuresPage {
    /// The person asked about.
    pub mmid: i64,
    /// The window in days.
    pub days: u32,
    /// The largest number of hops followed.
    pub depth: u32,
    /// Start of the window: contacts observed at or after it count. It is
    /// `days` before the first page was asked for; later pages keep it.
    pub since: DateTime<Utc>,
    /// People reached, by `hops`, then `mmid`.
    pub items: Vec<Exposure>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Contacts per country.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct CountryCount {
    /// ISO 3166-1 alpha-2 code; empty for places no geocoder could name.
    #[schema(example = "US")]
    pub country: String,
    /// Contacts stored.
    #[sqlx(rename = "n")]
    pub count: i64,
}

/// Contacts per state (of a country: state names repeat across countries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct StateCount {
    /// ISO 3166-1 alpha-2 code.
    #[schema(example = "US")]
    pub country: String,
    /// State code or region name.
    #[schema(example = "MN")]
    pub state: String,
    /// Contacts stored.
    #[sqlx(rename = "n")]
    pub count: i64,
}

/// Contacts per day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct DayCount {
    /// The UTC day the contacts were observed.
    pub day: NaiveDate,
    /// Contacts stored.
    #[sqlx(rename = "n")]
    pub count: i64,
}

/// `GET /stats`: counts over every stored contact, taken from one snapshot
/// so the three lists agree with `total`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// Contacts stored.
    pub total: i64,
    /// By country, in code order.
    pub by_country: Vec<CountryCount>,
    /// By country and state, in that order.
    pub by_state: Vec<StateCount>,
    /// By UTC day of `observed_at`, oldest first.
    pub by_day: Vec<DayCount>,
}
