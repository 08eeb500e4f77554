//! CloudEvents HTTP binary mode, with the header encoding the binding asks
//! for: a `ce-` header value is percent-encoded (space, `"`, `%` and anything
//! outside printable ASCII), and the receiver decodes it (CloudEvents HTTP
//! binding 1.0, section 3.1.3.2). The Rust SDK does neither, so PACT does it
//! here: an event read in binary mode carries the same attribute values as the
//! same event read in structured mode, and SDKs that decode (Python, Go, Java)
//! read what PACT meant.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use cloudevents::event::ExtensionValue;
use cloudevents::event::SpecVersion;
use cloudevents::{AttributesReader, AttributesWriter, Data, Event};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// What the binding says to encode, beyond non-ASCII (always encoded).
const HEADER_VALUE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'%');

/// Structured mode, in any case: read without decoding the headers.
const CE_PREFIX: &str = "application/cloudevents";

/// Reads a request as a CloudEvent in binary or structured mode, decoding
/// binary-mode header values.
pub fn event_from_http(headers: &http::HeaderMap, body: Vec<u8>) -> Result<Event, String> {
    let structured = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with(CE_PREFIX));
    let event = cloudevents::binding::http::to_event(headers, body).map_err(|e| e.to_string())?;
    if structured {
        Ok(event)
    } else {
        decoded(event)
    }
}

/// Encodes the attribute values of an event about to be sent in binary mode
/// (to `K_SINK`, or in a reply).
pub fn for_binary_mode(mut event: Event) -> Event {
    let encode = |s: &str| utf8_percent_encode(s, HEADER_VALUE).to_string();
    let id = encode(event.id());
    let source = encode(event.source());
    let ty = encode(event.ty());
    let subject = event.subject().map(encode);
    event.set_id(id);
    event.set_source(source);
    event.set_type(ty);
    event.set_subject(subject);
    let extensions: Vec<(String, String)> = event
        .iter_extensions()
        .filter_map(|(name, value)| match value {
            ExtensionValue::String(s) => Some((name.to_owned(), encode(s))),
            _ => None,
        })
        .collect();
    for (name, value) in extensions {
        event.set_extension(&name, value);
    }
    event
}

/// The headers of `event` in binary mode, with the values encoded as
/// [`for_binary_mode`] does: what the SDK's serializer writes for
/// `for_binary_mode(event)`, header for header and in the same order (the
/// extensions in the order of the event's map, as arbitrary as the SDK's),
/// without its generic path (a `String` per header name and per value, a
/// builder moved per header). A value is copied once, and encoded only when it needs
/// to be. `None` when a header cannot be written (the SDK then reports it)
/// and for version 0.3.
pub fn binary_headers(event: &Event) -> Option<http::HeaderMap> {
    use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
    if event.specversion() != SpecVersion::V10 {
        return None;
    }
    let name = HeaderName::from_static;
    let mut headers = http::HeaderMap::with_capacity(16);
    headers.append(name("ce-specversion"), HeaderValue::from_static("1.0"));
    headers.append(name("ce-id"), encoded_value(event.id())?);
    headers.append(name("ce-type"), encoded_value(event.ty())?);
    headers.append(name("ce-source"), encoded_value(event.source())?);
    if let Some(content_type) = event.datacontenttype() {
        headers.append(CONTENT_TYPE, HeaderValue::from_str(content_type).ok()?);
    }
    if let Some(schema) = event.dataschema() {
        headers.append(
            name("ce-dataschema"),
            HeaderValue::from_str(schema.as_str()).ok()?,
        );
    }
    if let Some(subject) = event.subject() {
        headers.append(name("ce-subject"), encoded_value(subject)?);
    }
    if let Some(time) = event.time() {
        headers.append(
            name("ce-time"),
            HeaderValue::try_from(time.to_rfc3339()).ok()?,
        );
    }
    for (extension, value) in event.iter_extensions() {
        let header = match extension {
            "partitionkey" => name("ce-partitionkey"),
            "traceparent" => name("ce-traceparent"),
            // The SDK writes this one as `content-type`.
            "datacontenttype" => return None,
            _ => HeaderName::from_bytes(format!("ce-{extension}").as_bytes()).ok()?,
        };
        let value = match value {
            ExtensionValue::String(s) => encoded_value(s)?,
            other => HeaderValue::try_from(other.to_string()).ok()?,
        };
        headers.append(header, value);
    }
    Some(headers)
}

/// The body of an event in binary mode: its data as it is, JSON written out.
pub fn binary_body(data: Option<Data>) -> Vec<u8> {
    match data {
        None => Vec::new(),
        Some(Data::Binary(bytes)) => bytes,
        Some(Data::String(text)) => text.into_bytes(),
        // Writing a JSON value to a Vec cannot fail.
        Some(Data::Json(value)) => serde_json::to_vec(&value).unwrap_or_default(),
    }
}

