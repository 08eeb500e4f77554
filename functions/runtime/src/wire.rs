//! Wire formats: the event types, the JSON data of each, and the original
//! demo's CSV lines. Reading is tolerant (unknown JSON fields are ignored);
//! every value then passes through the domain types of [`crate::contact`].

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::contact::{
    Address, BoundedText, Contact, ContactPair, Coordinates, CountryCode, ObservedAt, PersonId,
    TranslatedContact,
};
use crate::error::Error;

/// Type of the events pact-producer emits.
pub const UNTRANSLATED: &str = "dev.pact.contact.untranslated";
/// Type of the events pact-translation emits.
pub const TRANSLATED: &str = "dev.pact.contact.translated";
/// Type KafkaSource gives a Kafka record that is not itself a CloudEvent.
pub const KAFKA_EVENT: &str = "dev.knative.kafka.event";
/// Whether `content_type` is a JSON media type: `application/json`,
/// `text/json` or any `…+json` (`application/cloudevents+json`,
/// `application/problem+json`), parameters ignored, in any case.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let has_suffix = |suffix: &str| {
        essence.len() >= suffix.len()
            && essence.is_char_boundary(essence.len() - suffix.len())
            && essence[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    essence.eq_ignore_ascii_case("application/json")
        || essence.eq_ignore_ascii_case("text/json")
        || has_suffix("+json")
}

/// Type of PingSource events.
pub const PING: &str = "dev.knative.sources.ping";

/// `data` of a `dev.pact.contact.untranslated` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UntranslatedData {
    /// First person.
    pub mmid1: i64,
    /// Second person.
    pub mmid2: i64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// RFC 3339; missing means the event's `time`, else now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
}

impl UntranslatedData {
    /// Whether the sender gave the contact's time (else it is taken from the
    /// event's `time`, or stamped on arrival).
    pub fn gives_time(&self) -> bool {
        self.observed_at
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty())
    }

    /// Validates into a [`Contact`]. `fallback_time` stands in for a missing
    /// `observed_at` (the CloudEvent `time`); `now` when there is neither.
    pub fn into_contact(
        self,
        fallback_time: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Contact, Error> {
        let pair = ContactPair::new(
            PersonId::parse("mmid1", self.mmid1)?,
            PersonId::parse("mmid2", self.mmid2)?,
        )?;
        let at = Coordinates::parse(self.lat, self.lon)?;
        let observed_at = observed_at(self.observed_at.as_deref(), fallback_time, now)?;
        Ok(Contact {
            pair,
            at,
            observed_at,
        })
    }
}

impl From<&Contact> for UntranslatedData {
    fn from(contact: &Contact) -> Self {
        Self {
            mmid1: contact.pair.first().get(),
            mmid2: contact.pair.second().get(),
            lat: contact.at.lat(),
            lon: contact.at.lon(),
            observed_at: Some(contact.observed_at.to_string()),
        }
    }
}

/// `data` of a `dev.pact.contact.translated` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranslatedData {
    /// First person.
    pub mmid1: i64,
    /// Second person.
    pub mmid2: i64,
    /// Latitude, degrees (absent in the original CSV line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude, degrees (absent in the original CSV line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// RFC 3339; missing means the event's `time`, else now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// Street and house number.
    #[serde(default)]
    pub street: String,
    /// City.
    #[serde(default)]
    pub city: String,
    /// State.
    #[serde(default)]
    pub state: String,
    /// Postal code.
    #[serde(default)]
    pub zipcode: String,
    /// ISO 3166-1 alpha-2 country code, or empty.
    #[serde(default)]
    pub country: String,
    /// Which geocoder answered.
    #[serde(default)]
    pub geocoder: String,
}

