//! Event identity (DESIGN.md section 3, "Identity and duplicates").
//!
//! CloudEvents makes only `source` + `id` unique: two senders may pick the
//! same `id`, and a KafkaSource envelope id (`partition:0/offset:7`) repeats
//! across topics. So an emitted id is never an input id copied under a new
//! `source`: it is a name-based UUID (v5) of the whole input identity. A
//! redelivered input gives the identical output event, and two different
//! inputs never share an output identity.
//!
//! The names hashed, so that anyone can recompute an id (the demo and the
//! tests do), are UTF-8 text under [`NAMESPACE`]:
//! - for an event: `source`, a line feed, `id` ([`of_event`]);
//! - for a contact a client sent with a key of its own: the key, then
//!   `mmid1`, `mmid2`, `lat`, `lon` and `observed_at` as sent, each on its own
//!   line ([`of_contact`]). The numbers are written as Rust's `Display`
//!   writes them (shortest round-trip decimal), the time in RFC 3339 UTC, or
//!   empty when the client gave none (a time stamped on arrival would make
//!   each retry a new contact). For an incoming CloudEvent the key is its
//!   [`of_event`] id.
//!
//! The names are unambiguous because an id holds no line feed ([`event_id`]).

use uuid::Uuid;

use crate::contact::Contact;
use crate::error::{Error, Result};

/// The UUIDv5 namespace of PACT's derived event ids.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x9d8b_f4f9_de60_4a47_8e04_041d_bb32_ce4d);

/// Most characters in an event id PACT accepts from outside.
pub const MAX_EVENT_ID_CHARS: usize = 128;

/// Checks an event id given from outside (`Idempotency-Key`, an `id` field, an
/// input event's `id`): 1 to [`MAX_EVENT_ID_CHARS`] printable ASCII characters
/// (space to `~`), not starting or ending with a space. Nothing is trimmed:
/// `" 1"` is refused rather than read as `"1"`, so two ids never collide by
/// cleaning, and control or bidirectional characters never reach a log.
pub fn event_id(field: &str, raw: &str) -> Result<String> {
    if raw.is_empty() || raw.len() > MAX_EVENT_ID_CHARS {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {MAX_EVENT_ID_CHARS} characters long"),
        ));
    }
    if !raw.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(Error::invalid(
            field,
            "must be printable ASCII (space to ~), without control or non-ASCII characters",
        ));
    }
    if raw.starts_with(' ') || raw.ends_with(' ') {
        return Err(Error::invalid(field, "must not start or end with a space"));
    }
    Ok(raw.to_owned())
}

/// The id of the event made from the input event `source` + `id`.
pub fn of_event(source: &str, id: &str) -> String {
    Uuid::new_v5(&NAMESPACE, format!("{source}\n{id}").as_bytes()).to_string()
}

/// The id of the event made from a contact a client sent under `key` (an
/// `Idempotency-Key`, an `id` field, or [`of_event`] of its CloudEvent).
/// `time_given` says whether the client gave the contact's time.
pub fn of_contact(key: &str, contact: &Contact, time_given: bool) -> String {
    let observed_at = if time_given {
        contact.observed_at.to_string()
    } else {
        String::new()
    };
    let name = format!(
        "{key}\n{}\n{}\n{}\n{}\n{observed_at}",
        contact.pair.first().get(),
        contact.pair.second().get(),
        contact.at.lat(),
        contact.at.lon(),
    );
    Uuid::new_v5(&NAMESPACE, name.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::UntranslatedData;
    use chrono::Utc;

    fn contact(mmid1: i64, mmid2: i64, observed_at: Option<&str>) -> Contact {
        UntranslatedData {
            mmid1,
            mmid2,
            lat: 44.9778,
            lon: -93.265,
            observed_at: observed_at.map(str::to_owned),
        }
        .into_contact(None, Utc::now())
        .expect("valid")
    }

    #[test]
    fn the_same_input_gives_the_same_id() {
        assert_eq!(of_event("/phone/A", "1"), of_event("/phone/A", "1"));
        let c = contact(1, 2, Some("2026-11-24T10:00:00Z"));
        assert_eq!(of_contact("k", &c, true), of_contact("k", &c, true));
    }

    #[test]
    fn different_inputs_never_share_an_id() {
        assert_ne!(of_event("/phone/A", "1"), of_event("/phone/B", "1"));
        assert_ne!(
            of_event(
                "/apis/v1/namespaces/pact/kafkasources/a#pact-untranslated",
                "partition:0/offset:7"
            ),
            of_event(
                "/apis/v1/namespaces/pact/kafkasources/b#pact-translated",
                "partition:0/offset:7"
            ),
        );
        // The line feed cannot be moved between source and id: ids hold none.
        assert!(event_id("id", "b\nc").is_err());
        let t = Some("2026-11-24T10:00:00Z");
        assert_ne!(
            of_contact("k", &contact(1, 2, t), true),
            of_contact("k", &contact(1, 3, t), true)
        );
        assert_ne!(
            of_contact("k", &contact(1, 2, t), true),
            of_contact("k", &contact(2, 1, t), true)
        );
        assert_ne!(
            of_contact("k", &contact(1, 2, t), true),
            of_contact("k", &contact(1, 2, Some("2026-11-24T10:00:01Z")), true)
        );
    }

    #[test]
    fn a_time_stamped_on_arrival_does_not_count() {
        let first = contact(1, 2, None);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let retry = contact(1, 2, None);
        assert_ne!(first.observed_at, retry.observed_at);
        assert_eq!(
            of_contact("k", &first, false),
            of_contact("k", &retry, false)
        );
    }

    #[test]
    fn ids_match_the_documented_names() {
        // What the interoperability tests compute with Python's uuid.uuid5.
        let expected = Uuid::new_v5(&NAMESPACE, b"/phone/A\n1").to_string();
        assert_eq!(of_event("/phone/A", "1"), expected);
        let c = contact(1, 2, Some("2026-11-24T10:00:00Z"));
        let expected = Uuid::new_v5(
            &NAMESPACE,
            b"k\n1\n2\n44.9778\n-93.265\n2026-11-24T10:00:00Z",
        )
        .to_string();
        assert_eq!(of_contact("k", &c, true), expected);
    }

    #[test]
    fn event_ids_are_printable_ascii_and_never_trimmed() {
        assert_eq!(
            event_id("id", "partition:0/offset:7").expect("ok"),
            "partition:0/offset:7"
        );
        assert_eq!(event_id("id", "a b").expect("inner space"), "a b");
        for bad in [
            "",
            " 1",
            "1 ",
            "a\tb",
            "a\u{202e}b",
            "caf\u{e9}",
            "\u{0}",
            &"x".repeat(MAX_EVENT_ID_CHARS + 1),
        ] {
            assert!(event_id("id", bad).is_err(), "{bad:?}");
        }
        assert!(event_id("id", &"x".repeat(MAX_EVENT_ID_CHARS)).is_ok());
    }
}
