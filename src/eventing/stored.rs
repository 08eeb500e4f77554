//! The form a sink stores an event in: the binary-mode request a KafkaSource
//! sends for it, written once when the event is appended, so that each
//! delivery copies headers and body into the request instead of decoding
//! structured JSON into an [`Event`] and encoding that again.
//!
//! Layout: a version byte, the header count, then per header its name
//! (length `u8`) and value (length `u16`, little-endian), then the body to
//! the end. The headers are what [`binary_headers`] writes, plus the plain
//! `traceparent` header a delivery adds (W3C Trace Context).
//!
//! Only events that read back from this form as the very same [`Event`] are
//! stored so ([`encode`] says `None` for the others, which stay structured
//! JSON): `GET /topics/{topic}/records` and dead letters show the event as
//! it was taken.

use bytes::Bytes;
use cloudevents::event::ExtensionValue;
use cloudevents::{AttributesReader, Data, Event};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use pact_runtime::binary::{binary_headers, event_from_http};
use pact_runtime::cloudevents;

use super::log::Value;

const VERSION: u8 = 1;

/// The attribute names of CloudEvents 1.0: an extension by one of these
/// names would read back as the attribute.
const ATTRIBUTES: [&str; 8] = [
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "dataschema",
    "subject",
    "time",
];