impl TranslatedData {
    /// Validates into a [`TranslatedContact`].
    pub fn into_contact(
        self,
        fallback_time: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<TranslatedContact, Error> {
        let pair = ContactPair::new(
            PersonId::parse("mmid1", self.mmid1)?,
            PersonId::parse("mmid2", self.mmid2)?,
        )?;
        let at = match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => Some(Coordinates::parse(lat, lon)?),
            (None, None) => None,
            (Some(_), None) => return Err(Error::invalid("lon", "is missing while lat is given")),
            (None, Some(_)) => return Err(Error::invalid("lat", "is missing while lon is given")),
        };
        let country = match self.country.trim() {
            "" => None,
            code => Some(CountryCode::parse(code)?),
        };
        Ok(TranslatedContact {
            pair,
            at,
            observed_at: observed_at(self.observed_at.as_deref(), fallback_time, now)?,
            address: Address {
                street: BoundedText::parse("street", &self.street)?,
                city: BoundedText::parse("city", &self.city)?,
                state: BoundedText::parse("state", &self.state)?,
                zipcode: BoundedText::parse("zipcode", &self.zipcode)?,
                country,
            },
            geocoder: BoundedText::parse("geocoder", &self.geocoder)?,
        })
    }
}

impl From<&TranslatedContact> for TranslatedData {
    fn from(contact: &TranslatedContact) -> Self {
        let address = &contact.address;
        Self {
            mmid1: contact.pair.first().get(),
            mmid2: contact.pair.second().get(),
            lat: contact.at.map(Coordinates::lat),
            lon: contact.at.map(Coordinates::lon),
            observed_at: Some(contact.observed_at.to_string()),
            street: address.street.as_str().to_owned(),
            city: address.city.as_str().to_owned(),
            state: address.state.as_str().to_owned(),
            zipcode: address.zipcode.as_str().to_owned(),
            country: address
                .country
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default(),
            geocoder: contact.geocoder.as_str().to_owned(),
        }
    }
}

fn observed_at(
    raw: Option<&str>,
    fallback: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<ObservedAt, Error> {
    match (raw, fallback) {
        (Some(raw), _) if !raw.trim().is_empty() => ObservedAt::parse(raw, now),
        (_, Some(time)) => ObservedAt::new(time, now),
        // Milliseconds are plenty for a contact, and every SDK keeps them.
        _ => ObservedAt::new(now.trunc_subsecs(3), now),
    }
}

/// Parses a JSON document into `T`, naming the field at fault on error.
pub fn from_json<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    // Plain serde_json first: tracking the path costs a `String` per key.
    // Only a failure is parsed again, the same way, to name the field.
    // (Like the tracked parse, this one leaves what follows the value unread.)
    if let Ok(value) = T::deserialize(&mut serde_json::Deserializer::from_slice(bytes)) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| json_error(&e))
}

/// Converts an already parsed JSON value into `T`, naming the field at fault.
pub fn from_json_value<T: for<'de> Deserialize<'de>>(value: serde_json::Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| json_error(&e))
}

fn json_error<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> Error {
    let path = e.path().to_string();
    if path == "." {
        Error::malformed(format!(
            "data is not valid JSON for this event: {}",
            e.inner()
        ))
    } else {
        Error::malformed(format!("data field {path}: {}", e.inner()))
    }
}

/// Reads CSV records (RFC 4180: quoted fields may hold commas, quotes and
/// line breaks). Blank lines are skipped. More than `limit` records is an
/// [`Error::TooMany`], found while reading: the rest is never parsed.
pub fn csv_records(text: &[u8], limit: usize) -> Result<Vec<csv::StringRecord>, Error> {
    match simple_csv(text) {
        Some(text) => split_csv(text, limit),
        None => read_csv(text, limit),
    }
}

/// `text` when reading it needs no CSV parser: valid UTF-8 with no quote
/// (so no field holds a delimiter, a quote or a line break) and no UTF-8
/// byte order mark (which the reader drops). Building a `csv::Reader` costs
/// more than reading a line with it (its tables and an 8 KiB buffer, ~10 µs).
fn simple_csv(text: &[u8]) -> Option<&str> {
    if text.contains(&b'"') || text.starts_with(b"\xef\xbb\xbf") {
        return None;
    }
    std::str::from_utf8(text).ok()
}

