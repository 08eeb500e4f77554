//! What pact-notify does with cases: who is notified, once, whatever is
//! redelivered, restarted or run twice; withdrawals; the limits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use pact_notify::{AppState, Config, app};
use pact_query::store::{After, exposures};
use pact_runtime::case::{EXPOSURE_NOTIFIED, EXPOSURE_WITHDRAWN};
use pact_runtime::cloudevents::AttributesReader;
use pact_runtime::contact::PersonId;
use pact_runtime::database::Database;
use pact_runtime::testing::{CaptureSink, Reply, Served};
use serde_json::{Value, json};

use crate::helpers::{case, count, data, noon, of_type, seed, sink, spawn, today};
use pact_runtime::pg_and_sqlite;

/// The mmids of the notifications the sink accepted, with how many distinct
/// notification ids each got.
fn notified(sink: &CaptureSink) -> BTreeMap<i64, BTreeSet<String>> {
    let mut out: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for event in of_type(sink, EXPOSURE_NOTIFIED) {
        let mmid = data(&event)["mmid"].as_i64().expect("mmid");
        out.entry(mmid).or_default().insert(event.id().to_owned());
    }
    out
}

pg_and_sqlite!(
    each_exposed_person_is_notified_once,
    exposed_people_are_notified_once
);
async fn exposed_people_are_notified_once(db: Database) {
    let sink = sink().await;
    let app = spawn(db.clone(), &sink, &[]).await;
    let onset = today() - chrono::Days::new(3);
    // 2 met the case twice (two days, two places), 3 and 4 once, all in
    // the window; 5 before it; 6 met only 2 (depth 1 stops before 6).
    seed(&db, 1, 2, noon(onset, -1), "Minneapolis").await;
    seed(&db, 2, 1, noon(onset, 0), "Saint Paul").await;
    seed(&db, 1, 3, noon(onset, 1), "Minneapolis").await;
    seed(&db, 4, 1, noon(onset, -2), "Edina").await;
    seed(&db, 5, 1, noon(onset, -3), "Edina").await;
    seed(&db, 2, 6, noon(onset, 0), "Minneapolis").await;
    let case = case(1, onset);

    assert_eq!(
        app.report(&case).await,
        (200, json!({"notified": 3, "withdrawn": 0}))
    );
    let events = of_type(&sink, EXPOSURE_NOTIFIED);
    assert_eq!(events.len(), 3);
    let by_person: BTreeMap<i64, Value> = events
        .iter()
        .map(|e| (data(e)["mmid"].as_i64().expect("mmid"), data(e)))
        .collect();
    assert_eq!(by_person.keys().copied().collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(
        by_person[&2],
        json!({"mmid": 2, "hops": 1, "exposures": [
            {"day": onset - chrono::Days::new(1), "city": "Minneapolis", "state": "MN", "zipcode": "55415", "country": "US"},
            {"day": onset, "city": "Saint Paul", "state": "MN", "zipcode": "55415", "country": "US"},
        ]})
    );
    let case_id = case["case_id"].as_str().expect("case_id");
    for event in &events {
        let mmid = data(event)["mmid"].as_i64().expect("mmid");
        assert_eq!(event.source().as_str(), "/pact/notify");
        assert_eq!(
            event.extension("partitionkey").map(ToString::to_string),
            Some(mmid.to_string())
        );
        // Nothing that identifies the case: not its id, not its person,
        // not a trace shared by everyone notified for it.
        assert!(event.extension("traceparent").is_none());
        let text = serde_json::to_string(event).expect("event as JSON");
        assert!(!text.contains(case_id), "{text}");
        assert!(!event.id().contains(case_id));
        assert_ne!(data(event)["mmid"], 1);
    }

    // Redelivered, one after another and all at once: no one twice.
    for _ in 0..3 {
        assert_eq!(
            app.report(&case).await,
            (200, json!({"notified": 0, "withdrawn": 0}))
        );
    }
    let app = Arc::new(app);
    let deliveries: Vec<_> = (0..4)
        .map(|_| {
            let (app, case) = (app.clone(), case.clone());
            tokio::spawn(async move { app.report(&case).await })
        })
        .collect();
    for delivery in deliveries {
        let (status, _) = delivery.await.expect("join");
        assert!(status == 200 || status == 503, "{status}");
    }
    assert_eq!(of_type(&sink, EXPOSURE_NOTIFIED).len(), 3);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM notifications WHERE sent_at IS NOT NULL"
        )
        .await,
        3
    );
}

