//! Each provider's success, no-result and error fixtures, through the real
//! function over HTTP: the translated fields, or the offline fallback.

use serde_json::Value;

use crate::fake::{Answer, FakeProvider};
use crate::helpers::{TestApp, json_data, metric, reply_event, spawn, translate};

const MINNEAPOLIS: (f64, f64) = (44.9778, -93.2650);
const JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain";

async fn app_for(provider: &str, fake: &FakeProvider) -> TestApp {
    spawn(&[
        ("PACT_GEOCODER", provider),
        ("PACT_GEOCODER_URL", &fake.url),
        ("PACT_GEOCODER_KEY", "test-key-123"),
        ("PACT_GEOCODER_CONTACT", "ops@example.org"),
    ])
    .await
}

async fn translated(app: &TestApp, at: (f64, f64)) -> Value {
    let response = translate(app, "e-1", 1, 2, at.0, at.1).await;
    assert_eq!(response.status(), 200);
    json_data(&reply_event(response).await)
}

fn assert_address(data: &Value, expected: [&str; 6]) {
    let fields = ["street", "city", "state", "zipcode", "country", "geocoder"];
    for (field, want) in fields.iter().zip(expected) {
        assert_eq!(data[field], want, "{field} in {data}");
    }
    assert_eq!(data["mmid1"], 1);
    assert_eq!(data["mmid2"], 2);
}

#[tokio::test]
async fn each_provider_translates_its_success_fixture() {
    let cases = [
        (
            "nominatim",
            "nominatim-reverse-minneapolis.json",
            [
                "350 South 4th Street",
                "Minneapolis",
                "MN",
                "55415",
                "US",
                "nominatim",
            ],
        ),
        (
            "photon",
            "photon-reverse-minneapolis.json",
            [
                "350 South 4th Street",
                "Minneapolis",
                "Minnesota",
                "55415",
                "US",
                "photon",
            ],
        ),
        (
            "mapquest",
            "mapquest-reverse-minneapolis.json",
            [
                "350 S 4th St",
                "Minneapolis",
                "MN",
                "55415-2215",
                "US",
                "mapquest",
            ],
        ),
    ];
    for (provider, file, expected) in cases {
        let fake = FakeProvider::serving(Answer::fixture(200, JSON, file)).await;
        let app = app_for(provider, &fake).await;
        assert_address(&translated(&app, MINNEAPOLIS).await, expected);
        let seen = fake.seen();
        assert_eq!(seen.len(), 1, "{provider}");
        let request = &seen[0];
        assert!(
            request.user_agent.starts_with("pact-translation/")
                && request.user_agent.contains("ops@example.org"),
            "{provider}: {}",
            request.user_agent
        );
        let q = &request.query;
        match provider {
            "nominatim" => {
                assert_eq!(request.path, "/reverse");
                assert_eq!(q["format"], "jsonv2");
                assert_eq!(q["zoom"], "18");
                assert_eq!(q["addressdetails"], "1");
                assert_eq!(
                    (q["lat"].as_str(), q["lon"].as_str()),
                    ("44.9778", "-93.265")
                );
            }
            "photon" => {
                assert_eq!(request.path, "/reverse");
                assert_eq!(
                    (q["lat"].as_str(), q["lon"].as_str()),
                    ("44.9778", "-93.265")
                );
            }
            _ => {
                assert_eq!(request.path, "/geocoding/v1/reverse");
                assert_eq!(q["key"], "test-key-123");
                assert_eq!(q["location"], "44.9778,-93.265");
            }
        }
        let found =
            format!(r#"pact_geocoder_lookups_total{{provider="{provider}",outcome="found"}}"#);
        assert_eq!(metric(&app, &found).await, 1, "{provider}");
    }
}

/// "No result" is not an error: the offline geocoder answers where it knows
/// the place, and `none` is said where nobody does (the open sea).
#[tokio::test]
async fn no_result_falls_back_to_offline_or_none() {
    let cases = [
        ("nominatim", "nominatim-error-unable-to-geocode.json"),
        ("photon", "photon-reverse-no-result.json"),
        ("mapquest", "mapquest-reverse-no-result.json"),
    ];
    for (provider, file) in cases {
        let fake = FakeProvider::serving(Answer::fixture(200, JSON, file)).await;
        let app = app_for(provider, &fake).await;
        let land = translated(&app, MINNEAPOLIS).await;
        assert_eq!(land["geocoder"], "offline", "{provider}: {land}");
        assert_eq!(land["city"], "Minneapolis");
        assert_eq!(land["street"], "");
        let sea = translated(&app, (30.0, -40.0)).await;
        assert_address(&sea, ["", "", "", "", "", "none"]);
        let series = format!(
            r#"pact_geocoder_fallbacks_total{{provider="{provider}",outcome="no_result"}}"#
        );
        assert_eq!(metric(&app, &series).await, 2, "{provider}");
    }
}

#[tokio::test]
async fn every_error_fixture_falls_back_to_offline_with_its_outcome() {
    let with_retry_after = |mut a: Answer| {
        a.retry_after = Some("0");
        a
    };
    let cases = [
        (
            "nominatim",
            Answer::fixture(400, JSON, "nominatim-error-bad-request.json"),
            "rejected",
        ),
        (
            "nominatim",
            with_retry_after(Answer::fixture(429, HTML, "nominatim-error-429.html")),
            "rate_limited",
        ),
        (
            "nominatim",
            Answer::body(200, JSON, "<html>not json</html>".into()),
            "bad_response",
        ),
        (
            "nominatim",
            Answer::body(503, TEXT, "down".into()),
            "server_error",
        ),
        (
            "photon",
            Answer::fixture(400, JSON, "photon-error-bad-request.json"),
            "rejected",
        ),
        (
            "photon",
            Answer::fixture(429, HTML, "photon-error-429.html"),
            "rate_limited",
        ),
        (
            "photon",
            Answer::body(502, HTML, "<h1>Bad Gateway</h1>".into()),
            "server_error",
        ),
        (
            "mapquest",
            Answer::fixture(403, TEXT, "mapquest-error-invalid-key.txt"),
            "rejected",
        ),
        (
            "mapquest",
            Answer::fixture(200, JSON, "mapquest-error-invalid-key-legacy.json"),
            "rejected",
        ),
        (
            "mapquest",
            Answer::fixture(403, JSON, "mapquest-error-invalid-key-legacy.json"),
            "rejected",
        ),
        (
            "mapquest",
            Answer::fixture(400, JSON, "mapquest-error-bad-request.json"),
            "rejected",
        ),
        (
            "mapquest",
            Answer::fixture(200, JSON, "mapquest-error-bad-request.json"),
            "rejected",
        ),
        (
            "mapquest",
            Answer::fixture(429, TEXT, "mapquest-error-429.txt"),
            "rate_limited",
        ),
    ];
    for (provider, answer, outcome) in cases {
        let status = answer.status;
        let fake = FakeProvider::serving(answer).await;
        let app = app_for(provider, &fake).await;
        let data = translated(&app, MINNEAPOLIS).await;
        assert_eq!(data["geocoder"], "offline", "{provider} {status}: {data}");
        assert_eq!(data["city"], "Minneapolis");
        assert_eq!(data["state"], "MN");
        let series = format!(
            r#"pact_geocoder_fallbacks_total{{provider="{provider}",outcome="{outcome}"}}"#
        );
        assert_eq!(
            metric(&app, &series).await,
            1,
            "{provider} {status} → {outcome}"
        );
    }
}
