//! MapQuest's `/geocoding/v1/reverse` answer, the original demo's provider.
//!
//! A bad key is 403 with plain text today, or (older form) `info.statuscode`
//! 403 in a JSON body; bad input is `info.statuscode` 400; nothing found is
//! `statuscode` 0 with no locations. Empty fields are `""`.

use reqwest::StatusCode;
use serde::Deserialize;

use super::provider::{Answer, Failure, address};

/// MapQuest's service; it needs a key (`PACT_GEOCODER_KEY`).
pub const PUBLIC_URL: &str = "https://www.mapquestapi.com/";

#[derive(Deserialize)]
struct Reply {
    info: Info,
    #[serde(default)]
    results: Vec<Result>,
}

#[derive(Deserialize)]
struct Info {
    statuscode: u16,
}

#[derive(Deserialize)]
struct Result {
    #[serde(default)]
    locations: Vec<Location>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    #[serde(default)]
    street: String,
    #[serde(default)]
    admin_area5: String,
    #[serde(default)]
    admin_area3: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    admin_area1: String,
}

fn rejected(status: u16) -> Failure {
    Failure::Rejected {
        status,
        reason: match status {
            401 | 403 => "the key is not valid (PACT_GEOCODER_KEY)",
            _ => "bad request",
        },
    }
}

/// Reads one answer (any status but 429 and 5xx).
pub fn read(status: StatusCode, body: &[u8]) -> std::result::Result<Answer, Failure> {
    let parsed: Option<Reply> = serde_json::from_slice(body).ok();
    let Some(reply) = parsed else {
        return Err(if status.is_success() {
            Failure::BadResponse
        } else {
            rejected(status.as_u16())
        });
    };
    match reply.info.statuscode {
        0 if status.is_success() => {}
        0 => return Err(rejected(status.as_u16())),
        code if code >= 500 => return Err(Failure::Server { status: code }),
        code => return Err(rejected(code)),
    }
    let location = reply
        .results
        .into_iter()
        .next()
        .and_then(|r| r.locations.into_iter().next());
    let Some(l) = location else {
        return Ok(Answer::NoResult);
    };
    let found = address(
        &l.street,
        &l.admin_area5,
        &l.admin_area3,
        &l.postal_code,
        &l.admin_area1,
    );
    if found == Default::default() {
        return Ok(Answer::NoResult);
    }
    Ok(Answer::Found(found))
}