pg_and_sqlite!(
    depth_two_reaches_whom_exposures_lists,
    depth_two_matches_exposures
);
/// The people and hops at depth 2 are `GET /exposures`'s for the same
/// window, on a tangled graph of 30 people.
async fn depth_two_matches_exposures(db: Database) {
    let sink = sink().await;
    let app = spawn(db.clone(), &sink, &[("PACT_NOTIFY_DEPTH", "2")]).await;
    let onset = today() - chrono::Days::new(2);
    // A fixed pseudo-random graph, every contact inside the window.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for _ in 0..45 {
        let a = 1 + next(30) as i64;
        let b = 1 + (a + next(29) as i64) % 30;
        let days = next(8) as i64 - 2;
        seed(&db, a, b, noon(onset, days), "Minneapolis").await;
    }
    let (status, _) = app.report(&case(1, onset)).await;
    assert_eq!(status, 200);
    let got: BTreeSet<(i64, u64)> = of_type(&sink, EXPOSURE_NOTIFIED)
        .iter()
        .map(|e| {
            let d = data(e);
            (
                d["mmid"].as_i64().expect("mmid"),
                d["hops"].as_u64().expect("hops"),
            )
        })
        .collect();
    let since = noon(onset, -3);
    let person = PersonId::parse("mmid", 1).expect("positive");
    let walked: BTreeSet<(i64, u64)> = exposures(&db, person, since, 2, After((0, 0)), 1000)
        .await
        .expect("exposures")
        .into_iter()
        .map(|r| (r.person, u64::from(r.hops)))
        .collect();
    assert!(got.len() > 5, "the graph reaches people: {got:?}");
    assert!(got.iter().any(|(_, hops)| *hops == 2), "{got:?}");
    assert_eq!(got, walked);
}

pg_and_sqlite!(
    a_person_exposed_to_two_cases_is_notified_for_each,
    two_cases_two_notifications
);
async fn two_cases_two_notifications(db: Database) {
    let sink = sink().await;
    let app = spawn(db.clone(), &sink, &[]).await;
    let onset = today() - chrono::Days::new(1);
    seed(&db, 1, 2, noon(onset, 0), "Minneapolis").await;
    seed(&db, 7, 2, noon(onset, 0), "Minneapolis").await;
    for _ in 0..2 {
        for person in [1, 7] {
            assert_eq!(app.report(&case(person, onset)).await.0, 200);
        }
    }
    assert_eq!(notified(&sink)[&2].len(), 2, "one notification per case");
    assert_eq!(of_type(&sink, EXPOSURE_NOTIFIED).len(), 2);
}

