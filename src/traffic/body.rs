//! The bodies of the requests that carry contacts, written through
//! `pact_runtime::wire` (the same types and CSV lines the functions read).
//!
//! Every contact gets its id (UUIDv7) and its `observed_at` when its body is
//! built, before the first attempt; a retry resends the same bytes, so the
//! producer (which honours the `id` of each item) or any idempotent sink
//! keeps one contact however often it is retried.

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use cloudevents::binding::reqwest::RequestBuilderExt;
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use pact_runtime::binary::for_binary_mode;
use pact_runtime::wire::{UNTRANSLATED, UntranslatedData};
use serde::Serialize;

use crate::simulate::world::SimContact;

/// A new event id: a UUIDv7, so ids sort by time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// When contacts were observed: milliseconds, as the producer keeps them,
/// and never in the future.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The event's `time`.
    pub time: DateTime<Utc>,
    /// The data's `observed_at` (RFC 3339, milliseconds, `Z`).
    pub text: String,
}

impl Observed {
    /// `now`, cut to milliseconds.
    pub fn at(now: DateTime<Utc>) -> Self {
        let time = now.trunc_subsecs(3);
        let text = time.to_rfc3339_opts(SecondsFormat::Millis, true);
        Self { time, text }
    }

    /// The untranslated data of a simulated contact, observed then.
    pub fn data(&self, c: &SimContact) -> UntranslatedData {
        UntranslatedData {
            mmid1: c.mmid1,
            mmid2: c.mmid2,
            lat: c.lat,
            lon: c.lon,
            observed_at: Some(self.text.clone()),
        }
    }
}

/// One contact of pact-producer's `POST /contacts`: its data and its id.
#[derive(Debug, Clone, Serialize)]
pub struct Stamped {
    /// The id the producer gives the event (DESIGN.md section 3).
    pub id: String,
    /// The contact.
    #[serde(flatten)]
    pub data: UntranslatedData,
}

/// The attributes of an event that carries a contact.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// `id`.
    pub id: &'a str,
    /// `source`.
    pub source: &'a str,
    /// `time`.
    pub time: DateTime<Utc>,
    /// The `partitionkey` extension, if any.
    pub partition_key: Option<&'a str>,
    /// Extensions that win over the others (`K_CE_OVERRIDES`).
    pub overrides: &'a [(String, String)],
}

/// The data of an event that carries a contact.
#[derive(Debug, Clone)]
pub enum EventData {
    /// `application/json`.
    Json(UntranslatedData),
    /// The CSV line (with `observed_at`) as `text/csv`.
    Csv(UntranslatedData),
    /// Bytes as given (`--data-file`), with their media type.
    Raw {
        /// `datacontenttype`.
        content_type: &'static str,
        /// The data.
        bytes: Bytes,
    },
}

/// A request body, built once and resent as it is.
#[derive(Debug, Clone)]
pub enum Body {
    /// JSON for pact-producer's `POST …/contacts`, with an `Idempotency-Key`
    /// when it is one contact.
    Json {
        /// The JSON.
        bytes: Bytes,
        /// The `Idempotency-Key` header.
        idempotency_key: Option<String>,
    },
    /// The original demo's `?message=mmid1,mmid2,lat,lon`, no body.
    Message(String),
    /// One CloudEvent, sent in binary mode.
    Event(Box<Event>),
}

impl Body {
    /// A JSON array of contacts, each with its id.
    pub fn batch(items: &[Stamped]) -> anyhow::Result<Self> {
        Ok(Self::Json {
            bytes: serde_json::to_vec(items)?.into(),
            idempotency_key: None,
        })
    }

    /// One JSON contact, its id also its `Idempotency-Key`.
    pub fn one(item: &Stamped) -> anyhow::Result<Self> {
        Ok(Self::Json {
            bytes: serde_json::to_vec(item)?.into(),
            idempotency_key: Some(item.id.clone()),
        })
    }

