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
use cloudevents::{AttributesReader, AttributesWriter, Event};
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
