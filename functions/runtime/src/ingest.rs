//! Reading requests into events: CloudEvents in binary, structured and batched
//! mode, KafkaSource envelopes, and the original demo's plain CSV lines.
//!
//! The body is read under [`BODY_LIMIT_BYTES`] before anything parses it: the
//! CloudEvents SDK's own extractor has no limit.

use axum::extract::{FromRequest, Request};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use cloudevents::{AttributesReader, Data, Event};
use http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::{Error, Result};
use crate::identity;
use crate::trace::TraceParent;
use crate::wire::{self, TranslatedData, UntranslatedData};

/// The most a request body may hold (DESIGN section 4).
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;
/// The most events one request may carry, in every form: a CloudEvents
/// batch, CSV lines, a JSON array. Counted while parsing, so a body of tiny
/// items is refused (413) before it costs memory or a delivery per item.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;

const CE_JSON: &str = "application/cloudevents+json";
const CE_BATCH_JSON: &str = "application/cloudevents-batch+json";

/// How much of a body over [`BODY_LIMIT_BYTES`] is still read, and
/// dropped, before the 413. A client is still sending when the answer is
/// ready; if the server closed the connection with the rest unread, the
/// kernel would reset it and the client would often see a broken pipe
/// instead of the 413 (a third of 2 MiB requests did), and a KafkaSource
/// retries a connection error. Read to its end, the body leaves the
/// connection clean and open. Beyond this the 413 is sent at once, as
/// before, and so it is after [`DRAIN_LIMIT`] for a client that declares a
/// length and does not send it.
pub const DRAIN_LIMIT_BYTES: u64 = 8 * 1024 * 1024;

/// The longest a too-large body is read for (8 MiB at 64 Mbit/s).
pub const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// A request's headers and its body read under [`BODY_LIMIT_BYTES`];
/// beyond it, 413. One extractor for both, so the headers are moved out of
/// the request: axum's `HeaderMap` extractor clones them (a map and a
/// reference count per value, on every event).
#[derive(Debug, Clone)]
pub struct LimitedRequest {
    /// The request's headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for LimitedRequest {
    type Rejection = Error;

    async fn from_request(req: Request, _state: &S) -> Result<Self> {
        let too_large = Error::TooLarge {
            limit_bytes: BODY_LIMIT_BYTES,
        };
        let (parts, mut body) = req.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT_BYTES as u64) {
            if declared.is_some_and(|n| n <= DRAIN_LIMIT_BYTES) {
                drain(&mut body, DRAIN_LIMIT_BYTES).await;
            }
            return Err(too_large);
        }
        match Limited::new(&mut body, BODY_LIMIT_BYTES).collect().await {
            Ok(collected) => Ok(Self {
                headers: parts.headers,
                body: collected.to_bytes(),
            }),
            Err(e) if e.is::<LengthLimitError>() => {
                drain(&mut body, DRAIN_LIMIT_BYTES - BODY_LIMIT_BYTES as u64).await;
                Err(too_large)
            }
            Err(e) => Err(Error::malformed(format!(
                "could not read the request body: {e}"
            ))),
        }
    }
}

/// Reads and drops the rest of `body`, up to `budget` bytes and for at
/// most [`DRAIN_LIMIT`]; stops at the first error.
async fn drain(body: &mut axum::body::Body, mut budget: u64) {
    let read_to_end = async {
        while let Some(Ok(frame)) = body.frame().await {
            let read = frame.data_ref().map_or(0, |data| data.len() as u64);
            match budget.checked_sub(read) {
                Some(left) => budget = left,
                None => return,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_LIMIT, read_to_end).await;
}

/// Who sent an event: CloudEvents identity is `source` + `id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventIdentity {
    /// `source` attribute.
    pub source: String,
    /// `id` attribute.
    pub id: String,
}

impl EventIdentity {
    /// The id derived from the whole identity ([`identity::of_event`]), after
    /// checking the `id` ([`identity::event_id`]).
    pub fn key(&self) -> Result<String> {
        let id = identity::event_id("id", &self.id)?;
        Ok(identity::of_event(&self.source, &id))
    }
}

/// The data of one incoming event, not yet interpreted.
#[derive(Debug, Clone)]
pub enum Payload {
    /// JSON bytes.
    Json(Bytes),
    /// JSON already parsed (structured mode).
    JsonValue(serde_json::Value),
    /// One CSV record.
    Csv(csv::StringRecord),
}

/// One event read from a request, in whatever form it came.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// `source` + `id` when it came as a CloudEvent (or KafkaSource envelope).
    pub identity: Option<EventIdentity>,
    /// The CloudEvent type, when it came as a typed PACT event; `None` for a
    /// KafkaSource envelope or a plain body, whose data is of the type the
    /// function reads.
    pub event_type: Option<String>,
    /// The CloudEvent `time`.
    pub time: Option<DateTime<Utc>>,
    /// W3C trace context, from the event's extension or the HTTP header.
    pub traceparent: Option<TraceParent>,
    /// The data.
    pub payload: Payload,
}

