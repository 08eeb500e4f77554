//! The original demo's endpoints: field names, filters, paging by id.

use std::collections::BTreeSet;

use pact_runtime::database::Database;

use crate::both_backends;
use crate::helpers::{Seed, TestApp, hours_ago, next_link, seed, spawn_open};

both_backends!(
    check_find_by_state_keeps_the_original_fields,
    check_find_by_country_takes_either_case,
    check_pages_by_id_cover_every_row_once,
);

const ORIGINAL_FIELDS: [&str; 8] = [
    "id", "mmid1", "mmid2", "street", "city", "state", "zipcode", "country",
];
const NEW_FIELDS: [&str; 5] = ["lat", "lon", "observed_at", "recorded_at", "geocoder"];

async fn check_find_by_state_keeps_the_original_fields(db: Database) {
    let ids = seed(
        &db,
        &[
            Seed::new(1, 2, hours_ago(3)),
            Seed::new(3, 4, hours_ago(2)).place("Madison", "WI", "US"),
            Seed::new(5, 6, hours_ago(1)),
        ],
    )
    .await;
    let app = spawn_open(db).await;
    let rows = app.json("/findcontactbystate?state=MN").await;
    let rows = rows
        .as_array()
        .expect("a JSON array, as the original answered");
    assert_eq!(rows.len(), 2);
    let keys: BTreeSet<&str> = rows[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = ORIGINAL_FIELDS.into_iter().chain(NEW_FIELDS).collect();
    assert_eq!(keys, expected);
    assert_eq!(rows[0]["id"], ids[0]);
    assert_eq!(rows[0]["mmid1"], 1);
    assert_eq!(rows[0]["mmid2"], 2);
    assert_eq!(rows[0]["state"], "MN");
    assert_eq!(rows[0]["city"], "Minneapolis");
    assert_eq!(rows[0]["zipcode"], "55415");
    assert_eq!(rows[0]["lat"], 44.9778);
    assert_eq!(rows[0]["geocoder"], "offline");
    assert_eq!(rows[1]["id"], ids[2]);
    // Nothing in a state without contacts.
    assert_eq!(
        app.json("/findcontactbystate?state=ND").await,
        serde_json::json!([])
    );
}

async fn check_find_by_country_takes_either_case(db: Database) {
    seed(
        &db,
        &[
            Seed::new(1, 2, hours_ago(3)),
            Seed::new(3, 4, hours_ago(2)).place("Winnipeg", "Manitoba", "CA"),
            Seed::new(5, 6, hours_ago(1)).place("Madison", "WI", "US"),
        ],
    )
    .await;
    let app = spawn_open(db).await;
    let us = app.json("/findcontactbycountry?country=US").await;
    let ca = app.json("/findcontactbycountry?country=ca").await;
    assert_eq!(us.as_array().map(Vec::len), Some(2));
    assert_eq!(ca.as_array().map(Vec::len), Some(1));
    assert_eq!(ca[0]["state"], "Manitoba");
    let manitoba = app.json("/findcontactbystate?state=Manitoba").await;
    assert_eq!(manitoba, ca);
}

/// Pages of 7 over 25 rows: 7, 7, 7, 4, in id order, no gap, no repeat,
/// and rows added after the first page show up on a later one.
async fn check_pages_by_id_cover_every_row_once(db: Database) {
    let mut contacts = Vec::new();
    for i in 0..25 {
        contacts.push(Seed::new(100 + i, 200 + i, hours_ago(30 - i)));
        contacts.push(Seed::new(300 + i, 400 + i, hours_ago(30 - i)).place("Fargo", "ND", "US"));
    }
    let ids = seed(&db, &contacts).await;
    let minnesota: Vec<i64> = ids.iter().step_by(2).copied().collect();
    let app = spawn_open(db.clone()).await;

    let (pages, seen) = follow(&app, "/findcontactbystate?state=MN&limit=7").await;
    assert_eq!(pages, vec![7, 7, 7, 4]);
    assert_eq!(seen, minnesota);

    // A row written while a client is paging is on a later page, once.
    let first = app.get("/findcontactbystate?state=MN&limit=20").await;
    let next = next_link(&first).expect("a next page");
    let later = seed(&db, &[Seed::new(900, 901, hours_ago(0))]).await;
    let rest: Vec<serde_json::Value> = app.get(&next).await.json().await.expect("page");
    let rest: Vec<i64> = rest.iter().map(|r| r["id"].as_i64().expect("id")).collect();
    assert_eq!(rest, [&minnesota[20..], &later[..]].concat());
}

/// Follows `Link: rel="next"` headers; page sizes and ids seen.
async fn follow(app: &TestApp, first: &str) -> (Vec<usize>, Vec<i64>) {
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    let mut path = Some(first.to_owned());
    while let Some(current) = path {
        let response = app.get(&current).await;
        assert_eq!(response.status(), 200);
        path = next_link(&response);
        if let Some(next) = &path {
            assert!(
                next.starts_with("/findcontactbystate?state=MN&limit=7&cursor="),
                "{next}"
            );
        }
        let rows: Vec<serde_json::Value> = response.json().await.expect("rows");
        sizes.push(rows.len());
        ids.extend(rows.iter().map(|r| r["id"].as_i64().expect("id")));
        assert!(sizes.len() < 100, "paging does not end");
    }
    (sizes, ids)
}
