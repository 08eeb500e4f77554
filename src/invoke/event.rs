//! The event `pact invoke` sends: its data (given, or a valid contact),
//! attributes and extensions, and its encoding in binary or structured mode.

use chrono::{DateTime, SecondsFormat, Utc};
use cloudevents::binding::reqwest::RequestBuilderExt;
use cloudevents::{Data, Event, EventBuilder, EventBuilderV10};
use pact_runtime::binary::for_binary_mode;
use pact_runtime::wire::{self, TranslatedData, UntranslatedData, is_json};
use reqwest::Url;
use serde_json::Value;

use super::{Args, Mode, RECOMMENDED_EXTENSION_NAME_CHARS};

/// The default data of an event of `event_type`, observed at `now`: a
/// translated contact for `dev.pact.contact.translated`, an untranslated one
/// for any other type.
pub fn default_data(event_type: &str, now: DateTime<Utc>) -> Vec<u8> {
    let observed_at = Some(now.to_rfc3339_opts(SecondsFormat::Secs, true));
    let encoded = if event_type == wire::TRANSLATED {
        serde_json::to_vec(&TranslatedData {
            mmid1: 1,
            mmid2: 2,
            lat: Some(44.9778),
            lon: Some(-93.265),
            observed_at,
            street: String::new(),
            city: "Minneapolis".into(),
            state: "MN".into(),
            zipcode: "55415".into(),
            country: "US".into(),
            geocoder: "offline".into(),
        })
    } else {
        serde_json::to_vec(&UntranslatedData {
            mmid1: 1,
            mmid2: 2,
            lat: 44.9778,
            lon: -93.265,
            observed_at,
        })
    };
    // Serializing plain numbers and strings cannot fail.
    encoded.unwrap_or_default()
}

pub(super) fn build_event(
    args: &Args,
    data: Option<Vec<u8>>,
    now: DateTime<Utc>,
) -> Result<Event, String> {
    let given = data.is_some();
    let bytes = data.unwrap_or_else(|| default_data(&args.event_type, now));
    let parsed = serde_json::from_slice::<Value>(&bytes).ok();
    let content_type = match (&args.content_type, &parsed) {
        (Some(ct), _) => ct.clone(),
        (None, Some(_)) => "application/json".to_owned(),
        (None, None) => {
            eprintln!(
                "pact invoke: note: the data is not JSON; sending it as text/plain (choose with --content-type)"
            );
            "text/plain".to_owned()
        }
    };
    let json_value = parsed.as_ref().filter(|_| is_json(&content_type));
    // The contact's own time and pair, when the data has them.
    let time = json_value
        .and_then(|v| v.get("observed_at"))
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map_or(now, |t| t.with_timezone(&Utc));
    let partition_key = json_value.and_then(|v| {
        let first = v.get("mmid1")?.as_i64()?;
        let second = v.get("mmid2")?.as_i64()?;
        Some(format!("{}-{}", first.min(second), first.max(second)))
    });

    let data = match (args.mode, json_value) {
        // Binary mode sends the bytes exactly as given.
        (Mode::Binary, _) => Data::Binary(bytes),
        // Structured mode embeds JSON as JSON, text as a string, the rest
        // as `data_base64`.
        (Mode::Structured, Some(value)) => Data::Json(value.clone()),
        (Mode::Structured, None) => {
            if content_type
                .trim()
                .to_ascii_lowercase()
                .starts_with("text/")
            {
                match String::from_utf8(bytes) {
                    Ok(text) => Data::String(text),
                    Err(e) => Data::Binary(e.into_bytes()),
                }
            } else {
                Data::Binary(bytes)
            }
        }
    };
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let mut builder = EventBuilderV10::new()
        .id(id)
        .source(args.source.as_str())
        .ty(args.event_type.as_str())
        .time(time)
        .data(content_type, data);
    if let Some(key) = partition_key {
        builder = builder.extension("partitionkey", key);
    }
    for (name, value) in &args.extensions {
        builder = builder.extension(name, value.as_str());
    }
    let event = builder
        .build()
        .map_err(|e| format!("cannot build the event: {e}"))?;
    for (name, _) in &args.extensions {
        if name.len() > RECOMMENDED_EXTENSION_NAME_CHARS {
            eprintln!(
                "pact invoke: note: extension name {name:?} is longer than the {RECOMMENDED_EXTENSION_NAME_CHARS} characters the CloudEvents spec recommends"
            );
        }
    }
    if !given && args.event_type != wire::UNTRANSLATED && args.event_type != wire::TRANSLATED {
        eprintln!(
            "pact invoke: note: no --data given; sending an untranslated contact as the data of a {} event",
            args.event_type
        );
    }
    Ok(event)
}

pub(super) fn encode(
    client: &reqwest::Client,
    url: &Url,
    mode: Mode,
    event: Event,
) -> anyhow::Result<reqwest::Request> {
    let builder = client.post(url.clone());
    let builder = match mode {
        Mode::Binary => builder
            .event(for_binary_mode(event))
            .map_err(|e| anyhow::anyhow!("cannot encode the event in binary mode: {e}"))?,
        Mode::Structured => builder
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/cloudevents+json; charset=utf-8",
            )
            .body(
                serde_json::to_vec(&event)
                    .map_err(|e| anyhow::anyhow!("cannot encode the event: {e}"))?,
            ),
    };
    builder
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the request: {e}"))
}