/// What [`read_csv`] gives for a [`simple_csv`] text: records end at `\r`,
/// `\n` or `\r\n`, empty lines are none, fields split at every `,` and are
/// trimmed of Unicode whitespace (as `csv::Trim::All` does for a
/// `StringRecord`).
fn split_csv(text: &str, limit: usize) -> Result<Vec<csv::StringRecord>, Error> {
    let mut records = Vec::new();
    for line in text.split(['\r', '\n']).filter(|line| !line.is_empty()) {
        if line.split(',').all(|field| field.trim().is_empty()) {
            continue;
        }
        if records.len() == limit {
            return Err(Error::TooMany { limit });
        }
        let mut record = csv::StringRecord::with_capacity(line.len(), 8);
        for field in line.split(',') {
            record.push_field(field.trim());
        }
        records.push(record);
    }
    Ok(records)
}

fn read_csv(text: &[u8], limit: usize) -> Result<Vec<csv::StringRecord>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text);
    let mut records = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| Error::malformed(format!("not a valid CSV line: {e}")))?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        if records.len() == limit {
            return Err(Error::TooMany { limit });
        }
        records.push(record);
    }
    Ok(records)
}

/// The original untranslated line: `mmid1,mmid2,lat,lon` with an optional
/// fifth field `observed_at`.
pub fn untranslated_from_csv(record: &csv::StringRecord) -> Result<UntranslatedData, Error> {
    if !(4..=5).contains(&record.len()) {
        return Err(Error::malformed(format!(
            "an untranslated CSV line has 4 or 5 fields (mmid1,mmid2,lat,lon[,observed_at]), this one has {}",
            record.len()
        )));
    }
    Ok(UntranslatedData {
        mmid1: csv_field(record, 0, "mmid1")?,
        mmid2: csv_field(record, 1, "mmid2")?,
        lat: csv_field(record, 2, "lat")?,
        lon: csv_field(record, 3, "lon")?,
        observed_at: record.get(4).map(str::to_owned),
    })
}

/// The original translated line: `mmid1,mmid2,street,city,state,zipcode,country`.
pub fn translated_from_csv(record: &csv::StringRecord) -> Result<TranslatedData, Error> {
    if record.len() != 7 {
        return Err(Error::malformed(format!(
            "a translated CSV line has 7 fields (mmid1,mmid2,street,city,state,zipcode,country), this one has {}",
            record.len()
        )));
    }
    let text = |i: usize| record.get(i).unwrap_or_default().to_owned();
    Ok(TranslatedData {
        mmid1: csv_field(record, 0, "mmid1")?,
        mmid2: csv_field(record, 1, "mmid2")?,
        lat: None,
        lon: None,
        observed_at: None,
        street: text(2),
        city: text(3),
        state: text(4),
        zipcode: text(5),
        country: text(6),
        geocoder: String::new(),
    })
}

fn csv_field<T: std::str::FromStr>(
    record: &csv::StringRecord,
    index: usize,
    name: &str,
) -> Result<T, Error>
where
    T::Err: std::fmt::Display,
{
    let raw = record.get(index).unwrap_or_default();
    raw.parse()
        .map_err(|e| Error::malformed(format!("field {name} ({raw:?}) is not a number: {e}")))
}

/// Writes the untranslated CSV line (with `observed_at`), RFC 4180 quoted.
pub fn untranslated_to_csv(contact: &Contact) -> String {
    UntranslatedData::from(contact).to_csv()
}

