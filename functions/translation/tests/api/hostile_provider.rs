//! An online provider that answers with hostile headers: a `Retry-After`
//! beyond any clock, and redirects. The function keeps answering (offline
//! fallback, or a bounded 503), and never follows a provider elsewhere.

use crate::fake::{Answer, FakeProvider};
use crate::helpers::{json_data, metric, reply_event, spawn, translate};

/// `Retry-After` values that once overflowed `Instant + Duration` in the
/// circuit breaker (every request 500) or opened it for millennia.
const HOSTILE: [&str; 3] = [
    "18446744073709551615",
    "99999999999999999999999999",
    "Fri, 31 Dec 9999 23:59:59 GMT",
];

/// `MAX_RETRY_AFTER` of pact-translation's online geocoder, in seconds.
const CAP_S: u64 = 300;

fn rate_limited(retry_after: &'static str) -> Answer {
    let mut answer = Answer::body(429, "text/plain", "slow down".into());
    answer.retry_after = Some(retry_after);
    answer
}

#[tokio::test]
async fn a_hostile_retry_after_still_answers_200_from_the_offline_geocoder() {
    for hostile in HOSTILE {
        let fake = FakeProvider::serving(rate_limited(hostile)).await;
        let app = spawn(&[
            ("PACT_GEOCODER", "nominatim"),
            ("PACT_GEOCODER_URL", &fake.url),
            ("PACT_GEOCODER_BREAKER_FAILURES", "1"),
        ])
        .await;
        for (i, lat) in [44.9778, 45.0, 45.1].into_iter().enumerate() {
            let response = translate(&app, &format!("e-{i}"), 1, 2, lat, -93.265).await;
            assert_eq!(response.status(), 200, "{hostile}");
            let data = json_data(&reply_event(response).await);
            assert_eq!(data["geocoder"], "offline", "{hostile}");
        }
        // The 429 opened the circuit: the next two were not sent.
        assert_eq!(fake.count(), 1, "{hostile}");
        let series =
            r#"pact_geocoder_fallbacks_total{provider="nominatim",outcome="circuit_open"}"#;
        assert_eq!(metric(&app, series).await, 2, "{hostile}");
    }
}

/// With `FALLBACK=none` the wait shows in the 503's `Retry-After`: the
/// provider's, capped, and the open circuit's, no longer than that.
#[tokio::test]
async fn a_hostile_retry_after_opens_the_circuit_for_at_most_the_cap() {
    for hostile in HOSTILE {
        let fake = FakeProvider::serving(rate_limited(hostile)).await;
        let app = spawn(&[
            ("PACT_GEOCODER", "photon"),
            ("PACT_GEOCODER_URL", &fake.url),
            ("PACT_GEOCODER_BREAKER_FAILURES", "1"),
            ("PACT_GEOCODER_FALLBACK", "none"),
        ])
        .await;
        let retry_after = |response: &reqwest::Response| -> u64 {
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("a Retry-After in seconds")
        };
        let first = translate(&app, "e-1", 1, 2, 44.9778, -93.265).await;
        assert_eq!(first.status(), 503, "{hostile}");
        assert_eq!(retry_after(&first), CAP_S, "{hostile}");
        let second = translate(&app, "e-2", 1, 2, 45.5, -93.265).await;
        assert_eq!(second.status(), 503, "{hostile}");
        let open_for = retry_after(&second);
        assert!(
            (CAP_S - 5..=CAP_S).contains(&open_for),
            "{hostile}: open for {open_for} s"
        );
        assert_eq!(fake.count(), 1, "{hostile}");
    }
}

/// A redirect is a provider failure: never followed (it could take the
/// coordinates, or a MapQuest key, to a host nobody configured), answered
/// by the fallback, and counted as `redirected`.
#[tokio::test]
async fn a_redirect_is_not_followed_and_falls_back() {
    let elsewhere = FakeProvider::serving(Answer::fixture(
        200,
        "application/json",
        "nominatim-reverse-minneapolis.json",
    ))
    .await;
    for status in [301, 302, 307, 308] {
        let fake = FakeProvider::serving(Answer::redirect(
            status,
            &format!("{}reverse?format=jsonv2&lat=1&lon=2", elsewhere.url),
        ))
        .await;
        let app = spawn(&[
            ("PACT_GEOCODER", "nominatim"),
            ("PACT_GEOCODER_URL", &fake.url),
        ])
        .await;
        let response = translate(&app, "e-1", 1, 2, 44.9778, -93.265).await;
        assert_eq!(response.status(), 200, "{status}");
        let data = json_data(&reply_event(response).await);
        assert_eq!(data["geocoder"], "offline", "{status}");
        assert_eq!(fake.count(), 1, "{status}");
        let series = r#"pact_geocoder_fallbacks_total{provider="nominatim",outcome="redirected"}"#;
        assert_eq!(metric(&app, series).await, 1, "{status}");
    }
    assert_eq!(elsewhere.count(), 0, "a redirect was followed");
}
