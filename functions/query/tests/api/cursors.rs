//! Cursors cannot widen a query (issue 15, item 6): made-up, altered and
//! foreign cursors are a 400 naming `cursor`, accepted ones never show a row
//! outside the query's window, and real ones still page through every row
//! exactly once. Arbitrary bytes as a cursor are never a 5xx.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use pact_query::cursor::{EXPOSURE_CURSOR_LIFETIME, Scope};
use pact_runtime::database::Database;
use proptest::prelude::*;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Seed, TestApp, all_pages, hours_ago, problem, seed, spawn_open};

both_backends!(
    check_made_up_cursors_cannot_widen_the_window,
    check_altered_and_foreign_cursors_are_400,
    check_real_cursors_page_through_every_row_once,
);

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A chain of contacts from person 1 going back in time: 1–2 an hour ago,
/// 2–3 13 days ago, 3–4 20 days, 4–5 40 days, 5–6 60 days. With days=30
/// and depth=3, 2, 3 and 4 are reached; 5 and 6 only through older contacts.
async fn seed_chain(db: &Database) -> Vec<i64> {
    seed(
        db,
        &[
            Seed::new(1, 2, hours_ago(1)),
            Seed::new(2, 3, hours_ago(13 * 24)),
            Seed::new(3, 4, hours_ago(20 * 24)),
            Seed::new(4, 5, hours_ago(40 * 24)),
            Seed::new(5, 6, hours_ago(60 * 24)),
            Seed::new(1, 7, hours_ago(60 * 24)),
        ],
    )
    .await
}

/// The cursor text a client could make up: `p2:<fingerprint>:<keys>`.
fn made_up(scope: Scope, keys: &[i64]) -> String {
    scope.encode(keys)
}

/// A real cursor's fields, to alter them.
fn fields(cursor: &str) -> Vec<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).expect("base64url");
    String::from_utf8(bytes)
        .expect("text")
        .split(':')
        .map(str::to_owned)
        .collect()
}

fn reassemble(fields: &[String]) -> String {
    URL_SAFE_NO_PAD.encode(fields.join(":"))
}

/// 400, problem+json, `field: cursor`, a detail that says what to do.
async fn assert_cursor_rejected(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 400, "{path}");
    let body = problem(response).await;
    assert_eq!(body["field"], "cursor", "{path}: {body}");
    let detail = body["detail"].as_str().expect("detail").to_owned();
    assert!(detail.starts_with("cursor: "), "{path}: {detail}");
    assert!(
        detail.contains("start again") || detail.contains("unchanged"),
        "{path}: {detail}"
    );
    detail
}