impl UntranslatedData {
    /// The untranslated CSV line, RFC 4180 quoted: `mmid1,mmid2,lat,lon`
    /// and `,observed_at` when there is one (the original demo's line has
    /// four fields).
    pub fn to_csv(&self) -> String {
        let numbers = [
            self.mmid1.to_string(),
            self.mmid2.to_string(),
            self.lat.to_string(),
            self.lon.to_string(),
        ];
        let mut fields: Vec<&str> = numbers.iter().map(String::as_str).collect();
        fields.extend(self.observed_at.as_deref());
        csv_line(&fields)
    }
}

/// Writes the original translated line, RFC 4180 quoted: a street holding a
/// comma stays one field.
pub fn translated_to_csv(contact: &TranslatedContact) -> String {
    let a = &contact.address;
    csv_line(&[
        &contact.pair.first().get().to_string(),
        &contact.pair.second().get().to_string(),
        a.street.as_str(),
        a.city.as_str(),
        a.state.as_str(),
        a.zipcode.as_str(),
        a.country
            .as_ref()
            .map(CountryCode::as_str)
            .unwrap_or_default(),
    ])
}

fn csv_line(fields: &[&str]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(fields);
    let bytes = writer.into_inner().unwrap_or_default();
    let mut line = String::from_utf8(bytes).unwrap_or_default();
    line.truncate(line.trim_end_matches('\n').len());
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn untranslated_data_writes_four_or_five_fields() {
        let mut data = UntranslatedData {
            mmid1: 1,
            mmid2: 2,
            lat: 44.98,
            lon: -93.25,
            observed_at: None,
        };
        assert_eq!(data.to_csv(), "1,2,44.98,-93.25");
        data.observed_at = Some("2026-11-24T10:00:00.000Z".into());
        assert_eq!(data.to_csv(), "1,2,44.98,-93.25,2026-11-24T10:00:00.000Z");
    }

    #[test]
    fn json_media_types_are_told_in_any_case() {
        for json in [
            "application/json",
            "Application/JSON; charset=utf-8",
            " text/json ",
            "application/cloudevents+json",
            "application/problem+JSON",
        ] {
            assert!(is_json(json), "{json:?}");
        }
        for other in [
            "text/csv",
            "text/plain",
            "application/jsonl",
            "json",
            "",
            "é+json é",
        ] {
            assert!(!is_json(other), "{other:?}");
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T10:00:00Z".parse().expect("valid")
    }

    fn one(text: &str) -> csv::StringRecord {
        let mut records = csv_records(text.as_bytes(), 10).expect("csv");
        assert_eq!(records.len(), 1);
        records.remove(0)
    }

    #[test]
    fn reads_the_original_untranslated_line() {
        let data = untranslated_from_csv(&one("1,2,44.9778,-93.2650")).expect("valid");
        let contact = data.into_contact(None, now()).expect("valid");
        assert_eq!(contact.pair.partition_key(), "1-2");
        assert_eq!(contact.at.lat(), 44.9778);
        assert_eq!(contact.observed_at.get(), now());
    }

    #[test]
    fn reads_a_quoted_street_with_commas() {
        let data = translated_from_csv(&one(
            r#"1,2,"350 S 4th St, Suite 2",Minneapolis,MN,55415-2215,US"#,
        ))
        .expect("valid");
        assert_eq!(data.street, "350 S 4th St, Suite 2");
        assert_eq!(data.country, "US");
    }

    #[test]
    fn names_the_bad_field() {
        let err = untranslated_from_csv(&one("1,x,44.9,-93.2")).expect_err("bad");
        assert!(err.to_string().contains("mmid2"), "{err}");
        let err = untranslated_from_csv(&one("1,2,44.9")).expect_err("short");
        assert!(err.to_string().contains("4 or 5 fields"), "{err}");
        let err = from_json::<UntranslatedData>(br#"{"mmid1":1.5,"mmid2":2,"lat":1,"lon":2}"#)
            .expect_err("float id");
        assert!(err.to_string().contains("mmid1"), "{err}");
        let err = from_json::<UntranslatedData>(br#"{"mmid2":2,"lat":1,"lon":2}"#)
            .expect_err("missing id");
        assert!(err.to_string().contains("mmid1"), "{err}");
    }

    #[test]
    fn the_event_time_stands_in_for_a_missing_observed_at() {
        let time: DateTime<Utc> = "2026-11-24T09:00:00Z".parse().expect("valid");
        let data = untranslated_from_csv(&one("1,2,44.9,-93.2")).expect("valid");
        let contact = data.into_contact(Some(time), now()).expect("valid");
        assert_eq!(contact.observed_at.get(), time);
    }

    #[test]
    fn translated_csv_quotes_what_needs_it() {
        let data = TranslatedData {
            mmid1: 1,
            mmid2: 2,
            lat: None,
            lon: None,
            observed_at: None,
            street: "1 Main St, Apt \"B\"".into(),
            city: "Minneapolis".into(),
            state: "MN".into(),
            zipcode: "55415".into(),
            country: "us".into(),
            geocoder: "offline".into(),
        };
        let contact = data.into_contact(None, now()).expect("valid");
        assert_eq!(
            translated_to_csv(&contact),
            r#"1,2,"1 Main St, Apt ""B""",Minneapolis,MN,55415,US"#
        );
    }

    fn contact_strategy() -> impl Strategy<Value = Contact> {
        (
            1..i64::MAX,
            1..i64::MAX,
            -90.0..=90.0f64,
            -180.0..=180.0f64,
            0i64..4_000_000_000,
        )
            .prop_filter("distinct people", |(a, b, ..)| a != b)
            .prop_map(|(a, b, lat, lon, secs)| {
                UntranslatedData {
                    mmid1: a,
                    mmid2: b,
                    lat,
                    lon,
                    observed_at: DateTime::from_timestamp(secs, 0).map(|t| t.to_rfc3339()),
                }
                .into_contact(None, now() + chrono::Duration::days(365 * 200))
                .expect("generated valid")
            })
    }

    fn text_strategy(max: usize) -> impl Strategy<Value = String> {
        // Printable text, including the characters CSV must quote.
        proptest::string::string_regex(&format!("[a-zA-Z0-9 ,\"'äß.-]{{0,{max}}}"))
            .expect("regex")
            .prop_map(|s| s.trim().to_owned())
    }

    fn translated_strategy() -> impl Strategy<Value = TranslatedContact> {
        (
            contact_strategy(),
            text_strategy(200),
            text_strategy(100),
            text_strategy(100),
            "[0-9A-Z-]{0,16}",
            proptest::option::of("[A-Z]{2}"),
        )
            .prop_map(|(c, street, city, state, zipcode, country)| {
                TranslatedData {
                    mmid1: c.pair.first().get(),
                    mmid2: c.pair.second().get(),
                    lat: Some(c.at.lat()),
                    lon: Some(c.at.lon()),
                    observed_at: Some(c.observed_at.to_string()),
                    street,
                    city,
                    state,
                    zipcode,
                    country: country.unwrap_or_default(),
                    geocoder: "offline".into(),
                }
                .into_contact(None, now() + chrono::Duration::days(365 * 200))
                .expect("generated valid")
            })
    }

    proptest! {
        #[test]
        fn untranslated_json_round_trips(contact in contact_strategy()) {
            let json = serde_json::to_vec(&UntranslatedData::from(&contact)).expect("serialize");
            let back = from_json::<UntranslatedData>(&json).expect("parse")
                .into_contact(None, now() + chrono::Duration::days(365 * 200)).expect("valid");
            prop_assert_eq!(back, contact);
        }

        #[test]
        fn untranslated_csv_round_trips(contact in contact_strategy()) {
            let line = untranslated_to_csv(&contact);
            let back = untranslated_from_csv(&one(&line)).expect("parse")
                .into_contact(None, now() + chrono::Duration::days(365 * 200)).expect("valid");
            prop_assert_eq!(back, contact);
        }

        #[test]
        fn translated_json_round_trips(contact in translated_strategy()) {
            let json = serde_json::to_vec(&TranslatedData::from(&contact)).expect("serialize");
            let back = from_json::<TranslatedData>(&json).expect("parse")
                .into_contact(None, now() + chrono::Duration::days(365 * 200)).expect("valid");
            prop_assert_eq!(back, contact);
        }

        #[test]
        fn translated_csv_round_trips_the_address(contact in translated_strategy()) {
            let line = translated_to_csv(&contact);
            let back = translated_from_csv(&one(&line)).expect("parse")
                .into_contact(Some(contact.observed_at.get()), now() + chrono::Duration::days(365 * 200))
                .expect("valid");
            prop_assert_eq!(back.pair, contact.pair);
            prop_assert_eq!(back.address, contact.address);
        }

        #[test]
        fn the_csv_fast_path_reads_what_the_csv_reader_reads(
            text in "[a1 ,\"\r\n\t\u{b}\u{c}\u{85}\u{a0}\u{2028}\u{feff}é]{0,40}",
            bom in any::<bool>(),
            limit in 1usize..4,
        ) {
            let text = if bom { format!("\u{feff}{text}") } else { text };
            let bytes = text.as_bytes();
            let fast = format!("{:?}", csv_records(bytes, limit));
            prop_assert_eq!(fast, format!("{:?}", read_csv(bytes, limit)));
            if let Some(simple) = simple_csv(bytes) {
                prop_assert_eq!(
                    format!("{:?}", split_csv(simple, limit)),
                    format!("{:?}", read_csv(bytes, limit))
                );
            }
        }

        #[test]
        fn the_csv_fast_path_agrees_on_random_bytes(
            bytes in proptest::collection::vec(prop_oneof![
                Just(b','), Just(b'\r'), Just(b'\n'), Just(b' '), Just(b'"'), Just(0xef), Just(0xbb),
                Just(0xbf), Just(0xc3), Just(0xa9), any::<u8>()
            ], 0..64),
        ) {
            prop_assert_eq!(
                format!("{:?}", csv_records(&bytes, 3)),
                format!("{:?}", read_csv(&bytes, 3))
            );
            if let Some(simple) = simple_csv(&bytes) {
                prop_assert_eq!(
                    format!("{:?}", split_csv(simple, 3)),
                    format!("{:?}", read_csv(&bytes, 3))
                );
            }
        }

        #[test]
        fn json_is_read_as_with_the_path_tracked(
            bytes in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..64),
                r#"\{("(mmid1|mmid2|lat|lon|observed_at|street|x)": ?(1|-2|1.5|"a"|null|\[\]|\{\}|true),?){0,6}\} ?x?"#
                    .prop_map(String::into_bytes),
            ],
        ) {
            fn tracked<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
                let de = &mut serde_json::Deserializer::from_slice(bytes);
                serde_path_to_error::deserialize(de).map_err(|e| json_error(&e))
            }
            prop_assert_eq!(
                format!("{:?}", from_json::<UntranslatedData>(&bytes)),
                format!("{:?}", tracked::<UntranslatedData>(&bytes))
            );
            prop_assert_eq!(
                format!("{:?}", from_json::<TranslatedData>(&bytes)),
                format!("{:?}", tracked::<TranslatedData>(&bytes))
            );
        }

        #[test]
        fn parsers_never_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = from_json::<UntranslatedData>(&bytes);
            let _ = from_json::<TranslatedData>(&bytes);
            if let Ok(records) = csv_records(&bytes, crate::ingest::MAX_EVENTS_PER_REQUEST) {
                for record in &records {
                    let _ = untranslated_from_csv(record).map(|d| d.into_contact(None, now()));
                    let _ = translated_from_csv(record).map(|d| d.into_contact(None, now()));
                }
            }
        }
    }
}