/// `event` as a binary-mode reply: the response the SDK makes
/// of `for_binary_mode(event)`, written by [`binary_headers`].
pub fn binary_response(mut event: Event) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(headers) = binary_headers(&event) else {
        return for_binary_mode(event).into_response();
    };
    let (_, _, data) = event.take_data();
    let mut response = axum::response::Response::new(axum::body::Body::from(binary_body(data)));
    *response.headers_mut() = headers;
    response
}

/// Puts `event` on a request to a sink in binary mode: what the SDK's
/// `RequestBuilderExt::event` does with `for_binary_mode(event)`.
pub fn binary_request(
    request: reqwest::RequestBuilder,
    event: &Event,
) -> Result<reqwest::RequestBuilder, cloudevents::message::Error> {
    use cloudevents::binding::reqwest::RequestBuilderExt;
    match binary_headers(event) {
        Some(headers) => Ok(match event.data() {
            Some(data) => request
                .headers(headers)
                .body(binary_body(Some(data.clone()))),
            None => request.headers(headers),
        }),
        None => request.event(for_binary_mode(event.clone())),
    }
}

/// A header value percent-encoded as the binding asks, copied once.
fn encoded_value(value: &str) -> Option<http::HeaderValue> {
    match Cow::from(utf8_percent_encode(value, HEADER_VALUE)) {
        Cow::Borrowed(value) => http::HeaderValue::from_str(value).ok(),
        Cow::Owned(encoded) => http::HeaderValue::try_from(encoded).ok(),
    }
}

/// The attributes of a binary-mode request that reading it uses, taken
/// straight from the headers: values borrowed, percent-decoded only when
/// they hold a `%`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryAttributes<'a> {
    /// `ce-id`, decoded.
    pub id: Cow<'a, str>,
    /// `ce-source`, decoded.
    pub source: Cow<'a, str>,
    /// `ce-type`, decoded.
    pub ty: Cow<'a, str>,
    /// `ce-time`.
    pub time: Option<DateTime<Utc>>,
    /// The `traceparent` extension (`ce-traceparent`), decoded.
    pub traceparent: Option<Cow<'a, str>>,
    /// `Content-Type`, as sent: the event's `datacontenttype`.
    pub content_type: Option<&'a str>,
}

/// Reads a binary-mode request's attributes without building an [`Event`],
/// for the requests [`event_from_http`] would read as one: version 1.0, each
/// header once, every `ce-` value text, `id`, `source` and `type` present,
/// `time` RFC 3339, every decoded value UTF-8. `None` for anything else
/// (errors included), which [`event_from_http`] then reads, and answers, as
/// it always has.
pub fn binary_attributes(headers: &http::HeaderMap) -> Option<BinaryAttributes<'_>> {
    // A repeated header: the SDK keeps the last value; leave that to it.
    if headers.keys_len() != headers.len() {
        return None;
    }
    let content_type = match headers.get(http::header::CONTENT_TYPE) {
        Some(value) => Some(value.to_str().ok()?),
        None => None,
    };
    if content_type.is_some_and(|ct| {
        ct.get(..CE_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(CE_PREFIX))
    }) {
        return None;
    }
    let (mut id, mut source, mut ty, mut time, mut traceparent) = (None, None, None, None, None);
    let mut version = false;
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        let value = value.to_str().ok()?;
        match attribute {
            "specversion" if value == "1.0" => version = true,
            "id" => id = Some(percent_decoded(value)?),
            "source" => source = Some(percent_decoded(value)?),
            "type" => ty = Some(percent_decoded(value)?),
            "time" => time = Some(DateTime::parse_from_rfc3339(value).ok()?.to_utc()),
            // Rare, and checked by the SDK (a URL; the data's type twice).
            "specversion" | "dataschema" | "datacontenttype" => return None,
            "traceparent" => traceparent = Some(percent_decoded(value)?),
            // `subject` and the other extensions: checked, not kept.
            _ => drop(percent_decoded(value)?),
        }
    }
    Some(BinaryAttributes {
        id: id.filter(|_| version)?,
        source: source?,
        ty: ty?,
        time,
        traceparent,
        content_type,
    })
}

/// What [`decoded`] makes of a header value, borrowed when it holds no `%`.
fn percent_decoded(value: &str) -> Option<Cow<'_, str>> {
    if value.contains('%') {
        percent_decode_str(value).decode_utf8().ok()
    } else {
        Some(Cow::Borrowed(value))
    }
}