    /// JSON bytes as given (`--data-file`).
    pub fn json(bytes: Bytes) -> Self {
        Self::Json {
            bytes,
            idempotency_key: None,
        }
    }

    /// The original demo's message: the CSV line without `observed_at`.
    pub fn message(data: &UntranslatedData) -> Self {
        let line = UntranslatedData {
            observed_at: None,
            ..data.clone()
        };
        Self::Message(line.to_csv())
    }

    /// A `dev.pact.contact.untranslated` event.
    pub fn event(envelope: Envelope<'_>, data: EventData) -> anyhow::Result<Self> {
        let (content_type, bytes) = match data {
            EventData::Json(data) => ("application/json", serde_json::to_vec(&data)?),
            EventData::Csv(data) => ("text/csv", data.to_csv().into_bytes()),
            EventData::Raw {
                content_type,
                bytes,
            } => (content_type, bytes.to_vec()),
        };
        let mut builder = EventBuilderV10::new()
            .id(envelope.id)
            .source(envelope.source)
            .ty(UNTRANSLATED)
            .time(envelope.time)
            .data(content_type, bytes);
        if let Some(key) = envelope.partition_key {
            builder = builder.extension("partitionkey", key);
        }
        // K_CE_OVERRIDES win, as with a SinkBinding.
        for (name, value) in envelope.overrides {
            builder = builder.extension(name, value.as_str());
        }
        let event = builder.build().context("cannot build the CloudEvent")?;
        Ok(Self::Event(Box::new(for_binary_mode(event))))
    }

    /// The POST of this body to `url`.
    pub fn post(
        &self,
        client: &reqwest::Client,
        url: &reqwest::Url,
    ) -> Result<reqwest::RequestBuilder, String> {
        let post = client.post(url.clone());
        match self {
            Self::Json {
                bytes,
                idempotency_key,
            } => {
                let mut post = post
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(bytes.clone());
                if let Some(key) = idempotency_key {
                    post = post.header("idempotency-key", key);
                }
                Ok(post)
            }
            Self::Message(message) => Ok(post.query(&[("message", message)])),
            Self::Event(event) => post
                .event(event.as_ref().clone())
                .map_err(|e| format!("cannot encode the CloudEvent: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudevents::AttributesReader;

    use super::*;

    fn contact() -> SimContact {
        SimContact {
            tick: 1,
            mmid1: 4,
            mmid2: 7,
            lat: 44.97,
            lon: -93.26,
        }
    }

    #[test]
    fn the_forms_carry_the_same_contact() {
        let observed = Observed::at("2026-11-24T10:00:00.123456Z".parse().expect("time"));
        assert_eq!(observed.text, "2026-11-24T10:00:00.123Z");
        let data = observed.data(&contact());
        let Body::Message(message) = Body::message(&data) else {
            panic!("a message");
        };
        assert_eq!(message, "4,7,44.97,-93.26");
        let item = Stamped {
            id: "a".into(),
            data: data.clone(),
        };
        let Body::Json {
            bytes,
            idempotency_key,
        } = Body::one(&item).expect("JSON")
        else {
            panic!("JSON");
        };
        assert_eq!(idempotency_key.as_deref(), Some("a"));
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(
            json,
            serde_json::json!({"id": "a", "mmid1": 4, "mmid2": 7, "lat": 44.97,
                "lon": -93.26, "observed_at": "2026-11-24T10:00:00.123Z"})
        );
        let envelope = Envelope {
            id: "a",
            source: "/pact/test",
            time: observed.time,
            partition_key: None,
            overrides: &[],
        };
        let Body::Event(event) = Body::event(envelope, EventData::Csv(data)).expect("event") else {
            panic!("an event");
        };
        assert_eq!(event.datacontenttype(), Some("text/csv"));
        assert!(event.extension("partitionkey").is_none());
        let Some(cloudevents::Data::Binary(line)) = event.data() else {
            panic!("bytes");
        };
        assert_eq!(
            line.as_slice(),
            b"4,7,44.97,-93.26,2026-11-24T10:00:00.123Z"
        );
    }
}