pg_and_sqlite!(a_withdrawn_case_withdraws_its_notifications, withdrawn_case);
async fn withdrawn_case(db: Database) {
    let sink = sink().await;
    let app = spawn(db.clone(), &sink, &[]).await;
    let onset = today();
    for other in [2, 3, 4] {
        seed(&db, 1, other, noon(onset, -1), "Minneapolis").await;
    }
    let case = case(1, onset);
    assert_eq!(app.report(&case).await.1["notified"], 3);
    assert_eq!(
        app.withdraw(&case).await,
        (200, json!({"notified": 0, "withdrawn": 3}))
    );
    // Redelivered, the withdrawal and the report do nothing more.
    assert_eq!(app.withdraw(&case).await.1["withdrawn"], 0);
    assert_eq!(app.report(&case).await.1["notified"], 0);
    let notifications: BTreeMap<String, i64> = of_type(&sink, EXPOSURE_NOTIFIED)
        .iter()
        .map(|e| (e.id().to_owned(), data(e)["mmid"].as_i64().expect("mmid")))
        .collect();
    let withdrawals: BTreeMap<String, i64> = of_type(&sink, EXPOSURE_WITHDRAWN)
        .iter()
        .map(|e| {
            let d = data(e);
            (
                d["notification"].as_str().expect("notification").to_owned(),
                d["mmid"].as_i64().expect("mmid"),
            )
        })
        .collect();
    assert_eq!(withdrawals, notifications);
    assert_eq!(of_type(&sink, EXPOSURE_WITHDRAWN).len(), 3);
}

pg_and_sqlite!(
    a_case_withdrawn_before_its_report_arrives_notifies_no_one,
    withdrawn_first
);
async fn withdrawn_first(db: Database) {
    let sink = sink().await;
    let app = spawn(db.clone(), &sink, &[]).await;
    let onset = today();
    seed(&db, 1, 2, noon(onset, 0), "Minneapolis").await;
    let case = case(1, onset);
    assert_eq!(
        app.withdraw(&case).await,
        (200, json!({"notified": 0, "withdrawn": 0}))
    );
    assert_eq!(
        app.report(&case).await,
        (200, json!({"notified": 0, "withdrawn": 0}))
    );
    assert!(sink.accepted().is_empty());
}

pg_and_sqlite!(
    a_failing_sink_loses_no_one_and_repeats_at_most_a_round,
    failing_sink
);
/// The sink fails part way through 600 notifications: 503, and the next
/// delivery sends the rest. Everyone gets exactly one notification id; at
/// most the round in flight when the sink failed reaches it twice (same
/// ids, which a consumer deduplicates).
async fn failing_sink(db: Database) {
    let sink = CaptureSink::start(Reply::Status(202)).await;
    sink.script(
        std::iter::repeat_n(Reply::Status(202), 300)
            .chain(std::iter::repeat_n(Reply::Status(503), 40)),
    );
    let app = spawn(db.clone(), &sink, &[]).await;
    let onset = today();
    for other in 2..=601 {
        seed(&db, 1, other, noon(onset, 0), "Minneapolis").await;
    }
    let case = case(1, onset);
    let mut answers = Vec::new();
    for _ in 0..5 {
        let (status, _) = app.report(&case).await;
        answers.push(status);
        if status == 200 {
            break;
        }
    }
    assert_eq!(answers.first(), Some(&503), "{answers:?}");
    assert_eq!(answers.last(), Some(&200), "{answers:?}");
    let notified = notified(&sink);
    assert_eq!(notified.len(), 600);
    assert!(notified.values().all(|ids| ids.len() == 1));
    let accepted = of_type(&sink, EXPOSURE_NOTIFIED).len();
    assert!((600..=600 + 256).contains(&accepted), "{accepted}");
}

