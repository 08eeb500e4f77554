//! `GET /stats`: counts by country, state and day.

use chrono::{TimeZone, Utc};
use pact_runtime::database::Database;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Seed, seed, spawn_open};

both_backends!(check_stats_count_by_country_state_and_day);

async fn check_stats_count_by_country_state_and_day(db: Database) {
    let app = spawn_open(db.clone()).await;
    assert_eq!(
        app.json("/stats").await,
        json!({"total": 0, "by_country": [], "by_state": [], "by_day": []})
    );
    let day = |d: u32, h: u32| {
        Utc.with_ymd_and_hms(2026, 11, d, h, 30, 0)
            .single()
            .expect("time")
    };
    seed(
        &db,
        &[
            Seed::new(1, 2, day(20, 0)),
            Seed::new(1, 3, day(20, 23)),
            Seed::new(2, 3, day(21, 12)).place("Madison", "WI", "US"),
            Seed::new(4, 5, day(21, 13)).place("Winnipeg", "Manitoba", "CA"),
            Seed::new(6, 7, day(22, 1)).place("", "", ""),
        ],
    )
    .await;
    assert_eq!(
        app.json("/stats").await,
        json!({
            "total": 5,
            "by_country": [
                {"country": "", "count": 1},
                {"country": "CA", "count": 1},
                {"country": "US", "count": 3},
            ],
            "by_state": [
                {"country": "", "state": "", "count": 1},
                {"country": "CA", "state": "Manitoba", "count": 1},
                {"country": "US", "state": "MN", "count": 2},
                {"country": "US", "state": "WI", "count": 1},
            ],
            "by_day": [
                {"day": "2026-11-20", "count": 2},
                {"day": "2026-11-21", "count": 2},
                {"day": "2026-11-22", "count": 1},
            ],
        })
    );
}
