//! `GET /contacts/{mmid}`: whom one person met, in a time range, paged.

use chrono::SecondsFormat;
use pact_runtime::database::Database;

use crate::both_backends;
use crate::helpers::{Seed, all_pages, hours_ago, seed, spawn_open};

both_backends!(
    check_contacts_list_both_sides_in_time_order,
    check_contacts_honour_since_and_until,
    check_contacts_pages_break_ties_by_id,
);

async fn check_contacts_list_both_sides_in_time_order(db: Database) {
    let ids = seed(
        &db,
        &[
            Seed::new(1, 2, hours_ago(12)),
            Seed::new(4, 2, hours_ago(72)),
            Seed::new(2, 6, hours_ago(480)),
            Seed::new(7, 8, hours_ago(1)),
        ],
    )
    .await;
    let app = spawn_open(db).await;
    let page = app.json("/contacts/2").await;
    assert_eq!(page["mmid"], 2);
    assert_eq!(page["since"], serde_json::Value::Null);
    assert_eq!(page["next_cursor"], serde_json::Value::Null);
    let items = page["items"].as_array().expect("items");
    let met: Vec<i64> = items
        .iter()
        .map(|c| c["met"].as_i64().expect("met"))
        .collect();
    assert_eq!(met, [6, 4, 1]);
    let row_ids: Vec<i64> = items
        .iter()
        .map(|c| c["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(row_ids, [ids[2], ids[1], ids[0]]);
    // Where and when, with the original field names.
    assert_eq!(items[0]["mmid1"], 2);
    assert_eq!(items[0]["mmid2"], 6);
    assert_eq!(items[0]["city"], "Minneapolis");
    assert!(
        items[0]["observed_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    // Someone who met nobody.
    let nobody = app.json("/contacts/99").await;
    assert_eq!(nobody["items"], serde_json::json!([]));
}

async fn check_contacts_honour_since_and_until(db: Database) {
    let at = [hours_ago(100), hours_ago(50), hours_ago(10)];
    seed(
        &db,
        &[
            Seed::new(1, 2, at[0]),
            Seed::new(3, 1, at[1]),
            Seed::new(1, 4, at[2]),
        ],
    )
    .await;
    let app = spawn_open(db).await;
    let met = |page: serde_json::Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| c["met"].as_i64().expect("met"))
            .collect()
    };
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Micros, true);
    // since is inclusive, until exclusive: [since, until).
    let page = app
        .json(&format!(
            "/contacts/1?since={}&until={}",
            stamp(at[1]),
            stamp(at[2])
        ))
        .await;
    assert_eq!(met(page.clone()), [3]);
    let since = page["since"]
        .as_str()
        .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
    assert_eq!(since.map(stamp), Some(stamp(at[1])));
    assert_eq!(
        met(app
            .json(&format!("/contacts/1?since={}", stamp(at[1])))
            .await),
        [3, 4]
    );
    assert_eq!(
        met(app
            .json(&format!("/contacts/1?until={}", stamp(at[1])))
            .await),
        [2]
    );
    // An empty range is not an error.
    let same = stamp(at[1]);
    assert_eq!(
        met(app
            .json(&format!("/contacts/1?since={same}&until={same}"))
            .await),
        Vec::<i64>::new()
    );
    // Offsets other than Z, percent-encoded.
    let page = app
        .json("/contacts/1?since=2000-01-01T00:00:00%2B02:00")
        .await;
    assert_eq!(met(page), [2, 3, 4]);
}

/// Five contacts at the same instant, paged two at a time: the id breaks
/// the tie, so no row is lost or repeated at a page boundary.
async fn check_contacts_pages_break_ties_by_id(db: Database) {
    let same = hours_ago(5);
    let mut contacts: Vec<Seed> = (10..15).map(|other| Seed::new(50, other, same)).collect();
    contacts.push(Seed::new(60, 50, hours_ago(6)));
    contacts.push(Seed::new(50, 70, hours_ago(4)));
    contacts.push(Seed::new(80, 50, same));
    let ids = seed(&db, &contacts).await;
    let app = spawn_open(db).await;
    let pages = all_pages(&app, "/contacts/50?limit=2").await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2, 2, 2, 2]);
    let seen: Vec<i64> = pages
        .iter()
        .flatten()
        .map(|c| c["id"].as_i64().expect("id"))
        .collect();
    // Oldest first; the simultaneous ones by id.
    let expected = [
        ids[5], ids[0], ids[1], ids[2], ids[3], ids[4], ids[7], ids[6],
    ];
    assert_eq!(seen, expected);
}