fn decoded(mut event: Event) -> Result<Event, String> {
    let decode = |name: &str, s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|d| d.into_owned())
            .map_err(|_| format!("header ce-{name} is not percent-encoded UTF-8"))
    };
    let id = decode("id", event.id())?;
    let source = decode("source", event.source())?;
    let ty = decode("type", event.ty())?;
    let subject = event.subject().map(|s| decode("subject", s)).transpose()?;
    let mut extensions = Vec::new();
    for (name, value) in event.iter_extensions() {
        if let ExtensionValue::String(s) = value {
            extensions.push((name.to_owned(), decode(name, s)?));
        }
    }
    event.set_id(id);
    event.set_source(source);
    event.set_type(ty);
    event.set_subject(subject);
    for (name, value) in extensions {
        event.set_extension(&name, value);
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};
    use http::HeaderMap;

    fn event(id: &str, extension: &str) -> Event {
        EventBuilderV10::new()
            .id(id)
            .source("/a b")
            .ty("dev.pact.contact.untranslated")
            .extension("team", extension)
            .build()
            .expect("valid")
    }

    #[test]
    fn round_trips_what_headers_cannot_hold() {
        let original = event("order 1 \"x\" 100%", "Zürich");
        let encoded = for_binary_mode(original.clone());
        assert_eq!(encoded.id(), "order%201%20%22x%22%20100%25");
        assert_eq!(
            encoded
                .extension("team")
                .map(ToString::to_string)
                .as_deref(),
            Some("Z%C3%BCrich")
        );
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("ce-specversion", "1.0".to_owned()),
            ("ce-id", encoded.id().to_owned()),
            ("ce-source", encoded.source().to_string()),
            ("ce-type", encoded.ty().to_owned()),
            ("ce-team", "Z%C3%BCrich".to_owned()),
        ] {
            headers.insert(name, value.parse().expect("ASCII"));
        }
        let read = event_from_http(&headers, Vec::new()).expect("valid");
        assert_eq!(read, original);
    }

    use proptest::prelude::*;

    fn event_strategy() -> impl Strategy<Value = Event> {
        let text = "[a-zA-Z0-9 %\"é\u{7f}\t/:-]{0,8}";
        (
            (text, "[a-z/%é ]{1,6}", text, proptest::option::of(text)),
            proptest::option::of(0i64..4_000_000_000_000),
            proptest::option::of(prop_oneof![
                Just("application/json"),
                Just("text/csv"),
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

    /// The headers in order, but for the extensions': they come in the
    /// order of a `HashMap` (the event's), as arbitrary in the SDK.
    fn head(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        let attributes = [
            "ce-specversion",
            "ce-id",
            "ce-type",
            "ce-source",
            "content-type",
            "ce-dataschema",
            "ce-subject",
            "ce-time",
        ];
        let all: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        let (mut head, mut extensions): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|(name, _)| attributes.contains(&name.as_str()));
        extensions.sort();
        head.extend(extensions);
        head
    }

    async fn response_parts(
        response: axum::response::Response,
    ) -> (u16, Vec<(String, Vec<u8>)>, Vec<u8>) {
        use http_body_util::BodyExt;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("a body").to_bytes().to_vec();
        (parts.status.as_u16(), head(&parts.headers), body)
    }

    proptest! {
        #[test]
        fn binary_mode_is_written_as_the_sdk_writes_it(event in event_strategy()) {
            use axum::response::IntoResponse;
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            let ours = runtime.block_on(response_parts(binary_response(event.clone())));
            let sdk = runtime.block_on(response_parts(for_binary_mode(event.clone()).into_response()));
            prop_assert_eq!(ours, sdk);

            use cloudevents::binding::reqwest::RequestBuilderExt;
            let client = reqwest::Client::new();
            let ours = binary_request(client.post("http://sink/"), &event).map(|r| r.build());
            let sdk = client.post("http://sink/").event(for_binary_mode(event.clone())).map(|r| r.build());
            match (ours, sdk) {
                (Ok(Ok(ours)), Ok(Ok(sdk))) => {
                    prop_assert_eq!(head(ours.headers()), head(sdk.headers()));
                    let body = |r: &reqwest::Request| r.body().and_then(|b| b.as_bytes()).map(<[u8]>::to_vec);
                    prop_assert_eq!(body(&ours), body(&sdk));
                }
                (Ok(Err(ours)), Ok(Err(sdk))) => prop_assert_eq!(ours.to_string(), sdk.to_string()),
                (ours, sdk) => prop_assert!(false, "{ours:?} but the SDK: {sdk:?}"),
            }
        }
    }

    #[test]
    fn rejects_encoded_bytes_that_are_not_utf8() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("ce-specversion", "1.0"),
            ("ce-id", "%FF"),
            ("ce-source", "/x"),
            ("ce-type", "t"),
        ] {
            headers.insert(name, value.parse().expect("ASCII"));
        }
        assert!(event_from_http(&headers, Vec::new()).is_err());
    }
}
