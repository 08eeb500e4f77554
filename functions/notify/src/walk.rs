//! Who is exposed to a case: a breadth-first walk over `contactlist`
//! through pact-query's own contacts query (`GET /contacts/{mmid}`'s), so
//! the people and hops are those `GET /exposures/{mmid}` lists for the same
//! window (a test holds the two together). Unlike `/exposures`, which keeps
//! one linking contact per person, it keeps every day and place that
//! exposed each person: what the notification tells them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use pact_query::model::{ContactRecord, MetContact};
use pact_query::store::{self, After};
use pact_runtime::case::ExposureSite;
use pact_runtime::contact::PersonId;
use pact_runtime::database::Database;

use crate::error::{Error, Result};

/// Contacts read per query.
const PAGE: u32 = 1_000;
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
        let mut level: BTreeMap<i64, BTreeSet<ExposureSite>> = BTreeMap::new();
        for person in frontier {
            for met in contacts(db, person, since, until, limit).await? {
                if !seen.contains(&met.met) {
                    level.entry(met.met).or_default().insert(site(&met.contact));
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

/// Every contact of `person` in the window, page by page.
async fn contacts(
    db: &Database,
    person: PersonId,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: Duration,
) -> Result<Vec<MetContact>> {
    let mut all = Vec::new();
    let mut after = (since, 0);
    loop {
        let page = Error::timed(
            "reading contacts",
            limit,
            store::contacts_of(db, person, until, After(after), PAGE),
        )
        .await?;
        let more = page.len() > PAGE as usize;
        if let Some(last) = page.iter().take(PAGE as usize).last() {
            after = (last.contact.observed_at, last.contact.id);
        }
        all.extend(page.into_iter().take(PAGE as usize));
        if !more {
            return Ok(all);
        }
    }
}

/// The day and place of a contact.
fn site(contact: &ContactRecord) -> ExposureSite {
    ExposureSite {
        day: contact.observed_at.date_naive(),
        city: contact.city.clone(),
        state: contact.state.clone(),
        zipcode: contact.zipcode.clone(),
        country: contact.country.clone(),
    }
}