impl Incoming {
    /// Reads the data as an untranslated contact.
    pub fn untranslated(&self) -> Result<UntranslatedData> {
        match &self.payload {
            Payload::Json(bytes) => wire::from_json(bytes),
            Payload::JsonValue(value) => wire::from_json_value(value.clone()),
            Payload::Csv(record) => wire::untranslated_from_csv(record),
        }
    }

    /// The id of the event made from this one: derived from its `source` +
    /// `id` ([`identity::of_event`]), so a redelivery gives the same output
    /// and two senders' equal ids do not collide; a new UUIDv7 when it came
    /// without an identity (the original CSV lines).
    pub fn output_id(&self) -> Result<String> {
        match &self.identity {
            Some(identity) => identity.key(),
            None => Ok(uuid::Uuid::now_v7().to_string()),
        }
    }

    /// Reads the data as a translated contact.
    pub fn translated(&self) -> Result<TranslatedData> {
        match &self.payload {
            Payload::Json(bytes) => wire::from_json(bytes),
            Payload::JsonValue(value) => wire::from_json_value(value.clone()),
            Payload::Csv(record) => wire::translated_from_csv(record),
        }
    }
}

/// Whether the request carries `Prefer: reply` (RFC 7240; Knative's
/// dispatchers send it on every delivery).
pub fn prefers_reply(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|preference| {
            preference
                .split(';')
                .next()
                .is_some_and(|token| token.trim().eq_ignore_ascii_case("reply"))
        })
}

/// Reads every event of a request. `accepted` lists the CloudEvent types the
/// function takes; a KafkaSource envelope (`dev.knative.kafka.event`) and a
/// plain body are read as the first of them.
pub fn read_events(headers: &HeaderMap, body: Bytes, accepted: &[&str]) -> Result<Vec<Incoming>> {
    let content_type = content_type(headers);
    let http_trace = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);

    let events = if content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with(CE_BATCH_JSON))
    {
        let events: Vec<Event> = json_array(&body, "not a valid CloudEvents JSON batch")?;
        if events.is_empty() {
            return Err(Error::malformed("the batch holds no events"));
        }
        events
    } else if content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with(CE_JSON))
        || headers.contains_key("ce-specversion")
    {
        if let Some(attributes) = crate::binary::binary_attributes(headers) {
            return Ok(vec![from_binary(attributes, body, accepted, http_trace)?]);
        }
        let event = crate::binary::event_from_http(headers, body.to_vec())
            .map_err(|e| Error::malformed(format!("not a valid CloudEvent: {e}")))?;
        vec![event]
    } else {
        return read_plain(content_type.as_deref(), body, http_trace);
    };

    events
        .into_iter()
        .map(|event| from_event(event, accepted, http_trace.clone()))
        .collect()
}

