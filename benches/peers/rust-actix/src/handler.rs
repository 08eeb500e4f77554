//! The function: an untranslated contact (a CSV line `mmid1,mmid2,lat,lon[,observed_at]`
//! as the data of a `dev.pact.contact.untranslated` event) in, a
//! `dev.pact.contact.translated` event with JSON data out. A peer has no
//! geocoder: every contact is placed in the same city.

use actix_web::error::{ErrorBadRequest, ErrorInternalServerError};
use cloudevents::event::{Data, ExtensionValue};
use cloudevents::{AttributesReader, Event, EventBuilder, EventBuilderV10};
use log::debug;
use serde_json::json;

pub async fn handle(event: Event) -> Result<Event, actix_web::Error> {
    debug!("event: {event}");
    let line: &[u8] = match event.data() {
        Some(Data::Binary(bytes)) => bytes,
        Some(Data::String(text)) => text.as_bytes(),
        _ => return Err(ErrorBadRequest("expected a CSV line as data")),
    };
    let record = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .from_reader(line)
        .records()
        .next()
        .ok_or_else(|| ErrorBadRequest("no CSV line"))?
        .map_err(ErrorBadRequest)?;
    if !(4..=5).contains(&record.len()) {
        return Err(ErrorBadRequest(
            "expected mmid1,mmid2,lat,lon[,observed_at]",
        ));
    }
    let mmid1: u64 = record[0].parse().map_err(ErrorBadRequest)?;
    let mmid2: u64 = record[1].parse().map_err(ErrorBadRequest)?;
    let lat: f64 = record[2].parse().map_err(ErrorBadRequest)?;
    let lon: f64 = record[3].parse().map_err(ErrorBadRequest)?;
    let observed_at = record.get(4).unwrap_or_default();

    let mut reply = EventBuilderV10::new()
        .id(uuid::Uuid::new_v4().to_string())
        .source("/peers/rust-actix")
        .ty("dev.pact.contact.translated")
        .data(
            "application/json",
            json!({
                "mmid1": mmid1, "mmid2": mmid2, "lat": lat, "lon": lon,
                "observed_at": observed_at,
                "street": "", "city": "Minneapolis", "state": "MN",
                "zipcode": "55415", "country": "US", "geocoder": "fixed",
            }),
        );
    if let Some(time) = event.time() {
        reply = reply.time(*time);
    }
    // Keep the pair's partition key and the trace going, as PACT does.
    for name in ["partitionkey", "traceparent"] {
        if let Some(ExtensionValue::String(value)) = event.extension(name) {
            reply = reply.extension(name, value.as_str());
        }
    }
    reply.build().map_err(ErrorInternalServerError)
}
