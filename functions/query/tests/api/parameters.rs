//! Bad parameters: 400 problem+json naming the parameter and saying why.

use pact_runtime::database::Database;

use crate::both_backends;
use crate::helpers::{Seed, TestApp, hours_ago, problem, seed, spawn_with_token};

both_backends!(check_bad_parameters_are_400_naming_them);

async fn check_bad_parameters_are_400_naming_them(db: Database) {
    seed(
        &db,
        &[Seed::new(1, 2, hours_ago(1)), Seed::new(1, 3, hours_ago(1))],
    )
    .await;
    let app = spawn_with_token(db).await;
    // A cursor of one query, replayed with other parameters.
    let first = app.json("/contacts/1?limit=1").await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let state_page = app.get("/findcontactbystate?state=MN&limit=1").await;
    let state_cursor = crate::helpers::next_link(&state_page)
        .and_then(|l| l.split("cursor=").nth(1).map(str::to_owned))
        .expect("a next page");

    for (path, field) in bad_parameters(&cursor, &state_cursor) {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 400, "{path}");
        let body = problem(response).await;
        assert_eq!(body["field"], field, "{path}: {body}");
        assert_eq!(body["status"], 400);
        let detail = body["detail"].as_str().expect("detail");
        assert!(
            detail.starts_with(&format!("{field}: ")),
            "{path}: {detail}"
        );
    }
    the_reason_says_what_is_accepted(&app).await;
    // The cursor still works with its own query.
    let response = app
        .get(&format!("/contacts/1?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(response.status(), 200);
    edge_values_are_accepted(&app).await;
}

/// Requests with one bad parameter each, and the parameter the 400 names;
/// `cursor` is a real cursor of `/contacts/1?limit=1`, `state_cursor` one
/// of `/findcontactbystate?state=MN&limit=1`, both replayed elsewhere.
fn bad_parameters(cursor: &str, state_cursor: &str) -> Vec<(String, &'static str)> {
    vec![
        ("/findcontactbystate".into(), "state"),
        ("/findcontactbystate?state=".into(), "state"),
        ("/findcontactbystate?state=MN;DROP%20TABLE".into(), "state"),
        ("/findcontactbystate?state=%3Cscript%3E".into(), "state"),
        ("/findcontactbycountry?country=USA".into(), "country"),
        ("/findcontactbycountry?country=1".into(), "country"),
        ("/findcontactbycountry".into(), "country"),
        ("/contacts/-1".into(), "mmid"),
        ("/contacts/0".into(), "mmid"),
        ("/contacts/abc".into(), "mmid"),
        ("/contacts/99999999999999999999".into(), "mmid"),
        ("/exposures/-5".into(), "mmid"),
        ("/exposures/1?depth=9".into(), "depth"),
        ("/exposures/1?depth=0".into(), "depth"),
        ("/exposures/1?days=31".into(), "days"),
        ("/exposures/1?days=-1".into(), "days"),
        ("/exposures/1?days=two".into(), "days"),
        ("/exposures/1?dept=2".into(), "dept"),
        ("/exposures/1?depth=2&depth=3".into(), "depth"),
        (
            "/contacts/1?since=2026-11-25T00:00:00Z&until=2026-11-24T00:00:00Z".into(),
            "since",
        ),
        ("/contacts/1?since=yesterday".into(), "since"),
        ("/contacts/1?until=2026-11-24".into(), "until"),
        ("/exposures/1?days=99999999999999999999".into(), "days"),
        ("/exposures/1?days=4294967310".into(), "days"),
        ("/exposures/1?depth=4294967297".into(), "depth"),
        ("/exposures/1?limit=-1".into(), "limit"),
        ("/contacts/1?limit=18446744073709551617".into(), "limit"),
        ("/contacts/1?since=10000-01-01T00:00:00Z".into(), "since"),
        (
            "/contacts/1?until=2026-11-24T10:00:00%2B99:00".into(),
            "until",
        ),
        ("/contacts/1?limit=0".into(), "limit"),
        ("/contacts/1?limit=1001".into(), "limit"),
        ("/findcontactbystate?state=MN&limit=many".into(), "limit"),
        (
            "/findcontactbystate?state=MN&cursor=garbage".into(),
            "cursor",
        ),
        (
            "/findcontactbystate?state=MN&cursor=cDE6MDAwMDAwMDAwMDAwMDAwMDox".into(),
            "cursor",
        ),
        (
            format!("/findcontactbystate?state=WI&cursor={state_cursor}"),
            "cursor",
        ),
        (
            format!("/findcontactbycountry?country=US&cursor={state_cursor}"),
            "cursor",
        ),
        (format!("/contacts/2?limit=1&cursor={cursor}"), "cursor"),
        (
            format!("/contacts/1?since=2026-01-01T00:00:00Z&cursor={cursor}"),
            "cursor",
        ),
        ("/stats?country=US".into(), "country"),
    ]
}

/// The reason says what is accepted.
async fn the_reason_says_what_is_accepted(app: &TestApp) {
    let body = problem(app.get("/exposures/1?depth=9").await).await;
    assert_eq!(
        body["detail"],
        "depth: must be a whole number from 1 to 3, got \"9\""
    );
    let body = problem(app.get("/exposures/1?dept=2").await).await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("takes days, depth, limit, cursor")
                || d.contains("takes cursor, days, depth, limit")),
        "{body}"
    );
}

/// Values at the edges that are not errors.
async fn edge_values_are_accepted(app: &TestApp) {
    // Times an offset carries past year 1 or 9999 are clamped, not
    // overflowed or misordered (SQLite compares times as text).
    let whole = app
        .json("/contacts/1?since=0000-01-01T00:00:00%2B23:59&until=9999-12-31T23:59:59-23:59")
        .await;
    assert_eq!(whole["items"].as_array().map(Vec::len), Some(2), "{whole}");
    assert_eq!(whole["until"], "9999-12-31T23:59:59.999999Z");
    // The caps themselves are accepted.
    let response = app.get("/exposures/1?days=30&depth=3&limit=1000").await;
    assert_eq!(response.status(), 200);
    // An empty optional parameter means "not given".
    let response = app.get("/exposures/1?days=&depth=&limit=&cursor=").await;
    assert_eq!(response.status(), 200);
}
