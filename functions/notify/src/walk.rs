//! Who is exposed to a case: a breadth-first walk over `contactlist`
//! through the query of pact-query's `GET /contacts/{mmid}`
//! ([`pact_runtime::queries::CONTACTS_OF`]), so the people and hops are
//! those `GET /exposures/{mmid}` lists for the same window (a test holds the
//! two together). Unlike `/exposures`, which keeps
//! one linking contact per person, it keeps every day and place that
//! exposed each person: what the notification tells them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pact_runtime::case::ExposureSite;
use pact_runtime::contact::PersonId;
use pact_runtime::database::Database;
use pact_runtime::queries::CONTACTS_OF;

use crate::error::{Error, Result};

/// Contacts read per query.
const PAGE: i64 = 1_000;
/// Most days and places one notification lists; the earliest are kept.
pub const MAX_SITES: usize = 50;

/// One exposed person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    /// Who.
    pub mmid: i64,
    /// 1 if they met the case, 2 if they met someone who did.
    pub hops: u32,
    /// Where and when, in order, at most [`MAX_SITES`].
    pub sites: Vec<ExposureSite>,
}

/// Everyone within `depth` hops of `case` through contacts observed in
/// [`since`, `until`), nearest first, then by person id; at most `max`.
/// Each database call is bounded by `limit`.
pub async fn exposed(
    db: &Database,
    case: PersonId,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    depth: u32,
    max: usize,
    limit: Duration,
) -> Result<Vec<Exposed>> {
    let mut levels: Vec<BTreeMap<i64, BTreeSet<ExposureSite>>> = Vec::new();
    let mut seen = BTreeSet::from([case.get()]);
    let mut frontier = vec![case];
    for _ in 0..depth {
        // The nearest come first: once they fill `max`, no farther level
        // would be kept, so none is walked.
        if seen.len() > max {
            break;
        }
        let mut level: BTreeMap<i64, BTreeSet<ExposureSite>> = BTreeMap::new();
        for person in frontier {
            for contact in contacts(db, person, since, until, limit).await? {
                let met = contact.other(person);
                if !seen.contains(&met) {
                    level.entry(met).or_default().insert(contact.site());
                }
            }
        }
        seen.extend(level.keys().copied());
        frontier = level
            .keys()
            .filter_map(|&id| PersonId::parse("mmid", id).ok())
            .collect();
        levels.push(level);
    }
    Ok(levels
        .into_iter()
        .zip(1..)
        .flat_map(|(level, hops)| {
            level.into_iter().map(move |(mmid, sites)| Exposed {
                mmid,
                hops,
                sites: sites.into_iter().take(MAX_SITES).collect(),
            })
        })
        .take(max)
        .collect())
}

/// The fields of a contact the walk reads.
#[derive(Debug, sqlx::FromRow)]
struct Contact {
    id: i64,
    mmid1: i64,
    mmid2: i64,
    city: String,
    state: String,
    zipcode: String,
    country: String,
    observed_at: DateTime<Utc>,
}

impl Contact {
    /// Who `person` met.
    fn other(&self, person: PersonId) -> i64 {
        if self.mmid1 == person.get() {
            self.mmid2
        } else {
            self.mmid1
        }
    }

    /// Its day and place.
    fn site(&self) -> ExposureSite {
        ExposureSite {
            day: self.observed_at.date_naive(),
            city: self.city.clone(),
            state: self.state.clone(),
            zipcode: self.zipcode.clone(),
            country: self.country.clone(),
        }
    }
}

/// Every contact of `person` in the window, page by page.
async fn contacts(
    db: &Database,
    person: PersonId,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: Duration,
) -> Result<Vec<Contact>> {
    let mut all = Vec::new();
    let mut after = (since, 0);
    loop {
        // One row more than a page, to know whether another follows.
        let page: Vec<Contact> = Error::timed(
            "reading contacts",
            limit,
            db.query(CONTACTS_OF)
                .bind(person.get())
                .bind(after.0)
                .bind(until)
                .bind(after.1)
                .bind(PAGE + 1)
                .fetch_all(),
        )
        .await?;
        let more = page.len() > PAGE as usize;
        all.extend(page.into_iter().take(PAGE as usize));
        if let Some(last) = all.last() {
            after = (last.observed_at, last.id);
        }
        if !more {
            return Ok(all);
        }
    }
}