pg_and_sqlite!(two_instances_never_notify_anyone_twice, two_instances);
/// Two instances on one database get the same case at once: between them
/// everyone is notified, and the sink gets each notification once.
async fn two_instances(db: Database) {
    let sink = sink().await;
    let first = spawn(db.clone(), &sink, &[]).await;
    let second = spawn(db.clone(), &sink, &[]).await;
    let onset = today();
    for other in 2..=301 {
        seed(&db, 1, other, noon(onset, 0), "Minneapolis").await;
    }
    let case = case(1, onset);
    let (a, b) = tokio::join!(first.report(&case), second.report(&case));
    assert!(
        [a.0, b.0].contains(&200) || [a.0, b.0] == [503, 503],
        "{a:?} {b:?}"
    );
    // A 503 is retried, as the event source would.
    for app in [&first, &second] {
        for _ in 0..50 {
            if app.report(&case).await.0 == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    assert_eq!(notified(&sink).len(), 300);
    assert_eq!(of_type(&sink, EXPOSURE_NOTIFIED).len(), 300);
}

pg_and_sqlite!(at_most_max_people_are_notified_nearest_first, max_people);
async fn max_people(db: Database) {
    let sink = sink().await;
    let app = spawn(
        db.clone(),
        &sink,
        &[("PACT_NOTIFY_MAX_PEOPLE", "2"), ("PACT_NOTIFY_DEPTH", "2")],
    )
    .await;
    let onset = today();
    for (a, b) in [(1, 5), (1, 3), (3, 2), (5, 4)] {
        seed(&db, a, b, noon(onset, 0), "Minneapolis").await;
    }
    assert_eq!(app.report(&case(1, onset)).await.1["notified"], 2);
    assert_eq!(notified(&sink).keys().copied().collect::<Vec<_>>(), [3, 5]);
}

pg_and_sqlite!(a_trigger_that_prefers_a_reply_gets_none, prefers_reply);
/// A Broker's Trigger says `Prefer: reply` and would read a body as a
/// reply event: 202 and no body.
async fn prefers_reply(db: Database) {
    let sink = sink().await;
    let app = spawn(db.clone(), &sink, &[]).await;
    seed(&db, 1, 2, noon(today(), 0), "Minneapolis").await;
    let case = case(1, today());
    let id = case["case_id"].as_str().expect("id").to_owned();
    let response = app
        .send(
            pact_runtime::case::CASE_REPORTED,
            &id,
            &case,
            &[("prefer", "reply")],
        )
        .await;
    assert_eq!(response.status(), 202);
    assert!(response.bytes().await.expect("body").is_empty());
    assert_eq!(of_type(&sink, EXPOSURE_NOTIFIED).len(), 1);
}

pg_and_sqlite!(
    without_a_sink_it_is_not_ready_and_sends_nothing,
    without_sink
);
async fn without_sink(db: Database) {
    let vars: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let (config, _) = Config::from_env(&vars).expect("valid");
    let served = Served::start(app(AppState::new(config, db.clone()))).await;
    let client = reqwest::Client::new();
    let readyz = client
        .get(served.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(readyz.status(), 503);
    let case = case(1, today());
    let response = client
        .post(served.url("/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", case["case_id"].as_str().expect("id"))
        .header("ce-source", "/pact/query")
        .header("ce-type", pact_runtime::case::CASE_REPORTED)
        .header("content-type", "application/json")
        .body(case.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 503);
}

pg_and_sqlite!(
    a_round_slower_than_its_lease_is_not_taken_over,
    slow_round_keeps_its_lease
);
/// The sink takes 11 s per notification, longer than a round's 10 s lease:
/// the lease is renewed while the round is sent, so a second instance
/// that gets the case meanwhile takes nothing, and no one is notified twice.
async fn slow_round_keeps_its_lease(db: Database) {
    let sink = CaptureSink::start(Reply::Status(202)).await;
    let slow = Reply::Slow(std::time::Duration::from_secs(11), 202);
    sink.script([slow, slow, slow]);
    let env = [("PACT_EMIT_TIMEOUT_MS", "20000")];
    let first = spawn(db.clone(), &sink, &env).await;
    let second = spawn(db.clone(), &sink, &env).await;
    let onset = today();
    for other in [2, 3, 4] {
        seed(&db, 1, other, noon(onset, 0), "Minneapolis").await;
    }
    let case = case(1, onset);
    let (a, b) = tokio::join!(first.report(&case), async {
        tokio::time::sleep(std::time::Duration::from_millis(10_500)).await;
        second.report(&case).await
    });
    assert_eq!(a.0, 200, "{a:?}");
    assert_eq!(b.0, 503, "the round is still leased: {b:?}");
    assert_eq!(second.report(&case).await.1["notified"], 0);
    assert_eq!(of_type(&sink, EXPOSURE_NOTIFIED).len(), 3);
}
