//! pact-notify's SQL, written once for PostgreSQL and SQLite through
//! `pact_runtime::sql`: the case as first recorded, its notifications
//! under their unique constraints, and the leases that keep two instances
//! from sending the same notification at once.

use chrono::{DateTime, Utc};
use pact_runtime::case::CaseReported;
use pact_runtime::database::Database;
use uuid::Uuid;

/// Rows per INSERT statement: 6 parameters each stays far below both
/// backends' limits.
const ROWS_PER_STATEMENT: usize = 1_000;

/// A case as pact-notify recorded it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Case {
    /// Its id.
    pub case_id: String,
    /// The person; `None` while only its withdrawal has arrived.
    pub mmid: Option<i64>,
    /// The onset date, as midnight UTC.
    pub onset: Option<DateTime<Utc>>,
    /// Random, kept here only: notification ids derive from it.
    pub secret: String,
    /// When its notifications were all made.
    pub planned_at: Option<DateTime<Utc>>,
    /// When it was withdrawn.
    pub withdrawn_at: Option<DateTime<Utc>>,
}

impl Case {
    /// [`Case::secret`] as a UUID; `None` only if the row was altered by
    /// hand (the schema checks its length, not its form).
    pub fn secret(&self) -> Option<Uuid> {
        self.secret.parse().ok()
    }
}

const CASE_COLUMNS: &str = "case_id, mmid, onset, secret, planned_at, withdrawn_at";

/// Records a reported case, or fills in one whose withdrawal came first,
/// and returns it as stored, in one statement: the first report's secret
/// and reference win, so a redelivered report finds what the first one
/// recorded.
pub async fn record_case(
    db: &Database,
    report: &CaseReported,
    secret: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Case> {
    let onset = report.onset.and_time(chrono::NaiveTime::MIN).and_utc();
    db.query(&format!(
        "INSERT INTO cases (case_id, mmid, onset, reference, secret, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (case_id) DO UPDATE SET mmid = COALESCE(cases.mmid, excluded.mmid), \
         onset = COALESCE(cases.onset, excluded.onset), \
         reference = CASE WHEN cases.mmid IS NULL THEN excluded.reference ELSE cases.reference END \
         RETURNING {CASE_COLUMNS}"
    ))
    .bind(report.case_id.to_string().as_str())
    .bind(report.mmid)
    .bind(onset)
    .bind(report.reference.as_deref().unwrap_or_default())
    .bind(secret.to_string().as_str())
    .bind(now)
    .fetch_one()
    .await
}

/// Records that a case is withdrawn (a tombstone when its report has not
/// arrived yet) and returns it, in one statement.
pub async fn withdraw_case(
    db: &Database,
    case_id: Uuid,
    secret: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Case> {
    db.query(&format!(
        "INSERT INTO cases (case_id, secret, recorded_at, withdrawn_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (case_id) DO UPDATE \
         SET withdrawn_at = COALESCE(cases.withdrawn_at, excluded.withdrawn_at) \
         RETURNING {CASE_COLUMNS}"
    ))
    .bind(case_id.to_string().as_str())
    .bind(secret.to_string().as_str())
    .bind(now)
    .fetch_one()
    .await
}

/// A notification to make.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// Its id ([`pact_runtime::case::notification_id`]).
    pub id: Uuid,
    /// Whom it tells.
    pub mmid: i64,
    /// Hops from the case.
    pub hops: u32,
    /// The event's data.
    pub data: String,
}

/// Stores the notifications of a case (those already stored stay as they
/// are) and marks the case planned, in one transaction.
pub async fn plan(
    db: &Database,
    case_id: Uuid,
    notifications: &[NewNotification],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let case_id = case_id.to_string();
    let ids: Vec<String> = notifications.iter().map(|n| n.id.to_string()).collect();
    let mut tx = db.begin().await?;
    for (chunk, chunk_ids) in notifications
        .chunks(ROWS_PER_STATEMENT)
        .zip(ids.chunks(ROWS_PER_STATEMENT))
    {
        let sql = format!(
            "INSERT INTO notifications (id, case_id, mmid, hops, data, created_at) VALUES {} \
             ON CONFLICT DO NOTHING",
            tx.dialect().values(chunk.len(), 6)
        );
        let mut statement = tx.query(&sql);
        for (n, id) in chunk.iter().zip(chunk_ids) {
            statement = statement
                .bind(id.as_str())
                .bind(case_id.as_str())
                .bind(n.mmid)
                .bind(i64::from(n.hops))
                .bind(n.data.as_str())
                .bind(now);
        }
        statement.execute().await?;
    }
    tx.query("UPDATE cases SET planned_at = $2 WHERE case_id = $1 AND planned_at IS NULL")
        .bind(case_id.as_str())
        .bind(now)
        .execute()
        .await?;
    tx.commit().await
}

/// A notification this instance holds a lease on.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Claimed {
    /// Its id.
    pub id: String,
    /// Whom it tells.
    pub mmid: i64,
    /// The event's data.
    pub data: String,
    /// When it was made (the event's `time`).
    pub created_at: DateTime<Utc>,
}