/// The time of every contact of an answer (a page object or the original
/// endpoints' array).
fn observed(page: &Value) -> Vec<DateTime<Utc>> {
    page.as_array()
        .or_else(|| page["items"].as_array())
        .expect("items")
        .iter()
        .map(|item| {
            let contact = if item["contact"].is_object() {
                &item["contact"]
            } else {
                item
            };
            contact["observed_at"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .expect("observed_at")
        })
        .collect()
}

fn days_ago(days: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::days(days)
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

async fn check_made_up_cursors_cannot_widen_the_window(db: Database) {
    seed_chain(&db).await;
    let app = spawn_open(db).await;
    let scope = Scope::new("exposures", &["1", "30", "3", "100"]);
    made_up_exposure_windows_are_400(&app, scope).await;
    a_made_up_start_within_the_lifetime_stays_in_the_window(&app, scope).await;
    made_up_contact_positions_stay_in_the_range(&app).await;
    made_up_ids_stay_within_the_filter(&app).await;
}

/// /exposures: a made-up window wider than the query's is a 400.
async fn made_up_exposure_windows_are_400(app: &TestApp, scope: Scope) {
    // Issue 15's attack: a window that starts 61 days ago for days=30, in
    // today's form and in the old one.
    let attack = made_up(scope, &[micros(days_ago(61)), 0, 0]);
    let detail = assert_cursor_rejected(
        app,
        &format!("/exposures/1?days=30&depth=3&cursor={attack}"),
    )
    .await;
    assert!(
        detail.contains("outside") || detail.contains("expired"),
        "{detail}"
    );
    let attack = made_up(scope, &[micros(days_ago(61)), 1, 1]);
    let detail = assert_cursor_rejected(
        app,
        &format!("/exposures/1?days=30&depth=3&cursor={attack}"),
    )
    .await;
    assert!(detail.contains("has expired"), "{detail}");
    let mut old = fields(&attack);
    old[0] = "p1".into();
    let old = reassemble(&old);
    assert_cursor_rejected(app, &format!("/exposures/1?days=30&depth=3&cursor={old}")).await;

    // Wider by a day, by an hour; hops past the depth, nobody, a negative
    // person, times chrono cannot hold.
    for keys in [
        [micros(days_ago(31)), 1, 1],
        [micros(days_ago(30) - TimeDelta::hours(1)), 1, 1],
        [micros(days_ago(30)), 4, 1],
        [micros(days_ago(30)), 0, 1],
        [micros(days_ago(30)), 1, 0],
        [micros(days_ago(30)), 1, -9],
        [i64::MIN, 1, 1],
        [i64::MAX, 1, 1],
    ] {
        let cursor = made_up(scope, &keys);
        assert_cursor_rejected(
            app,
            &format!("/exposures/1?days=30&depth=3&cursor={cursor}"),
        )
        .await;
    }
}

/// Within the cursor lifetime a made-up start is accepted, and shows
/// nothing older than the lifetime allows: never the 40- or 60-day rows.
async fn a_made_up_start_within_the_lifetime_stays_in_the_window(app: &TestApp, scope: Scope) {
    let start = days_ago(30) - EXPOSURE_CURSOR_LIFETIME + TimeDelta::minutes(1);
    let cursor = made_up(scope, &[micros(start), 1, 2]);
    let page = app
        .json(&format!("/exposures/1?days=30&depth=3&cursor={cursor}"))
        .await;
    let reached: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["mmid"].as_i64().expect("mmid"))
        .collect();
    assert_eq!(reached, [3, 4]);
    for at in observed(&page) {
        assert!(at >= start, "{at} is before the window");
    }
}

/// /contacts: a made-up position before `since` used to start the page
/// there; now it is a 400, and positions in the range stay in it.
async fn made_up_contact_positions_stay_in_the_range(app: &TestApp) {
    let (since_text, until_text) = (stamp(days_ago(30)), stamp(days_ago(0)));
    let since: DateTime<Utc> = since_text.parse().expect("time");
    let until: DateTime<Utc> = until_text.parse().expect("time");
    let query = format!("since={since_text}&until={until_text}");
    let scope = Scope::new(
        "contacts",
        &[
            "1",
            &micros(since).to_string(),
            &micros(until).to_string(),
            "100",
        ],
    );
    for keys in [
        [0, 0],
        [micros(days_ago(61)), 1],
        [micros(since) - 1, 1],
        [micros(until) + 1, 1],
        [micros(days_ago(1)), 0],
        [i64::MIN, 1],
    ] {
        let cursor = made_up(scope, &keys);
        assert_cursor_rejected(app, &format!("/contacts/1?{query}&cursor={cursor}")).await;
    }
    let cursor = made_up(scope, &[micros(since) + 1, 1]);
    let page = app
        .json(&format!("/contacts/1?{query}&cursor={cursor}"))
        .await;
    assert_eq!(observed(&page).len(), 1);
    for at in observed(&page) {
        assert!(at >= since && at < until, "{at} is outside the range");
    }
}

/// The original endpoints: a made-up id only moves within the filter.
async fn made_up_ids_stay_within_the_filter(app: &TestApp) {
    let scope = Scope::new("findcontactbystate", &["MN", "100"]);
    for id in [0, -1, i64::MIN] {
        let cursor = made_up(scope, &[id]);
        assert_cursor_rejected(
            app,
            &format!("/findcontactbystate?state=MN&cursor={cursor}"),
        )
        .await;
    }
}

async fn check_altered_and_foreign_cursors_are_400(db: Database) {
    seed_chain(&db).await;
    let app = spawn_open(db).await;
    let first = app.json("/exposures/1?days=30&depth=3&limit=1").await;
    let real = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let base = "/exposures/1?days=30&depth=3&limit=1";
    assert_eq!(
        app.get(&format!("{base}&cursor={real}")).await.status(),
        200
    );

    // Altered: its start moved back 30 days, its fingerprint, a key, a
    // character of its text, a key added.
    let mut earlier = fields(&real);
    let start: i64 = earlier[2].parse().expect("start");
    earlier[2] = (start - TimeDelta::days(30).num_microseconds().expect("µs")).to_string();
    let mut other_print = fields(&real);
    other_print[1] = format!("{:016x}", 1u64);
    let mut last_row = fields(&real);
    last_row[3] = "3".into();
    last_row[4] = "4".into();
    let mut longer = fields(&real);
    longer.push("1".into());
    let mut flipped = real.clone().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");
    for cursor in [
        reassemble(&earlier),
        reassemble(&other_print),
        reassemble(&longer),
        flipped,
        format!("{real}="),
        real.repeat(3),
        "%00".into(),
        "..".into(),
    ] {
        assert_cursor_rejected(&app, &format!("{base}&cursor={cursor}")).await;
    }
    // (3 hops, person 4) is a position this query can hold: accepted, and
    // nothing comes after the last row.
    let page = app
        .json(&format!("{base}&cursor={}", reassemble(&last_row)))
        .await;
    assert!(page["items"].as_array().is_some_and(Vec::is_empty));

    // Foreign: another person, days, depth, limit, endpoint.
    for path in [
        "/exposures/2?days=30&depth=3&limit=1",
        "/exposures/1?days=14&depth=3&limit=1",
        "/exposures/1?days=30&depth=2&limit=1",
        "/exposures/1?days=30&depth=3&limit=2",
        "/exposures/1?days=30&depth=3",
        "/contacts/1?limit=1",
        "/findcontactbystate?state=MN&limit=1",
        "/findcontactbycountry?country=US&limit=1",
    ] {
        let detail = assert_cursor_rejected(&app, &format!("{path}&cursor={real}")).await;
        assert!(
            detail.contains("other parameters") || detail.contains("not a cursor"),
            "{path}: {detail}"
        );
    }
    // A /contacts cursor on /exposures and on another range.
    let contacts = app.json("/contacts/2?limit=1").await;
    let theirs = contacts["next_cursor"].as_str().expect("a next page");
    assert_cursor_rejected(&app, &format!("{base}&cursor={theirs}")).await;
    assert_cursor_rejected(
        &app,
        &format!("/contacts/2?limit=1&since=2000-01-01T00:00:00Z&cursor={theirs}"),
    )
    .await;
    assert_eq!(
        app.get(&format!("/contacts/2?limit=1&cursor={theirs}"))
            .await
            .status(),
        200
    );
}

/// Real cursors, one row per page and a few per page, on every paged
/// endpoint: every row of the whole answer once, in order.
async fn check_real_cursors_page_through_every_row_once(db: Database) {
    let mut contacts = Vec::new();
    for i in 0..12 {
        contacts.push(Seed::new(1, 10 + i, hours_ago(200 - 15 * i)));
        contacts.push(Seed::new(10 + i, 30 + i, hours_ago(100 - 5 * i)));
    }
    contacts.push(Seed::new(1, 99, hours_ago(24 * 40)));
    seed(&db, &contacts).await;
    let app = spawn_open(db).await;

    let since = stamp(Utc::now() - TimeDelta::hours(180));
    let until = stamp(Utc::now() - TimeDelta::hours(20));
    let endpoints = [
        "/exposures/1?days=30&depth=2".to_owned(),
        "/exposures/1?days=5&depth=3".to_owned(),
        format!("/contacts/1?since={since}&until={until}"),
        "/contacts/10?since=".to_owned(),
    ];
    for path in endpoints {
        let whole = app.json(&path).await;
        let whole = whole["items"].as_array().expect("items").clone();
        assert!(!whole.is_empty(), "{path}");
        for limit in [1, 3, 1000] {
            let pages = all_pages(&app, &format!("{path}&limit={limit}")).await;
            let paged = pages.concat();
            assert_eq!(paged, whole, "{path} in pages of {limit}");
            let keys: BTreeSet<String> = paged.iter().map(Value::to_string).collect();
            assert_eq!(keys.len(), paged.len(), "{path}: a row twice");
        }
    }
}

/// Arbitrary bytes as a cursor, and made-up cursors of the right query
/// with keys around the window's edges: never a 5xx, a rejection is a 400
/// naming `cursor`, and an accepted cursor never shows a row outside the
/// window. SQLite in memory, so that many cases run fast.
#[test]
fn arbitrary_cursors_are_400_or_a_page_inside_the_window() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let app = runtime.block_on(async {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        let db = Database::Sqlite(pool);
        let app = spawn_open(db.clone()).await;
        seed_chain(&db).await;
        app
    });
    // `window`: the query's `days` when it has a window to stay in.
    let check = |path: String, window: Option<i64>| -> Result<(), TestCaseError> {
        runtime.block_on(async {
            let response = app.get(&path).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.expect("JSON");
            prop_assert!(status == 200 || status == 400, "{path}: {status} {body}");
            if status == 400 {
                prop_assert_eq!(&body["field"], "cursor", "{}: {}", path, body);
                return Ok(());
            }
            let Some(days) = window else {
                return Ok(());
            };
            // The window and the cursor lifetime, a minute for slow machines.
            let oldest = Utc::now()
                - TimeDelta::days(days)
                - EXPOSURE_CURSOR_LIFETIME
                - TimeDelta::minutes(1);
            for at in observed(&body) {
                prop_assert!(at >= oldest, "{}: a row from {}", path, at);
            }
            Ok(())
        })
    };
    let config = ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let endpoints = [
        "/exposures/1?days=14&depth=3",
        "/contacts/1?since=2000-01-01T00:00:00Z",
        "/findcontactbystate?state=MN",
        "/findcontactbycountry?country=US",
    ];
    proptest!(config.clone(), |(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                 endpoint in 0..endpoints.len(),
                                 as_base64 in any::<bool>())| {
        let raw = if as_base64 { URL_SAFE_NO_PAD.encode(&bytes).into_bytes() } else { bytes };
        let window = (endpoint == 0).then_some(14);
        check(format!("{}&cursor={}", endpoints[endpoint], percent(&raw)), window)?;
    });
    let scope = Scope::new("exposures", &["1", "14", "3", "100"]);
    // Starts near the window's edge (where some are accepted) or anywhere
    // within months of it.
    let minutes = prop_oneof![-20i64..5, -200_000i64..200_000];
    proptest!(config, |(minutes in minutes, hops in -2i64..6, person in -2i64..10)| {
        let since = Utc::now() - TimeDelta::days(14) + TimeDelta::minutes(minutes);
        let cursor = scope.encode(&[since.timestamp_micros(), hops, person]);
        check(format!("/exposures/1?days=14&depth=3&cursor={cursor}"), Some(14))?;
    });
}

/// Every byte percent-encoded: the server sees exactly these bytes.
fn percent(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}