/// A body that is not a CloudEvent: the original CSV lines, one event per
/// line. A plain JSON body is refused: it has no identity, so each retry of
/// it would become another contact (DESIGN.md section 3 takes bare bodies
/// only as the original demo's CSV lines).
fn read_plain(
    content_type: Option<&str>,
    body: Bytes,
    traceparent: Option<TraceParent>,
) -> Result<Vec<Incoming>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::malformed(
            "the body is empty; send a CloudEvent or the original CSV line",
        ));
    }
    const JSON_NEEDS_AN_EVENT: &str = "a JSON body must come as a CloudEvent (ce-* headers, or application/cloudevents+json), which gives it an identity; without one, only the original CSV lines are read (text/csv, text/plain)";
    match data_format(content_type, &body)? {
        DataFormat::Csv => {
            let records = wire::csv_records(&body, MAX_EVENTS_PER_REQUEST)?;
            // Lines of empty fields only (",,,") are no contact: a request
            // that carries none is refused, never answered 2xx for nothing.
            if records.is_empty() {
                return Err(Error::malformed(
                    "the body holds no CSV line with data; send mmid1,mmid2,lat,lon[,observed_at]",
                ));
            }
            Ok(records
                .into_iter()
                .map(|record| Incoming {
                    identity: None,
                    event_type: None,
                    time: None,
                    traceparent: traceparent.clone(),
                    payload: Payload::Csv(record),
                })
                .collect())
        }
        DataFormat::Json if content_type.is_some() => {
            Err(Error::UnsupportedMediaType(JSON_NEEDS_AN_EVENT.into()))
        }
        DataFormat::Json => Err(Error::malformed(JSON_NEEDS_AN_EVENT)),
    }
}

/// Parses a JSON array of at most [`MAX_EVENTS_PER_REQUEST`] items, counting
/// while it parses: 413 as soon as one item too many shows up. `what` opens
/// the detail of a syntax error.
pub fn json_array<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<Vec<T>> {
    use serde::de::DeserializeSeed;
    let exceeded = std::cell::Cell::new(false);
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let parsed = BoundedArray {
        limit: MAX_EVENTS_PER_REQUEST,
        exceeded: &exceeded,
        item: std::marker::PhantomData,
    }
    .deserialize(&mut reader)
    .and_then(|items| reader.end().map(|()| items));
    match parsed {
        Ok(items) => Ok(items),
        Err(_) if exceeded.get() => Err(Error::TooMany {
            limit: MAX_EVENTS_PER_REQUEST,
        }),
        Err(e) => Err(Error::malformed(format!("{what}: {e}"))),
    }
}

struct BoundedArray<'a, T> {
    limit: usize,
    exceeded: &'a std::cell::Cell<bool>,
    item: std::marker::PhantomData<T>,
}

impl<'de, T: serde::Deserialize<'de>> serde::de::DeserializeSeed<'de> for BoundedArray<'_, T> {
    type Value = Vec<T>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for BoundedArray<'_, T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an array of at most {} items", self.limit)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while items.len() < self.limit {
            match seq.next_element()? {
                Some(item) => items.push(item),
                None => return Ok(items),
            }
        }
        // One more item of any shape is one too many; it is not kept.
        if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            self.exceeded.set(true);
            return Err(serde::de::Error::custom("too many items"));
        }
        Ok(items)
    }
}

fn from_event(
    mut event: Event,
    accepted: &[&str],
    http_trace: Option<TraceParent>,
) -> Result<Incoming> {
    let ty = event.ty().to_owned();
    check_type(&ty, accepted)?;
    let identity = EventIdentity {
        source: event.source().to_string(),
        id: event.id().to_owned(),
    };
    let time = event.time().copied();
    let traceparent = event
        .extension("traceparent")
        .and_then(|v| TraceParent::parse(&v.to_string()))
        .or(http_trace.clone());
    let (content_type, _, data) = event.take_data();
    let data = match data {
        None => EventData::Absent,
        Some(Data::Json(value)) => EventData::Json(value),
        Some(Data::String(text)) => EventData::Bytes(Bytes::from(text)),
        Some(Data::Binary(bytes)) => EventData::Bytes(Bytes::from(bytes)),
    };
    let parts = Parts {
        ty: &ty,
        identity,
        time,
        traceparent,
        content_type: content_type.as_deref(),
        data,
    };
    incoming(parts, accepted, http_trace)
}

/// A binary-mode request read from its headers
/// ([`crate::binary::binary_attributes`]): what [`from_event`] makes of the
/// same request read through the SDK, without building the event.
fn from_binary(
    attributes: crate::binary::BinaryAttributes<'_>,
    body: Bytes,
    accepted: &[&str],
    http_trace: Option<TraceParent>,
) -> Result<Incoming> {
    check_type(&attributes.ty, accepted)?;
    let traceparent = attributes
        .traceparent
        .as_deref()
        .and_then(TraceParent::parse)
        .or(http_trace.clone());
    let parts = Parts {
        ty: &attributes.ty,
        identity: EventIdentity {
            source: attributes.source.into_owned(),
            id: attributes.id.into_owned(),
        },
        time: attributes.time,
        traceparent,
        content_type: attributes.content_type,
        data: if body.is_empty() {
            EventData::Absent
        } else {
            EventData::Bytes(body)
        },
    };
    incoming(parts, accepted, http_trace)
}

