//! Storing, deduplicating, validating, group commit and retention, on both
//! backends.

use pact_runtime::database::Database;
use serde_json::{Value, json};

use crate::helpers::{contact, spawn};
use pact_runtime::pg_and_sqlite;

pg_and_sqlite!(
    a_redelivered_event_is_stored_once,
    redelivered_event_is_stored_once
);
async fn redelivered_event_is_stored_once(db: Database) {
    let app = spawn(db, &[]).await;
    // In sequence.
    for _ in 0..10 {
        let response = app
            .send("/pact/translation", "evt-1", contact(1, 2, 0))
            .await;
        assert_eq!(response.status(), 200);
    }
    // At the same time.
    let app = std::sync::Arc::new(app);
    let requests: Vec<_> = (0..10)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                app.send("/pact/translation", "evt-2", contact(3, 4, 0))
                    .await
            })
        })
        .collect();
    let mut stored = 0;
    for request in requests {
        let response = request.await.expect("join");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        stored += body["stored"].as_u64().expect("stored");
    }
    assert_eq!(
        stored, 1,
        "exactly one of the concurrent deliveries stored the row"
    );
    // The same id from another source is another event.
    let response = app.send("/other/source", "evt-1", contact(1, 2, 0)).await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!({"stored": 1, "duplicates": 0}));
    assert_eq!(app.count().await, 3);
}

