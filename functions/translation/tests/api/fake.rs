//! A fake geocoding provider on 127.0.0.1 serving the fixture files (or
//! answers made per request), recording every request it gets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// A provider response file from tests/fixtures.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// How the fake answers one request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub delay: Duration,
    pub retry_after: Option<&'static str>,
    pub location: Option<String>,
}

impl Answer {
    /// A fixture file with its status and content type (fixtures README).
    pub fn fixture(status: u16, content_type: &'static str, name: &str) -> Self {
        Self::body(status, content_type, fixture(name))
    }

    pub fn body(status: u16, content_type: &'static str, body: String) -> Self {
        Self {
            status,
            content_type,
            body,
            delay: Duration::ZERO,
            retry_after: None,
            location: None,
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        let mut answer = Self::body(status, "text/plain", String::new());
        answer.location = Some(location.to_owned());
        answer
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub path: String,
    pub query: HashMap<String, String>,
    pub user_agent: String,
}

type Responder = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

struct Shared {
    seen: Mutex<Vec<Seen>>,
    responder: Mutex<Responder>,
}

pub struct FakeProvider {
    /// `http://127.0.0.1:<port>/`, for `PACT_GEOCODER_URL`.
    pub url: String,
    shared: Arc<Shared>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeProvider {
    /// Answers every request with `answer`.
    pub async fn serving(answer: Answer) -> Self {
        Self::start(move |_| answer.clone()).await
    }

    /// Answers each request with what `responder` makes of it.
    pub async fn start(responder: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Self {
        let shared = Arc::new(Shared {
            seen: Mutex::new(Vec::new()),
            responder: Mutex::new(Arc::new(responder)),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a test port");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            url,
            shared,
            _stop: stop,
        }
    }

    /// From now on, answer with `answer`.
    pub fn set(&self, answer: Answer) {
        *self.shared.responder.lock().expect("lock") = Arc::new(move |_| answer.clone());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.shared.seen.lock().expect("lock").len()
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let seen = Seen {
        at: Instant::now(),
        path: uri.path().to_owned(),
        query,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    };
    let responder = shared.responder.lock().expect("lock").clone();
    let answer = responder(&seen);
    shared.seen.lock().expect("lock").push(seen);
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let mut response = (
        StatusCode::from_u16(answer.status).expect("a status"),
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response();
    if let Some(after) = answer.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, after.parse().expect("header"));
    }
    if let Some(location) = answer.location {
        response
            .headers_mut()
            .insert(header::LOCATION, location.parse().expect("header"));
    }
    response
}

/// A Nominatim answer naming the point it was asked about, so a test can
/// tell which request an address came from.
pub fn nominatim_echo(seen: &Seen) -> String {
    let lat = seen.query.get("lat").cloned().unwrap_or_default();
    let lon = seen.query.get("lon").cloned().unwrap_or_default();
    serde_json::json!({
        "place_id": 1,
        "lat": lat,
        "lon": lon,
        "address": {
            "house_number": lat,
            "road": lon,
            "city": format!("{lat},{lon}"),
            "state": "Nowhere",
            "postcode": "00000",
            "country_code": "us",
            "ISO3166-2-lvl4": "US-MN"
        }
    })
    .to_string()
}
