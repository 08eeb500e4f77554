//! The MapQuest key never appears in logs (captured here at TRACE level)
//! nor in a problem document, whatever happens to the request.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::fake::{Answer, FakeProvider};
use crate::helpers::{spawn, translate};

const KEY: &str = "SECRET-KEY-5f3a9c";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    listener.local_addr().expect("address").port()
}

#[tokio::test]
async fn the_key_never_reaches_logs_or_problem_documents() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut bodies = Vec::new();
    let bad_key = FakeProvider::serving(Answer::fixture(
        403,
        "text/plain",
        "mapquest-error-invalid-key.txt",
    ))
    .await;
    let unreachable = format!("http://127.0.0.1:{}/", closed_port().await);
    for url in [bad_key.url.as_str(), unreachable.as_str()] {
        let env = [
            ("PACT_GEOCODER", "mapquest"),
            ("PACT_GEOCODER_URL", url),
            ("PACT_GEOCODER_KEY", KEY),
            ("PACT_GEOCODER_FALLBACK", "none"),
            ("PACT_GEOCODER_RETRIES", "1"),
        ];
        let vars: std::collections::HashMap<&str, &str> = env.iter().copied().collect();
        let (config, _) = pact_translation::Config::from_env(&vars).expect("valid");
        assert!(
            !format!("{config:?}").contains(KEY),
            "the configuration prints the key"
        );
        let app = spawn(&env).await;
        let response = translate(&app, "e-1", 1, 2, 44.9778, -93.265).await;
        assert_eq!(response.status(), 503);
        bodies.push(response.text().await.expect("problem"));
    }
    assert_eq!(
        bad_key.seen()[0].query["key"],
        KEY,
        "the key was sent to the provider"
    );

    let logs = logs.text();
    assert!(
        logs.contains("geocoder request failed"),
        "no log was captured: {logs}"
    );
    assert!(
        logs.contains("key=***") || logs.contains("key=%2A%2A%2A"),
        "the URL is logged redacted: {logs}"
    );
    assert!(!logs.contains(KEY), "the key is in the logs:\n{logs}");
    for body in bodies {
        assert!(body.contains("PACT_GEOCODER_FALLBACK=none"), "{body}");
        assert!(
            !body.contains(KEY),
            "the key is in a problem document: {body}"
        );
    }
}