/// What reading an event uses of it.
struct Parts<'a> {
    ty: &'a str,
    identity: EventIdentity,
    time: Option<DateTime<Utc>>,
    traceparent: Option<TraceParent>,
    content_type: Option<&'a str>,
    data: EventData,
}

enum EventData {
    Absent,
    Json(serde_json::Value),
    Bytes(Bytes),
}

fn check_type(ty: &str, accepted: &[&str]) -> Result<()> {
    if ty != wire::KAFKA_EVENT && !accepted.contains(&ty) {
        return Err(Error::invalid(
            "type",
            format!(
                "this function accepts events of type {} (or {} carrying one), not {ty:?}",
                accepted.join(", "),
                wire::KAFKA_EVENT
            ),
        ));
    }
    Ok(())
}

fn incoming(
    parts: Parts<'_>,
    accepted: &[&str],
    http_trace: Option<TraceParent>,
) -> Result<Incoming> {
    let is_envelope = parts.ty == wire::KAFKA_EVENT;
    let payload = match parts.data {
        // A PingSource without `data` sends none; a ping needs none.
        EventData::Absent if parts.ty == wire::PING => Payload::JsonValue(serde_json::Value::Null),
        EventData::Absent => return Err(Error::malformed("the event carries no data")),
        EventData::Json(value) => Payload::JsonValue(value),
        EventData::Bytes(bytes) => payload(parts.content_type, bytes)?,
    };
    // A Kafka record holding a structured CloudEvent but no content-type
    // header reaches us wrapped; unwrap it so its own identity counts.
    if is_envelope && let Some(inner) = structured_inside(&payload) {
        return from_event(inner, accepted, http_trace);
    }
    Ok(Incoming {
        identity: Some(parts.identity),
        event_type: (!is_envelope).then(|| parts.ty.to_owned()),
        time: parts.time,
        traceparent: parts.traceparent,
        payload,
    })
}

fn structured_inside(payload: &Payload) -> Option<Event> {
    let looks_structured = |v: &serde_json::Value| v.get("specversion").is_some();
    match payload {
        Payload::Json(bytes) => {
            let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
            looks_structured(&value).then(|| serde_json::from_value(value).ok())?
        }
        Payload::JsonValue(value) if looks_structured(value) => {
            serde_json::from_value(value.clone()).ok()
        }
        _ => None,
    }
    // One level only: an envelope inside an envelope is not unwrapped again.
    .filter(|inner: &Event| inner.ty() != wire::KAFKA_EVENT)
}

/// One event's data as JSON or as exactly one CSV record.
fn payload(content_type: Option<&str>, bytes: Bytes) -> Result<Payload> {
    match data_format(content_type, &bytes)? {
        DataFormat::Json => Ok(Payload::Json(bytes)),
        DataFormat::Csv => {
            let one_line = || Error::malformed("an event carries one CSV line, this one has more");
            let mut records = wire::csv_records(&bytes, 1).map_err(|e| match e {
                Error::TooMany { .. } => one_line(),
                e => e,
            })?;
            if records.is_empty() {
                return Err(Error::malformed("the event's CSV data holds no line"));
            }
            Ok(Payload::Csv(records.remove(0)))
        }
    }
}

enum DataFormat {
    Json,
    Csv,
}

