//! `/ui/`: the page for health staff, and `GET /`, which leads to it.
//!
//! The page is a handful of static files compiled into the binary (no build
//! step, no CDN, nothing fetched from elsewhere) that talk only to this
//! service's own API, with the same bearer token as any client. They are
//! public: the data behind them is not. Every answer carries a strict
//! Content-Security-Policy (scripts, styles and requests from this origin
//! only; no inline script or style, no frames, no form posts), and an
//! `ETag` so a browser revalidates instead of downloading again.
//!
//! The files are served as they are, uncompressed: all of them together are
//! smaller than one page of `/contacts` (docs/ui.md has the sizes).

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::config::Auth;
use crate::error::Error;

/// The policy of every `/ui/` answer. `img-src 'self'` is for the icon;
/// the graph, map and chart are SVG built in the page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../ui/", $name)),
        }
    };
}

/// The page's files, `index.html` first.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("contacts.js", "text/javascript; charset=utf-8"),
    asset!("graph.js", "text/javascript; charset=utf-8"),
    asset!("map.js", "text/javascript; charset=utf-8"),
    asset!("chart.js", "text/javascript; charset=utf-8"),
    asset!("cases.js", "text/javascript; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

/// Each file's strong `ETag`: a hash of its bytes, which change only with
/// the binary.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|asset| {
            HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(asset.body)))
                .expect("hex digits in quotes are a valid header value")
        })
        .collect()
});

/// FNV-1a, 64 bits: enough to tell versions of a file apart, and the same
/// in every build of the same bytes (unlike `std`'s hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Total size of the page's files, in bytes (docs and tests).
pub fn assets_size() -> usize {
    ASSETS.iter().map(|asset| asset.body.len()).sum()
}

/// `GET /`, `GET /ui`, `GET /ui/` and `GET /ui/{file}`.
pub fn router(auth: &Auth) -> Router {
    let mode = match auth {
        Auth::Bearer(_) => "bearer",
        Auth::Open => "none",
    };
    Router::new()
        .route("/", get(index).with_state(mode))
        .route(
            "/ui",
            get(|| async { redirect(StatusCode::PERMANENT_REDIRECT) }),
        )
        .route(
            "/ui/",
            get(|headers: HeaderMap| async move { serve(0, &headers) }),
        )
        .route("/ui/{*file}", get(file))
}

/// `GET /`: a browser (asking for HTML) is sent to the page; any other
/// client gets where things are, and whether data needs a token (the
/// page reads this too).
async fn index(State(auth): State<&'static str>, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/html"));
    let mut response = if wants_html {
        redirect(StatusCode::SEE_OTHER)
    } else {
        axum::Json(serde_json::json!({
            "service": crate::NAME,
            "ui": "/ui/",
            "openapi": "/openapi.json",
            "auth": auth,
        }))
        .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    headers.insert(
        header::LINK,
        HeaderValue::from_static(
            "</ui/>; rel=\"alternate\"; type=\"text/html\", \
             </openapi.json>; rel=\"service-desc\"; type=\"application/json\"",
        ),
    );
    response
}

fn redirect(status: StatusCode) -> Response {
    (
        status,
        [(header::LOCATION, HeaderValue::from_static("/ui/"))],
    )
        .into_response()
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|asset| asset.name == name) {
        Some(at) => serve(at, &headers),
        None => {
            Error::NotFound("the page has no such file; it starts at /ui/".into()).into_response()
        }
    }
}

/// The asset at `at`, or 304 when the browser holds this version.
fn serve(at: usize, request: &HeaderMap) -> Response {
    let asset = &ASSETS[at];
    let etag = &ETAGS[at];
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag.clone());
    // Revalidate every time: a new binary may serve new files at the same
    // names.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_named_once_and_index_comes_first() {
        assert_eq!(ASSETS[0].name, "index.html");
        for (i, asset) in ASSETS.iter().enumerate() {
            assert!(
                ASSETS[i + 1..].iter().all(|other| other.name != asset.name),
                "{} twice",
                asset.name
            );
            assert!(!asset.body.is_empty(), "{} is empty", asset.name);
        }
    }

    #[test]
    fn the_hash_tells_versions_apart() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        // The published FNV-1a 64 test vector.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
