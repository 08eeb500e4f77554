//! `GET /exposures/{mmid}` on a hand-made contact graph with known hop
//! counts, a window that cuts some edges, and paging.
//!
//! ```text
//!   1 ─12h,10d─ 2 ─20d─ 6 ─12h─ 7        8 ─12h─ 9   (never reached)
//!   │ 2d      ╱ │ 3d (stored 4→2)
//!   3 ──4d───╯  │
//!   │ 5d        │
//!   4 ──────────╯
//!   │ 12h
//!   5
//! ```
//! From 1 with days=14: 2 and 3 at 1 hop, 4 at 2 (its earliest link to a
//! 1-hop person is 3–4, 5 days ago, not 4→2, 3 days ago), 5 at 3. The 20-day
//! contact 2–6 is outside 14 days, so 6 and 7 are reached only with days=30.

use pact_runtime::database::Database;

use crate::both_backends;
use crate::helpers::{Seed, all_pages, hours_ago, seed, spawn_open};

both_backends!(
    check_exposures_follow_the_graph_within_the_window,
    check_exposures_page_without_gaps,
);

/// The graph above; the contact ids, by name.
struct Graph {
    one_two_recent: i64,
    one_two_early: i64,
    one_three: i64,
    three_four: i64,
    four_five: i64,
    two_six: i64,
    six_seven: i64,
}

async fn seed_graph(db: &Database) -> Graph {
    let ids = seed(
        db,
        &[
            Seed::new(1, 2, hours_ago(12)),
            Seed::new(1, 2, hours_ago(240)),
            Seed::new(1, 3, hours_ago(48)),
            Seed::new(4, 2, hours_ago(72)),
            Seed::new(3, 2, hours_ago(96)),
            Seed::new(3, 4, hours_ago(120)),
            Seed::new(4, 5, hours_ago(12)),
            Seed::new(2, 6, hours_ago(480)),
            Seed::new(6, 7, hours_ago(12)),
            Seed::new(8, 9, hours_ago(12)),
        ],
    )
    .await;
    Graph {
        one_two_recent: ids[0],
        one_two_early: ids[1],
        one_three: ids[2],
        three_four: ids[5],
        four_five: ids[6],
        two_six: ids[7],
        six_seven: ids[8],
    }
}

/// (person, hops, via, contact id) of every item.
fn reached(page: &serde_json::Value) -> Vec<(i64, i64, i64, i64)> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["mmid"].as_i64().expect("mmid"),
                e["hops"].as_i64().expect("hops"),
                e["via"].as_i64().expect("via"),
                e["contact"]["id"].as_i64().expect("contact id"),
            )
        })
        .collect()
}

async fn check_exposures_follow_the_graph_within_the_window(db: Database) {
    let g = seed_graph(&db).await;
    let app = spawn_open(db).await;

    // The defaults: 14 days, 2 hops.
    let page = app.json("/exposures/1").await;
    assert_eq!(
        (page["days"].as_i64(), page["depth"].as_i64()),
        (Some(14), Some(2))
    );
    assert_eq!(page["mmid"], 1);
    assert_eq!(
        reached(&page),
        [
            (2, 1, 1, g.one_two_early),
            (3, 1, 1, g.one_three),
            (4, 2, 3, g.three_four)
        ]
    );
    assert_eq!(page["next_cursor"], serde_json::Value::Null);
    // The linking contact is a whole row.
    assert_eq!(page["items"][2]["contact"]["mmid1"], 3);
    assert_eq!(page["items"][2]["contact"]["mmid2"], 4);
    assert_eq!(page["items"][2]["contact"]["state"], "MN");

    let path = |days: u32, depth: u32| format!("/exposures/1?days={days}&depth={depth}");
    assert_eq!(
        reached(&app.json(&path(14, 1)).await),
        [(2, 1, 1, g.one_two_early), (3, 1, 1, g.one_three)]
    );
    assert_eq!(
        reached(&app.json(&path(14, 3)).await),
        [
            (2, 1, 1, g.one_two_early),
            (3, 1, 1, g.one_three),
            (4, 2, 3, g.three_four),
            (5, 3, 4, g.four_five),
        ]
    );
    // 30 days reaches across the 20-day-old contact 2–6.
    assert_eq!(
        reached(&app.json(&path(30, 3)).await),
        [
            (2, 1, 1, g.one_two_early),
            (3, 1, 1, g.one_three),
            (4, 2, 3, g.three_four),
            (6, 2, 2, g.two_six),
            (5, 3, 4, g.four_five),
            (7, 3, 6, g.six_seven),
        ]
    );
    // One day: only the most recent contact of 1 counts.
    assert_eq!(
        reached(&app.json(&path(1, 3)).await),
        [(2, 1, 1, g.one_two_recent)]
    );
    // From the middle of the graph, and from someone nobody else met.
    assert_eq!(
        reached(&app.json("/exposures/5?days=14&depth=1").await),
        [(4, 1, 5, g.four_five)]
    );
    assert_eq!(reached(&app.json("/exposures/42?depth=3").await), []);
    // The window start is reported, `days` before the request.
    let since: chrono::DateTime<chrono::Utc> = page["since"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("since");
    let age = chrono::Utc::now() - since;
    assert!(
        age >= chrono::TimeDelta::days(14)
            && age < chrono::TimeDelta::days(14) + chrono::TimeDelta::minutes(1)
    );
}

async fn check_exposures_page_without_gaps(db: Database) {
    seed_graph(&db).await;
    let app = spawn_open(db).await;
    let whole = reached(&app.json("/exposures/1?days=30&depth=3").await);
    let pages = all_pages(&app, "/exposures/1?days=30&depth=3&limit=4").await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [4, 2]);
    let paged = reached(&serde_json::json!({ "items": pages.concat() }));
    assert_eq!(paged, whole);
    let single = all_pages(&app, "/exposures/1?days=30&depth=3&limit=1").await;
    assert_eq!(single.len(), whole.len());
    let paged = reached(&serde_json::json!({ "items": single.concat() }));
    assert_eq!(paged, whole);
}