/// What [`claim`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Notifications not sent yet, while the case is not withdrawn.
    Send,
    /// Notifications whose withdrawal is not sent yet, of those sent or
    /// tried (a try that failed or crashed may have reached the sink).
    Withdraw,
}

impl Step {
    /// The rows left to do, as SQL over `notifications` for case `$1`.
    fn todo(self) -> &'static str {
        match self {
            Self::Send => {
                "sent_at IS NULL AND NOT EXISTS \
                 (SELECT 1 FROM cases WHERE cases.case_id = $1 AND cases.withdrawn_at IS NOT NULL)"
            }
            Self::Withdraw => {
                "withdrawn_at IS NULL AND (sent_at IS NOT NULL OR lease_until IS NOT NULL)"
            }
        }
    }
}

/// Leases, until `until`, up to `limit` notifications of a case that `step`
/// has to do and no live lease holds. (The conditions are repeated outside
/// the subquery: PostgreSQL checks those again on a row another instance
/// leased meanwhile, so two instances never lease the same row.)
pub async fn claim(
    db: &Database,
    case_id: Uuid,
    step: Step,
    (now, until): (DateTime<Utc>, DateTime<Utc>),
    limit: i64,
) -> sqlx::Result<Vec<Claimed>> {
    let todo = step.todo();
    let free = "(lease_until IS NULL OR lease_until < $2)";
    db.query(&format!(
        "UPDATE notifications SET lease_until = $3 WHERE id IN \
         (SELECT id FROM notifications WHERE case_id = $1 AND {todo} AND {free} ORDER BY id LIMIT $4) \
         AND case_id = $1 AND {todo} AND {free} RETURNING id, mmid, data, created_at"
    ))
    .bind(case_id.to_string().as_str())
    .bind(now)
    .bind(until)
    .bind(limit)
    .fetch_all()
    .await
}

/// Extends this instance's leases on `ids` until `until`.
pub async fn extend(db: &Database, ids: &[&str], until: DateTime<Utc>) -> sqlx::Result<()> {
    set_lease(db, ids, until).await
}

/// Marks what `step` did for these notifications, and drops their leases.
pub async fn done(db: &Database, step: Step, ids: &[&str], now: DateTime<Utc>) -> sqlx::Result<()> {
    let column = match step {
        Step::Send => "sent_at",
        Step::Withdraw => "withdrawn_at",
    };
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE notifications SET {column} = $1, lease_until = NULL WHERE id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut statement = db.query(&sql).bind(now);
        for id in chunk {
            statement = statement.bind(*id);
        }
        statement.execute().await?;
    }
    Ok(())
}

/// Ends this instance's leases now (after a failed send): the next
/// delivery, here or elsewhere, takes them at once, and the lease left
/// behind says a send was tried.
pub async fn release(db: &Database, ids: &[&str], now: DateTime<Utc>) -> sqlx::Result<()> {
    set_lease(db, ids, now).await
}

async fn set_lease(db: &Database, ids: &[&str], until: DateTime<Utc>) -> sqlx::Result<()> {
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE notifications SET lease_until = $1 WHERE id IN ({})",
            placeholders(2, chunk.len())
        );
        let mut statement = db.query(&sql).bind(until);
        for id in chunk {
            statement = statement.bind(*id);
        }
        statement.execute().await?;
    }
    Ok(())
}

/// `$first, …` for `n` values, for an `IN (…)` list.
fn placeholders(first: usize, n: usize) -> String {
    let list: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    list.join(", ")
}

/// How many notifications of a case `step` still has to do (held by
/// another instance's lease, or left by a budget that ran out).
pub async fn pending(db: &Database, case_id: Uuid, step: Step) -> sqlx::Result<i64> {
    let todo = step.todo();
    let (count,): (i64,) = db
        .query(&format!(
            "SELECT count(*) FROM notifications WHERE case_id = $1 AND {todo}"
        ))
        .bind(case_id.to_string().as_str())
        .fetch_one()
        .await?;
    Ok(count)
}
