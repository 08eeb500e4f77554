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
use crate::trace::TraceParent;
use crate::wire::{self, TranslatedData, UntranslatedData};

/// The most a request body may hold (DESIGN section 4).
pub const BODY_LIMIT_BYTES: usize = 1024 * 1024;

const CE_JSON: &str = "application/cloudevents+json";
const CE_BATCH_JSON: &str = "application/cloudevents-batch+json";

/// A request body read under [`BODY_LIMIT_BYTES`]; beyond it, 413.
#[derive(Debug, Clone)]
pub struct LimitedBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for LimitedBody {
    type Rejection = Error;

    async fn from_request(req: Request, _state: &S) -> Result<Self> {
        let too_large = Error::TooLarge {
            limit_bytes: BODY_LIMIT_BYTES,
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > BODY_LIMIT_BYTES as u64) {
            return Err(too_large);
        }
        match Limited::new(req.into_body(), BODY_LIMIT_BYTES)
            .collect()
            .await
        {
            Ok(collected) => Ok(Self(collected.to_bytes())),
            Err(e) if e.is::<LengthLimitError>() => Err(too_large),
            Err(e) => Err(Error::malformed(format!(
                "could not read the request body: {e}"
            ))),
        }
    }
}

/// Who sent an event: CloudEvents identity is `source` + `id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventIdentity {
    /// `source` attribute.
    pub source: String,
    /// `id` attribute.
    pub id: String,
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

    /// The id of the event made from this one: its own id (checked by
    /// [`crate::emit::event_id`]) so a redelivery gives the same output, or a
    /// new UUIDv7 when it came without an identity.
    pub fn output_id(&self) -> Result<String> {
        match &self.identity {
            Some(identity) => crate::emit::event_id("id", &identity.id),
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
        let events: Vec<Event> = serde_json::from_slice(&body)
            .map_err(|e| Error::malformed(format!("not a valid CloudEvents JSON batch: {e}")))?;
        if events.is_empty() {
            return Err(Error::malformed("the batch holds no events"));
        }
        events
    } else if content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with(CE_JSON))
        || headers.contains_key("ce-specversion")
    {
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

/// A body that is not a CloudEvent: the original CSV lines (one event per
/// line) or a JSON object or array of data.
fn read_plain(
    content_type: Option<&str>,
    body: Bytes,
    traceparent: Option<TraceParent>,
) -> Result<Vec<Incoming>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::malformed(
            "the body is empty; send a CloudEvent, a JSON object or a CSV line",
        ));
    }
    let plain = |payload| Incoming {
        identity: None,
        event_type: None,
        time: None,
        traceparent: traceparent.clone(),
        payload,
    };
    match data_format(content_type, &body)? {
        DataFormat::Csv => Ok(wire::csv_records(&body)?
            .into_iter()
            .map(|r| plain(Payload::Csv(r)))
            .collect()),
        DataFormat::Json => {
            let value: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| Error::malformed(format!("the body is not valid JSON: {e}")))?;
            match value {
                serde_json::Value::Array(items) if !items.is_empty() => Ok(items
                    .into_iter()
                    .map(|v| plain(Payload::JsonValue(v)))
                    .collect()),
                serde_json::Value::Object(_) => Ok(vec![plain(Payload::JsonValue(value))]),
                _ => Err(Error::malformed(
                    "the JSON body must be an object or a non-empty array of objects",
                )),
            }
        }
    }
}

fn from_event(
    mut event: Event,
    accepted: &[&str],
    http_trace: Option<TraceParent>,
) -> Result<Incoming> {
    let ty = event.ty().to_owned();
    let is_envelope = ty == wire::KAFKA_EVENT;
    if !is_envelope && !accepted.contains(&ty.as_str()) {
        return Err(Error::invalid(
            "type",
            format!(
                "this function accepts events of type {} (or {} carrying one), not {ty:?}",
                accepted.join(", "),
                wire::KAFKA_EVENT
            ),
        ));
    }
    let identity = Some(EventIdentity {
        source: event.source().to_string(),
        id: event.id().to_owned(),
    });
    let time = event.time().copied();
    let traceparent = event
        .extension("traceparent")
        .and_then(|v| TraceParent::parse(&v.to_string()))
        .or(http_trace.clone());
    let (content_type, _, data) = event.take_data();
    let payload = match data {
        // A PingSource without `data` sends none; a ping needs none.
        None if ty == wire::PING => Payload::JsonValue(serde_json::Value::Null),
        None => return Err(Error::malformed("the event carries no data")),
        Some(Data::Json(value)) => Payload::JsonValue(value),
        Some(Data::String(text)) => payload(content_type.as_deref(), Bytes::from(text))?,
        Some(Data::Binary(bytes)) => payload(content_type.as_deref(), Bytes::from(bytes))?,
    };
    // A Kafka record holding a structured CloudEvent but no content-type
    // header reaches us wrapped; unwrap it so its own identity counts.
    if is_envelope && let Some(inner) = structured_inside(&payload) {
        return from_event(inner, accepted, http_trace);
    }
    Ok(Incoming {
        identity,
        event_type: (!is_envelope).then_some(ty),
        time,
        traceparent,
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
            let mut records = wire::csv_records(&bytes)?;
            if records.len() != 1 {
                return Err(Error::malformed(format!(
                    "an event carries one CSV line, this one has {}",
                    records.len()
                )));
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
    if essence == "application/json" || essence == "text/json" || essence.ends_with("+json") {
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

    proptest! {
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