/// JSON for JSON media types, CSV for `text/csv` and `text/plain`; with no
/// content type (KafkaSource envelopes, kcat), the data decides.
fn data_format(content_type: Option<&str>, bytes: &[u8]) -> Result<DataFormat> {
    let Some(ct) = content_type else {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        return Ok(match first {
            Some(b'{' | b'[') => DataFormat::Json,
            _ => DataFormat::Csv,
        });
    };
    let essence = ct.split(';').next().unwrap_or_default().trim();
    if crate::wire::is_json(essence) {
        Ok(DataFormat::Json)
    } else if essence == "text/csv" || essence == "text/plain" {
        Ok(DataFormat::Csv)
    } else {
        Err(Error::UnsupportedMediaType(format!(
            "content type {essence:?} is not read here; send application/json, text/csv or text/plain"
        )))
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .filter(|v| !v.trim().is_empty())
}

/// Applies `f` to every item; when any fail, nothing is kept and the errors
/// are returned together (a single item's error as it is).
pub fn all_or_nothing<T, U>(items: Vec<T>, mut f: impl FnMut(T) -> Result<U>) -> Result<Vec<U>> {
    let single = items.len() == 1;
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match f(item) {
            Ok(value) => out.push(value),
            Err(e) if single => return Err(e),
            Err(e) => errors.push((index, e)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::Batch(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    const ACCEPT: &[&str] = &[wire::UNTRANSLATED];

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).expect("valid header"));
        }
        map
    }

    fn binary(ty: &str, content_type: Option<&str>) -> HeaderMap {
        let mut h = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "abc"),
            ("ce-source", "/test"),
            ("ce-type", ty),
        ]);
        if let Some(ct) = content_type {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(ct).expect("valid"),
            );
        }
        h
    }

    #[test]
    fn reads_binary_mode_json() {
        let body = Bytes::from_static(br#"{"mmid1":1,"mmid2":2,"lat":44.9,"lon":-93.2}"#);
        let events = read_events(
            &binary(wire::UNTRANSLATED, Some("application/json")),
            body,
            ACCEPT,
        )
        .expect("valid");
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0].identity.as_ref().map(|i| i.id.as_str()),
            Some("abc")
        );
        assert_eq!(events[0].untranslated().expect("data").mmid2, 2);
    }

    #[test]
    fn reads_a_kafka_envelope_with_no_content_type() {
        let mut h = binary(wire::KAFKA_EVENT, None);
        h.insert("ce-knativekafkaoffset", HeaderValue::from_static("7"));
        h.insert("ce-key", HeaderValue::from_static("1-2"));
        let events = read_events(&h, Bytes::from_static(b"1,2,44.9,-93.2"), ACCEPT).expect("valid");
        assert_eq!(events[0].event_type, None);
        assert_eq!(events[0].untranslated().expect("csv").lat, 44.9);
    }

    #[test]
    fn unwraps_a_structured_event_inside_an_envelope() {
        let inner = br#"{"specversion":"1.0","id":"inner","source":"/phone","type":"dev.pact.contact.untranslated","data":{"mmid1":1,"mmid2":2,"lat":1,"lon":2}}"#;
        let events = read_events(
            &binary(wire::KAFKA_EVENT, None),
            Bytes::from_static(inner),
            ACCEPT,
        )
        .expect("valid");
        assert_eq!(
            events[0].identity.as_ref().map(|i| i.id.as_str()),
            Some("inner")
        );
    }

    #[test]
    fn reads_structured_and_batched_mode() {
        let one = r#"{"specversion":"1.0","id":"s1","source":"/t","type":"dev.pact.contact.untranslated","datacontenttype":"application/json","data":{"mmid1":1,"mmid2":2,"lat":1,"lon":2}}"#;
        let events = read_events(
            &headers(&[(
                "content-type",
                "application/cloudevents+json; charset=utf-8",
            )]),
            Bytes::from(one),
            ACCEPT,
        )
        .expect("structured");
        assert_eq!(events[0].untranslated().expect("data").lon, 2.0);
        let batch = format!("[{one},{}]", one.replace("s1", "s2"));
        let events = read_events(
            &headers(&[("content-type", "application/cloudevents-batch+json")]),
            Bytes::from(batch),
            ACCEPT,
        )
        .expect("batch");
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn reads_plain_csv_lines_with_or_without_content_type() {
        for ct in [None, Some("text/plain"), Some("text/csv; charset=utf-8")] {
            let h = ct
                .map(|ct| headers(&[("content-type", ct)]))
                .unwrap_or_default();
            let events =
                read_events(&h, Bytes::from_static(b"1,2,1,2\r\n3,4,5,6\n"), ACCEPT).expect("csv");
            assert_eq!(events.len(), 2, "{ct:?}");
            assert!(events[0].identity.is_none());
        }
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        let unsupported = read_events(
            &headers(&[("content-type", "application/xml")]),
            Bytes::from_static(b"<x/>"),
            ACCEPT,
        );
        assert!(matches!(unsupported, Err(Error::UnsupportedMediaType(_))));
        let wrong_type = read_events(
            &binary("com.example.other", None),
            Bytes::from_static(b"{}"),
            ACCEPT,
        );
        assert!(matches!(wrong_type, Err(Error::Invalid { ref field, .. }) if field == "type"));
        let no_data = read_events(&binary(wire::UNTRANSLATED, None), Bytes::new(), ACCEPT);
        assert!(matches!(no_data, Err(Error::Malformed(_))));
        let missing_id = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-source", "/x"),
            ("ce-type", wire::UNTRANSLATED),
        ]);
        assert!(matches!(
            read_events(&missing_id, Bytes::from_static(b"1,2,3,4"), ACCEPT),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(
            read_events(&HeaderMap::new(), Bytes::from_static(b"  \n"), ACCEPT),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn takes_traceparent_from_the_event_or_the_header() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut h = binary(wire::UNTRANSLATED, Some("text/csv"));
        h.insert("traceparent", HeaderValue::from_static(tp));
        let events = read_events(&h, Bytes::from_static(b"1,2,3,4"), ACCEPT).expect("valid");
        assert_eq!(
            events[0].traceparent.as_ref().map(TraceParent::as_str),
            Some(tp)
        );
    }

    #[test]
    fn every_form_counts_events_while_parsing() {
        let csv = |n: usize| Bytes::from("1,2,1,2\n".repeat(n));
        let max = MAX_EVENTS_PER_REQUEST;
        let text = headers(&[("content-type", "text/csv")]);
        assert_eq!(
            read_events(&text, csv(max), ACCEPT)
                .expect("at the limit")
                .len(),
            max
        );
        assert!(matches!(
            read_events(&text, csv(max + 1), ACCEPT),
            Err(Error::TooMany { limit }) if limit == max
        ));
        // Blank lines are not events and do not count.
        let blank = Bytes::from(format!("{}\n\n\n", "1,2,1,2\n".repeat(max)));
        assert_eq!(
            read_events(&text, blank, ACCEPT).expect("blanks").len(),
            max
        );

        let one = r#"{"specversion":"1.0","id":"x","source":"/t","type":"dev.pact.contact.untranslated","data":{"mmid1":1,"mmid2":2,"lat":1,"lon":2}}"#;
        let batch = |n: usize| Bytes::from(format!("[{}]", vec![one; n].join(",")));
        let ct = headers(&[("content-type", "application/cloudevents-batch+json")]);
        assert_eq!(
            read_events(&ct, batch(max), ACCEPT)
                .expect("at the limit")
                .len(),
            max
        );
        assert!(matches!(
            read_events(&ct, batch(max + 1), ACCEPT),
            Err(Error::TooMany { .. })
        ));
        // Item max + 1 counts whatever its shape; a bad item within the
        // limit is a syntax error.
        let odd = Bytes::from(format!("[{},42]", vec![one; max].join(",")));
        assert!(matches!(
            read_events(&ct, odd, ACCEPT),
            Err(Error::TooMany { .. })
        ));
        let bad = Bytes::from(format!("[{one},42]"));
        assert!(matches!(
            read_events(&ct, bad, ACCEPT),
            Err(Error::Malformed(_))
        ));
        let trailing = Bytes::from(format!("[{one}] x"));
        assert!(matches!(
            read_events(&ct, trailing, ACCEPT),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn a_body_of_empty_csv_fields_is_refused() {
        // Found by tests/fuzz.rs: "," was zero events, answered 2xx.
        for body in [",", ",,,\n,,", "\"\",\"\""] {
            assert!(
                matches!(
                    read_events(&HeaderMap::new(), Bytes::from(body), ACCEPT),
                    Err(Error::Malformed(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn a_plain_json_body_is_not_read() {
        let body = Bytes::from_static(br#"{"mmid1":1,"mmid2":2,"lat":1,"lon":2}"#);
        let json = headers(&[("content-type", "application/json")]);
        assert!(matches!(
            read_events(&json, body.clone(), ACCEPT),
            Err(Error::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            read_events(&HeaderMap::new(), body, ACCEPT),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn an_event_carries_exactly_one_csv_line() {
        let h = binary(wire::UNTRANSLATED, Some("text/csv"));
        for body in ["1,2,3,4\n5,6,7,8", "\n\n"] {
            assert!(
                matches!(
                    read_events(&h, Bytes::from(body), ACCEPT),
                    Err(Error::Malformed(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn the_output_id_derives_from_source_and_id() {
        let mut a = binary(wire::UNTRANSLATED, Some("text/csv"));
        let mut b = a.clone();
        a.insert("ce-source", HeaderValue::from_static("/phone/A"));
        b.insert("ce-source", HeaderValue::from_static("/phone/B"));
        let id = |h: &HeaderMap| {
            read_events(h, Bytes::from_static(b"1,2,3,4"), ACCEPT).expect("valid")[0]
                .output_id()
                .expect("an id")
        };
        assert_eq!(id(&a), identity::of_event("/phone/A", "abc"));
        assert_ne!(id(&a), id(&b));
        assert_eq!(id(&a), id(&a));
    }

    fn header_strategy() -> impl Strategy<Value = (String, String)> {
        let name = prop_oneof![
            Just("ce-specversion"),
            Just("ce-id"),
            Just("ce-source"),
            Just("ce-type"),
            Just("ce-time"),
            Just("ce-subject"),
            Just("ce-traceparent"),
            Just("ce-team"),
            Just("ce-dataschema"),
            Just("ce-datacontenttype"),
            Just("content-type"),
            Just("traceparent"),
        ];
        let value = prop_oneof![
            Just("1.0".to_owned()),
            Just("0.3".to_owned()),
            Just(wire::UNTRANSLATED.to_owned()),
            Just(wire::KAFKA_EVENT.to_owned()),
            Just(wire::PING.to_owned()),
            Just("dev.pact.contact.untranslate%64".to_owned()),
            Just("2026-11-24T10:00:00Z".to_owned()),
            Just("2026-11-24T10:00:00.5+02:00".to_owned()),
            Just("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
            Just("text/csv".to_owned()),
            Just("application/json".to_owned()),
            Just("Application/CloudEvents+JSON".to_owned()),
            Just("http://x/s".to_owned()),
            Just("%FF".to_owned()),
            Just("Z%C3%BCrich".to_owned()),
            Just("%zz".to_owned()),
            "[a-z0-9 /%-]{0,12}",
        ];
        (name, value).prop_map(|(n, v)| (n.to_owned(), v))
    }

    proptest! {
        #[test]
        fn binary_mode_read_from_headers_is_read_as_through_the_sdk(
            pairs in proptest::collection::vec(header_strategy(), 0..10),
            body in prop_oneof![
                Just(&b""[..]), Just(&b"1,2,44.9,-93.2"[..]), Just(&b"{\"mmid1\":1}"[..]),
                Just(&br#"{"specversion":"1.0","id":"i","source":"/s","type":"dev.pact.contact.untranslated","data":"1,2,3,4"}"#[..]),
            ],
        ) {
            let mut h = binary(wire::UNTRANSLATED, None);
            for (name, value) in &pairs {
                let name = http::HeaderName::from_bytes(name.as_bytes()).expect("name");
                h.insert(name, HeaderValue::from_str(value).expect("value"));
            }
            if let Some(attributes) = crate::binary::binary_attributes(&h) {
                let fast = from_binary(attributes, Bytes::from_static(body), ACCEPT, None);
                let event = crate::binary::event_from_http(&h, body.to_vec()).expect("an event");
                let sdk = from_event(event, ACCEPT, None);
                prop_assert_eq!(format!("{fast:?}"), format!("{sdk:?}"));
            }
        }

        #[test]
        fn never_panics_on_random_requests(
            body in proptest::collection::vec(any::<u8>(), 0..256),
            ct in proptest::option::of(prop_oneof![
                Just("application/json"), Just("text/csv"), Just("application/cloudevents+json"),
                Just("application/cloudevents-batch+json"), Just("text/plain")
            ]),
            binary_mode in any::<bool>(),
        ) {
            let mut h = if binary_mode { binary(wire::UNTRANSLATED, None) } else { HeaderMap::new() };
            if let Some(ct) = ct {
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            if let Ok(events) = read_events(&h, Bytes::from(body), ACCEPT) {
                for e in events {
                    let _ = e.untranslated();
                    let _ = e.translated();
                }
            }
        }
    }
}