pg_and_sqlite!(
    a_sender_that_prefers_a_reply_gets_none,
    sender_that_prefers_a_reply_gets_none
);
/// A Broker's Trigger (`Prefer: reply`) would read a body as a reply event
/// and fail the delivery on one that is not: 202 and nothing else, for a
/// contact and for a ping, stored or duplicate.
async fn sender_that_prefers_a_reply_gets_none(db: Database) {
    let app = spawn(db, &[]).await;
    let contact_request = |prefer: &'static str| {
        app.client
            .post(app.url("/"))
            .header("ce-specversion", "1.0")
            .header("ce-id", "trigger-1")
            .header("ce-source", "/pact/translation")
            .header("ce-type", "dev.pact.contact.translated")
            .header("content-type", "application/json")
            .header("prefer", prefer)
            .body(contact(1, 2, 0).to_string())
    };
    for prefer in ["reply", "respond-async, REPLY", "reply; x=1"] {
        let response = contact_request(prefer).send().await.expect("request");
        assert_eq!(response.status(), 202, "Prefer: {prefer}");
        assert!(
            response.headers().get("content-type").is_none(),
            "Prefer: {prefer}"
        );
        assert_eq!(
            response.bytes().await.expect("body").len(),
            0,
            "Prefer: {prefer}"
        );
    }
    let ping = app
        .client
        .post(app.url("/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "ping-1")
        .header(
            "ce-source",
            "/apis/v1/namespaces/pact/pingsources/pact-retention",
        )
        .header("ce-type", "dev.knative.sources.ping")
        .header("prefer", "reply")
        .send()
        .await
        .expect("request");
    assert_eq!(ping.status(), 202);
    assert_eq!(ping.bytes().await.expect("body").len(), 0);
    // Other preferences, and none, still get the summary.
    let other = contact_request("return=minimal")
        .send()
        .await
        .expect("request");
    assert_eq!(other.status(), 200);
    let body: Value = other.json().await.expect("json");
    assert_eq!(body, json!({"stored": 0, "duplicates": 1}));
    assert_eq!(app.count().await, 1);
}

pg_and_sqlite!(
    every_accepted_form_becomes_one_row,
    every_form_becomes_a_row
);
async fn every_form_becomes_a_row(db: Database) {
    let app = spawn(db.clone(), &[]).await;
    // Structured mode.
    let structured = json!({
        "specversion": "1.0", "id": "s-1", "source": "/pact/translation",
        "type": "dev.pact.contact.translated", "datacontenttype": "application/json",
        "time": "2026-11-24T10:00:00Z", "data": contact(5, 6, 0)
    });
    let response = app
        .client
        .post(app.url("/"))
        .header("content-type", "application/cloudevents+json")
        .body(structured.to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    // A KafkaSource envelope around the original translated line, with a
    // street holding a comma: quoted, it stays one field.
    let response = app
        .client
        .post(app.url("/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "partition:0/offset:7")
        .header(
            "ce-source",
            "/apis/v1/namespaces/pact/kafkasources/translated#pact-translated",
        )
        .header("ce-type", "dev.knative.kafka.event")
        .header("ce-time", "2026-11-24T09:00:00Z")
        .body(r#"7,8,"350 S 5th St, Room 1",Minneapolis,MN,55415-2215,US"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    // A plain CSV line with no identity at all.
    let response = app
        .client
        .post(app.url("/"))
        .header("content-type", "text/plain")
        .body("9,10,Main St,Duluth,MN,55802,US\n")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(app.count().await, 3);

    const SQL: &str = "SELECT mmid1, mmid2, street, city, state, zipcode, country, geocoder, event_source, event_id \
                       FROM contactlist ORDER BY mmid1";
    type Row = (
        i64,
        i64,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    );
    let rows: Vec<Row> = match &db {
        Database::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
        Database::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await,
    }
    .expect("rows");
    assert_eq!(rows[0].0, 5);
    assert_eq!(rows[0].7, "offline");
    assert_eq!(
        (rows[0].8.as_str(), rows[0].9.as_str()),
        ("/pact/translation", "s-1")
    );
    assert_eq!(rows[1].2, "350 S 5th St, Room 1");
    assert_eq!(rows[1].5, "55415-2215");
    assert_eq!(rows[1].9, "partition:0/offset:7");
    assert_eq!(rows[2].3, "Duluth");
    assert_eq!(rows[2].8, "/pact/contactlog/unidentified");
}

pg_and_sqlite!(
    bad_events_are_refused_and_write_nothing,
    bad_events_write_nothing
);
async fn bad_events_write_nothing(db: Database) {
    let app = spawn(db, &[]).await;
    let mut too_long = contact(1, 2, 0);
    too_long["zipcode"] = json!("12345678901234567");
    let mut same_person = contact(1, 1, 0);
    same_person["mmid2"] = json!(1);
    let mut bad_country = contact(1, 2, 0);
    bad_country["country"] = json!("USA");
    for (data, field) in [
        (too_long, "zipcode"),
        (same_person, "mmid2"),
        (bad_country, "country"),
    ] {
        let response = app.send("/t", "bad", data).await;
        assert_eq!(response.status(), 422);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.expect("problem");
        assert_eq!(problem["field"], field);
    }
    let wrong_type = app
        .client
        .post(app.url("/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "x")
        .header("ce-source", "/x")
        .header("ce-type", "dev.pact.contact.untranslated")
        .header("content-type", "application/json")
        .body(contact(1, 2, 0).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_type.status(), 422);
    let garbage = app
        .client
        .post(app.url("/"))
        .header("content-type", "text/csv")
        .body("1,2,3")
        .send()
        .await
        .expect("request");
    assert_eq!(garbage.status(), 400);
    assert_eq!(app.count().await, 0);
}

pg_and_sqlite!(
    concurrent_requests_share_commits,
    concurrent_requests_share_commits_body
);
async fn concurrent_requests_share_commits_body(db: Database) {
    let app = std::sync::Arc::new(spawn(db, &[]).await);
    let requests: Vec<_> = (0..64)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.send("/t", &format!("gc-{i}"), contact(i + 1, i + 100, 0))
                    .await
            })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.expect("join").status(), 200);
    }
    assert_eq!(app.count().await, 64, "every answered row is there");
    let commits = app.metric("pact_db_commits_total").await;
    assert!(
        (1.0..64.0).contains(&commits),
        "{commits} commits for 64 requests"
    );
    assert_eq!(app.metric("pact_db_rows_stored_total").await, 64.0);
}

pg_and_sqlite!(a_ping_without_data_purges_too, ping_without_data_purges_too);
async fn ping_without_data_purges_too(db: Database) {
    let app = spawn(db, &[("PACT_RETENTION_DAYS", "21")]).await;
    let response = app.send("/t", "old", contact(1, 2, 30)).await;
    assert_eq!(response.status(), 200);
    // What a PingSource with no `data` sends: no body, no content type.
    let ping = app.ping("ping-2").await;
    assert_eq!(ping.status(), 200);
    let body: Value = ping.json().await.expect("json");
    assert_eq!(body["purged"], 1);
    assert_eq!(app.count().await, 0);
}

pg_and_sqlite!(a_ping_purges_old_contacts, ping_purges_old_contacts);
async fn ping_purges_old_contacts(db: Database) {
    let app = spawn(db, &[("PACT_RETENTION_DAYS", "21")]).await;
    for (i, days_ago) in [30, 22, 20, 1, 0].into_iter().enumerate() {
        let response = app
            .send("/t", &format!("r-{i}"), contact(1, 2, days_ago))
            .await;
        assert_eq!(response.status(), 200);
    }
    let ping = app
        .client
        .post(app.url("/"))
        .header("ce-specversion", "1.0")
        .header("ce-id", "ping-1")
        .header(
            "ce-source",
            "/apis/v1/namespaces/pact/pingsources/retention",
        )
        .header("ce-type", "dev.knative.sources.ping")
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(ping.status(), 200);
    let body: Value = ping.json().await.expect("json");
    assert_eq!(body["purged"], 2);
    assert_eq!(app.count().await, 3);
    assert_eq!(app.metric("pact_retention_deleted_rows_total").await, 2.0);
}

pg_and_sqlite!(
    a_ping_purges_old_cases_and_their_notifications,
    ping_purges_old_cases
);
/// pact-notify's cases and notifications go with the contacts
/// (docs/privacy.md): a case recorded longer ago than the retention period
/// is deleted with its notifications; a recent one stays.
async fn ping_purges_old_cases(db: Database) {
    let app = spawn(db.clone(), &[("PACT_RETENTION_DAYS", "21")]).await;
    let now = chrono::Utc::now();
    for (case, days_ago) in [
        ("00000000-0000-0000-0000-000000000022", 22),
        ("00000000-0000-0000-0000-000000000001", 1),
    ] {
        let recorded = now - chrono::Duration::days(days_ago);
        db.query(
            "INSERT INTO cases (case_id, mmid, onset, secret, recorded_at) \
             VALUES ($1, 7, $2, '00000000-0000-0000-0000-00000000000s', $2)",
        )
        .bind(case)
        .bind(recorded)
        .execute()
        .await
        .expect("a case");
        for person in [2_i64, 3] {
            let id = format!("{}{person}", &case[..35]);
            db.query(
                "INSERT INTO notifications (id, case_id, mmid, hops, data, created_at, sent_at) \
                 VALUES ($1, $2, $3, 1, '{}', $4, $4)",
            )
            .bind(id.as_str())
            .bind(case)
            .bind(person)
            .bind(recorded)
            .execute()
            .await
            .expect("a notification");
        }
    }
    let ping = app.ping("ping-cases").await;
    assert_eq!(ping.status(), 200);
    let remaining: Vec<(String,)> = db
        .query("SELECT case_id FROM cases")
        .fetch_all()
        .await
        .expect("cases");
    assert_eq!(
        remaining,
        [("00000000-0000-0000-0000-000000000001".to_owned(),)]
    );
    let notifications: Vec<(String,)> = db
        .query("SELECT case_id FROM notifications")
        .fetch_all()
        .await
        .expect("notifications");
    assert_eq!(notifications.len(), 2);
    assert!(notifications.iter().all(|(c,)| c.ends_with("001")));
}
