//! Nominatim's `/reverse?format=jsonv2&addressdetails=1` answer.
//!
//! "No result" is HTTP 200 with `{"error":"Unable to geocode"}`; other errors
//! are `{"error":{"code":400,"message":"..."}}` with that status.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde::Deserialize;

use super::provider::{Answer, Failure, address, street};

/// The public service; its usage policy asks for at most 1 request/s and a
/// `User-Agent` that identifies the application and a contact.
pub const PUBLIC_URL: &str = "https://nominatim.openstreetmap.org/";

#[derive(Deserialize)]
struct Reply {
    error: Option<serde_json::Value>,
    #[serde(default)]
    address: HashMap<String, String>,
}

/// Reads one answer (any status but 429 and 5xx).
pub fn read(status: StatusCode, body: &[u8]) -> Result<Answer, Failure> {
    let parsed: Option<Reply> = serde_json::from_slice(body).ok();
    if !status.is_success() {
        let status = parsed
            .as_ref()
            .and_then(|r| r.error.as_ref())
            .and_then(|e| e.get("code"))
            .and_then(serde_json::Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(status.as_u16());
        return Err(Failure::Rejected {
            status,
            reason: if status == 403 {
                "access denied (usage policy)"
            } else {
                "bad request"
            },
        });
    }
    let reply = parsed.ok_or(Failure::BadResponse)?;
    match reply.error {
        Some(serde_json::Value::String(_)) => return Ok(Answer::NoResult),
        Some(_) => {
            return Err(Failure::Rejected {
                status: 400,
                reason: "bad request",
            });
        }
        None => {}
    }
    let a = &reply.address;
    let get = |k: &str| a.get(k).map(String::as_str);
    if a.is_empty() {
        return Ok(Answer::NoResult);
    }
    let city = ["city", "town", "village", "hamlet", "municipality"]
        .into_iter()
        .find_map(get)
        .unwrap_or_default();
    let country = get("country_code").unwrap_or_default();
    // A US state's code ("US-MN" → "MN"), as the original demo stored it;
    // elsewhere the region's name, as the offline geocoder gives it.
    let code = get("ISO3166-2-lvl4")
        .and_then(|c| c.split_once('-'))
        .map(|(_, c)| c);
    let state = match (country.eq_ignore_ascii_case("us"), code, get("state")) {
        (true, Some(code), _) => code,
        (_, _, Some(name)) => name,
        (_, Some(code), None) => code,
        _ => "",
    };
    Ok(Answer::Found(address(
        &street(get("house_number"), get("road")),
        city,
        state,
        get("postcode").unwrap_or_default(),
        country,
    )))
}