/// `event` in the stored form, or `None` when binary mode cannot carry it
/// exactly (typed extensions, JSON or text data, names a header changes, a
/// data type that reads as structured mode, ...).
pub fn encode(event: &Event) -> Option<Vec<u8>> {
    let body: &[u8] = match event.data() {
        None => &[],
        // Binary mode reads an empty body as no data.
        Some(Data::Binary(bytes)) if !bytes.is_empty() => bytes,
        Some(_) => return None,
    };
    for (name, value) in event.iter_extensions() {
        let lowercase_alphanumeric = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if !lowercase_alphanumeric
            || ATTRIBUTES.contains(&name)
            || !matches!(value, ExtensionValue::String(_))
        {
            return None;
        }
    }
    if event.datacontenttype().is_some_and(|ct| {
        ct.get(..23)
            .is_some_and(|p| p.eq_ignore_ascii_case("application/cloudevents"))
    }) {
        return None;
    }
    let mut headers = binary_headers(event)?;
    if let Some(trace) = event.extension("traceparent") {
        headers.append(
            HeaderName::from_static("traceparent"),
            HeaderValue::try_from(trace.to_string()).ok()?,
        );
    }
    let size = 2
        + headers
            .iter()
            .map(|(n, v)| 3 + n.as_str().len() + v.len())
            .sum::<usize>()
        + body.len();
    let mut out = Vec::with_capacity(size);
    out.push(VERSION);
    out.push(u8::try_from(headers.len()).ok()?);
    for (name, value) in &headers {
        out.push(u8::try_from(name.as_str().len()).ok()?);
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(&u16::try_from(value.len()).ok()?.to_le_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(body);
    Some(out)
}

/// The request a stored event is delivered as: its headers and body, the
/// values sharing `stored`'s buffer.
pub fn decode(stored: &Bytes) -> anyhow::Result<(HeaderMap, Bytes)> {
    let bad = || anyhow::anyhow!("not a stored binary-mode event");
    let (&version, rest) = stored.split_first().ok_or_else(bad)?;
    let (&count, _) = rest.split_first().ok_or_else(bad)?;
    anyhow::ensure!(version == VERSION, "stored event version {version} unknown");
    let mut headers = HeaderMap::with_capacity(usize::from(count));
    let mut at = 2;
    for _ in 0..count {
        let name_len = usize::from(*stored.get(at).ok_or_else(bad)?);
        let name = stored.get(at + 1..at + 1 + name_len).ok_or_else(bad)?;
        at += 1 + name_len;
        let len = stored.get(at..at + 2).ok_or_else(bad)?;
        let value_len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        at += 2;
        anyhow::ensure!(at + value_len <= stored.len(), bad());
        let value = HeaderValue::from_maybe_shared(stored.slice(at..at + value_len))?;
        at += value_len;
        headers.append(HeaderName::from_bytes(name)?, value);
    }
    Ok((headers, stored.slice(at..)))
}

/// The record value an event is stored as: this form, or structured JSON
/// when binary mode cannot carry it exactly.
pub fn value(event: &Event) -> serde_json::Result<Value> {
    match encode(event) {
        Some(form) => Ok(Value::Binary(form.into())),
        None => Ok(Value::Event(serde_json::to_vec(event)?.into())),
    }
}

/// The event a stored form holds, as the sink took it.
pub fn to_event(stored: &Bytes) -> anyhow::Result<Event> {
    let (headers, body) = decode(stored)?;
    event_from_http(&headers, body.to_vec()).map_err(|e| anyhow::anyhow!(e))
}

#[cfg(test)]
mod tests {
    use cloudevents::{EventBuilder, EventBuilderV10};
    use proptest::prelude::*;

    use super::*;

    fn contact() -> Event {
        EventBuilderV10::new()
            .id("0195a3c2-7d1e-7000-8000-000000000001")
            .source("/pact/producer")
            .ty("dev.pact.contact.untranslated")
            .time(chrono::DateTime::from_timestamp_millis(1_764_000_000_123).expect("time"))
            .extension("partitionkey", "1-2")
            .extension(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .data(
                "text/csv",
                b"1,2,44.9778,-93.2650,2026-11-24T10:00:00Z\n".to_vec(),
            )
            .build()
            .expect("valid")
    }

    #[test]
    fn a_contact_is_delivered_as_the_sdk_sends_it() {
        use cloudevents::binding::reqwest::RequestBuilderExt;
        let event = contact();
        let stored = Bytes::from(encode(&event).expect("binary mode carries it"));
        let (headers, body) = decode(&stored).expect("decoded");
        let sdk = reqwest::Client::new()
            .post("http://subscriber/")
            .event(pact_runtime::binary::for_binary_mode(event.clone()))
            .expect("encoded")
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .build()
            .expect("request");
        let sorted = |map: &HeaderMap| {
            let mut pairs: Vec<(String, Vec<u8>)> = map
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect();
            pairs.sort();
            pairs
        };
        assert_eq!(sorted(&headers), sorted(sdk.headers()));
        assert_eq!(
            Some(body.as_ref()),
            sdk.body().and_then(reqwest::Body::as_bytes)
        );
        assert_eq!(to_event(&stored).expect("read back"), event);
    }

    #[test]
    fn what_binary_mode_cannot_carry_exactly_is_not_encoded() {
        let json = EventBuilderV10::new()
            .id("1")
            .source("/s")
            .ty("t")
            .data("application/json", serde_json::json!({"a": 1}))
            .build()
            .expect("valid");
        assert!(encode(&json).is_none(), "JSON data reads back as bytes");
        let mut typed = contact();
        typed.set_extension("knativeerrorcode", 500i64);
        assert!(encode(&typed).is_none(), "an integer reads back as text");
        let mut upper = contact();
        upper.set_extension("Team", "a");
        assert!(encode(&upper).is_none(), "header names are lowercase");
    }

    #[test]
    fn a_damaged_form_is_an_error() {
        let stored = encode(&contact()).expect("encoded");
        for cut in [0, 1, 5, 40] {
            assert!(decode(&Bytes::copy_from_slice(&stored[..cut])).is_err());
        }
        let mut other = stored.clone();
        other[0] = 9;
        assert!(decode(&Bytes::from(other)).is_err());
    }

    fn event_strategy() -> impl Strategy<Value = Event> {
        let text = "[a-zA-Z0-9 %\"é\u{7f}\t/:-]{0,8}";
        (
            (text, "[a-z/%é ]{1,6}", text, proptest::option::of(text)),
            proptest::option::of(0i64..4_000_000_000_000),
            proptest::option::of(prop_oneof![
                Just("application/json"),
                Just("text/csv"),
                Just("Application/CloudEvents+json"),
                Just("bad\u{1}type")
            ]),
            proptest::option::of(prop_oneof![Just("http://x/schema"), Just("urn:x")]),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("partitionkey"),
                        Just("traceparent"),
                        Just("team"),
                        Just("Mixed"),
                        Just("subject"),
                        Just("bad name")
                    ],
                    prop_oneof![
                        text.prop_map(ExtensionValue::String),
                        any::<bool>().prop_map(ExtensionValue::Boolean),
                        any::<i64>().prop_map(ExtensionValue::Integer),
                    ],
                ),
                0..4,
            ),
        )
            .prop_filter_map(
                "a valid event",
                |((id, source, ty, subject), millis, ct, schema, data, extensions)| {
                    let mut builder = EventBuilderV10::new().id(id).source(source).ty(ty);
                    if let Some(subject) = subject {
                        builder = builder.subject(subject);
                    }
                    if let Some(time) = millis.and_then(chrono::DateTime::from_timestamp_millis) {
                        builder = builder.time(time);
                    }
                    if let Some(data) = data {
                        let ct = ct.unwrap_or("application/octet-stream");
                        builder = match schema {
                            Some(schema) => builder.data_with_schema(ct, schema, data),
                            None => builder.data(ct, data),
                        };
                    }
                    for (name, value) in extensions {
                        builder = builder.extension(name, value);
                    }
                    builder.build().ok()
                },
            )
    }

    proptest! {
        #[test]
        fn an_encoded_event_reads_back_as_itself(event in event_strategy()) {
            if let Some(stored) = encode(&event) {
                let stored = Bytes::from(stored);
                prop_assert_eq!(to_event(&stored).ok(), Some(event.clone()));
                // The same request as the event, sent as before.
                let (headers, body) = decode(&stored).expect("decoded");
                let client = reqwest::Client::new();
                let mut before = pact_runtime::binary::binary_request(client.post("http://s/"), &event)
                    .expect("encodable");
                if let Some(trace) = event.extension("traceparent") {
                    before = before.header("traceparent", trace.to_string());
                }
                let before = before.build().expect("request");
                let pairs = |map: &HeaderMap| {
                    let mut pairs: Vec<(String, Vec<u8>)> = map
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                        .collect();
                    pairs.sort();
                    pairs
                };
                prop_assert_eq!(pairs(&headers), pairs(before.headers()));
                prop_assert_eq!(
                    Some(body.as_ref()).filter(|b| !b.is_empty()),
                    before.body().and_then(reqwest::Body::as_bytes)
                );
            }
        }
    }
}
