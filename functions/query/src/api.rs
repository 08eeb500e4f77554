//! The data endpoints: their parameters, their handlers and their OpenAPI
//! description, side by side so they cannot drift apart.
//!
//! Pages: `limit` rows (default 100, at most 1000) in a stable order, and an
//! opaque `cursor` for the next page. The original endpoints keep the
//! original body (a JSON array of rows) and announce the next page in a
//! `Link: <…>; rel="next"` header (RFC 8288); the new ones answer an object
//! with `items` and `next_cursor`, and send the same `Link` header.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::cursor::{self, CURSOR, Scope};
use crate::error::{Error, Result};
use crate::model::{ContactRecord, ContactsPage, Exposure, ExposuresPage, MetContact, Stats};
use crate::openapi::ErrorResponses;
use crate::params::{self, QueryString, names};
use crate::store::{self, After};

/// Default of `days` for `GET /exposures/{mmid}`.
pub const DEFAULT_EXPOSURE_DAYS: u32 = 14;
/// Largest `days`: the retention period (21 days by default) fits in it.
pub const MAX_EXPOSURE_DAYS: u32 = 30;
/// Default of `depth`.
pub const DEFAULT_EXPOSURE_DEPTH: u32 = 2;
/// Largest `depth`: at 3 hops a city is mostly reached already.
pub const MAX_EXPOSURE_DEPTH: u32 = 3;

/// `limit` and `cursor`, shared by every paged endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000, default = 100)]
    limit: Option<String>,
    /// The previous page's `next_cursor` (also in its `Link` header),
    /// unchanged, with the same other parameters (`limit` included). A
    /// cursor only continues the query it was given for: one from another
    /// query, altered or made up is a 400. An `/exposures` cursor is good
    /// for 15 minutes.
    #[param(value_type = Option<String>)]
    cursor: Option<String>,
}

/// `GET /findcontactbystate`'s filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StateQuery {
    /// State code (`MN`) or region name, matched exactly as stored.
    #[param(required = true, value_type = String, example = "MN", max_length = 100)]
    state: Option<String>,
}

/// `GET /findcontactbycountry`'s filter.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CountryQuery {
    /// ISO 3166-1 alpha-2 country code, in either case.
    #[param(required = true, value_type = String, example = "US", min_length = 2, max_length = 2)]
    country: Option<String>,
}

/// `GET /contacts/{mmid}`'s time range.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactsQuery {
    /// Contacts observed at or after this time (RFC 3339).
    #[param(value_type = Option<DateTime<Utc>>)]
    since: Option<String>,
    /// Contacts observed before this time (RFC 3339); not before `since`.
    #[param(value_type = Option<DateTime<Utc>>)]
    until: Option<String>,
}

/// `GET /exposures/{mmid}`'s window and depth.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExposuresQuery {
    /// Contacts of the last `days` days count (counted back from the time
    /// of the first page's request).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 30, default = 14)]
    days: Option<String>,
    /// Largest number of hops followed.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 3, default = 2)]
    depth: Option<String>,
}

static STATE_NAMES: LazyLock<[Vec<String>; 2]> =
    LazyLock::new(|| [names::<StateQuery>(), names::<PageQuery>()]);
static COUNTRY_NAMES: LazyLock<[Vec<String>; 2]> =
    LazyLock::new(|| [names::<CountryQuery>(), names::<PageQuery>()]);
static CONTACTS_NAMES: LazyLock<[Vec<String>; 2]> =
    LazyLock::new(|| [names::<ContactsQuery>(), names::<PageQuery>()]);
static EXPOSURES_NAMES: LazyLock<[Vec<String>; 2]> =
    LazyLock::new(|| [names::<ExposuresQuery>(), names::<PageQuery>()]);

/// `limit` and the raw `cursor`, read.
struct Paging {
    limit: u32,
    cursor: Option<String>,
}

impl Paging {
    fn read(query: QueryString<'_>) -> Result<Self> {
        let raw: PageQuery = query.read()?;
        Ok(Self {
            limit: params::limit(raw.limit.as_deref())?,
            cursor: raw.cursor.filter(|c| !c.is_empty()),
        })
    }

    /// Drops the extra row fetched beyond `limit`; the cursor of the last
    /// row kept when there was one (so a next page exists).
    fn split<T>(&self, rows: &mut Vec<T>, cursor: impl FnOnce(&T) -> String) -> Option<String> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() <= limit {
            return None;
        }
        rows.truncate(limit);
        rows.last().map(cursor)
    }
}

/// Reads a person id from the path, as a 400 naming `mmid` when it is not one.
fn person(path: Result<Path<String>, PathRejection>) -> Result<pact_runtime::contact::PersonId> {
    match path {
        Ok(Path(raw)) => params::person(&raw),
        Err(_) => Err(Error::parameter(
            "mmid",
            "must be a person id, a positive whole number",
        )),
    }
}

/// `Link: <path?…&cursor=…>; rel="next"` for the same query with `cursor`.
fn with_next_link(mut response: Response, uri: &Uri, next: Option<&str>) -> Response {
    let Some(next) = next else {
        return response;
    };
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    pairs.retain(|(name, _)| name != CURSOR);
    pairs.push((CURSOR.to_owned(), next.to_owned()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let link = format!("<{}?{query}>; rel=\"next\"", uri.path());
    if let Ok(value) = HeaderValue::from_str(&link) {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

/// The contacts in one state, by id: the original demo's endpoint.
#[utoipa::path(
    get,
    path = "/findcontactbystate",
    tag = "original",
    params(StateQuery, PageQuery),
    responses(
        (status = 200, description = "The contacts in that state, oldest row first",
         body = [ContactRecord],
         headers(("Link" = String, description = "`<…>; rel=\"next\"` when there is a next page"))),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub async fn find_by_state(
    State(app): State<AppState>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let query = QueryString::check(raw.as_deref(), &*STATE_NAMES)?;
    let filter: StateQuery = query.read()?;
    let state = params::state(filter.state.as_deref())?;
    let paging = Paging::read(query)?;
    let scope = Scope::new("findcontactbystate", &[&state, &paging.limit.to_string()]);
    let after = match &paging.cursor {
        Some(cursor) => cursor::row_id(scope, cursor)?,
        None => 0,
    };
    let mut rows = app
        .read(store::by_state(
            app.database()?,
            &state,
            after,
            paging.limit,
        ))
        .await?;
    let next = paging.split(&mut rows, |last| scope.encode(&[last.id]));
    Ok(with_next_link(
        Json(rows).into_response(),
        &uri,
        next.as_deref(),
    ))
}

/// The contacts in one country, by id: the original demo's endpoint.
#[utoipa::path(
    get,
    path = "/findcontactbycountry",
    tag = "original",
    params(CountryQuery, PageQuery),
    responses(
        (status = 200, description = "The contacts in that country, oldest row first",
         body = [ContactRecord],
         headers(("Link" = String, description = "`<…>; rel=\"next\"` when there is a next page"))),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub async fn find_by_country(
    State(app): State<AppState>,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let query = QueryString::check(raw.as_deref(), &*COUNTRY_NAMES)?;
    let filter: CountryQuery = query.read()?;
    let country = params::country(filter.country.as_deref())?;
    let paging = Paging::read(query)?;
    let scope = Scope::new(
        "findcontactbycountry",
        &[country.as_str(), &paging.limit.to_string()],
    );
    let after = match &paging.cursor {
        Some(cursor) => cursor::row_id(scope, cursor)?,
        None => 0,
    };
    let mut rows = app
        .read(store::by_country(
            app.database()?,
            country,
            after,
            paging.limit,
        ))
        .await?;
    let next = paging.split(&mut rows, |last| scope.encode(&[last.id]));
    Ok(with_next_link(
        Json(rows).into_response(),
        &uri,
        next.as_deref(),
    ))
}

/// Whom one person met, when and where: their contacts in a time range.
#[utoipa::path(
    get,
    path = "/contacts/{mmid}",
    tag = "tracing",
    params(
        ("mmid" = i64, Path, description = "The person's id", minimum = 1, example = 1),
        ContactsQuery,
        PageQuery,
    ),
    responses(
        (status = 200, description = "The person's contacts, by `observed_at` then `id`",
         body = ContactsPage,
         headers(("Link" = String, description = "`<…>; rel=\"next\"` when there is a next page"))),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub async fn contacts(
    State(app): State<AppState>,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let person = person(path)?;
    let query = QueryString::check(raw.as_deref(), &*CONTACTS_NAMES)?;
    let range: ContactsQuery = query.read()?;
    let since = params::time("since", range.since.as_deref())?;
    let until = params::time("until", range.until.as_deref())?;
    if let (Some(since), Some(until)) = (since, until)
        && since > until
    {
        return Err(Error::parameter(
            "since",
            "must not be after until (the range is since <= observed_at < until)",
        ));
    }
    let paging = Paging::read(query)?;
    let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros().to_string());
    let scope = Scope::new(
        "contacts",
        &[
            &person.get().to_string(),
            micros(since).as_deref().unwrap_or(""),
            micros(until).as_deref().unwrap_or(""),
            &paging.limit.to_string(),
        ],
    );
    let from = since.unwrap_or_else(store::beginning);
    let to = until.unwrap_or_else(store::end);
    // The cursor's position is checked to lie in [from, to): the query
    // starts from it, so it must not reach before `since`.
    let after = match &paging.cursor {
        Some(cursor) => After(cursor::contact_position(scope, cursor, from, to)?),
        None => After((from, 0)),
    };
    let mut items = app
        .read(store::contacts_of(
            app.database()?,
            person,
            to,
            after,
            paging.limit,
        ))
        .await?;
    let next = paging.split(&mut items, |last: &MetContact| {
        scope.encode(&[last.contact.observed_at.timestamp_micros(), last.contact.id])
    });
    let page = ContactsPage {
        mmid: person.get(),
        since,
        until,
        items,
        next_cursor: next.clone(),
    };
    Ok(with_next_link(
        Json(page).into_response(),
        &uri,
        next.as_deref(),
    ))
}

/// Everyone reachable from one person through contacts in a recent window,
/// with the smallest number of hops and the earliest contact linking them.
///
/// The window is the last `days` days counted back from now (the time of
/// the request for the first page; later pages keep that start, carried in
/// the cursor, so the pages of one answer fit together; a cursor is good for
/// 15 minutes). A path need not be in time order: everyone linked through
/// contacts in the window is listed, as a tracer would list them, and
/// `contact.observed_at` tells when the link happened.
#[utoipa::path(
    get,
    path = "/exposures/{mmid}",
    tag = "tracing",
    params(
        ("mmid" = i64, Path, description = "The person's id", minimum = 1, example = 1),
        ExposuresQuery,
        PageQuery,
    ),
    responses(
        (status = 200, description = "The people reached, by `hops` then `mmid`",
         body = ExposuresPage,
         headers(("Link" = String, description = "`<…>; rel=\"next\"` when there is a next page"))),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub async fn exposures(
    State(app): State<AppState>,
    uri: Uri,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let person = person(path)?;
    let query = QueryString::check(raw.as_deref(), &*EXPOSURES_NAMES)?;
    let window: ExposuresQuery = query.read()?;
    let days = params::bounded(
        "days",
        window.days.as_deref(),
        DEFAULT_EXPOSURE_DAYS,
        1..=MAX_EXPOSURE_DAYS,
    )?;
    let depth = params::bounded(
        "depth",
        window.depth.as_deref(),
        DEFAULT_EXPOSURE_DEPTH,
        1..=MAX_EXPOSURE_DEPTH,
    )?;
    let paging = Paging::read(query)?;
    let scope = Scope::new(
        "exposures",
        &[
            &person.get().to_string(),
            &days.to_string(),
            &depth.to_string(),
            &paging.limit.to_string(),
        ],
    );
    let now = Utc::now();
    let (since, after) = match &paging.cursor {
        Some(cursor) => {
            let at = cursor::exposure_position(scope, cursor, now, days, depth)?;
            (at.since, After((at.hops, at.person)))
        }
        None => {
            // `days` is at most 30: this cannot fail.
            let since = cursor::window_start(now, days)
                .ok_or_else(|| Error::parameter("days", "reaches before the first time"))?;
            (since, After((0, 0)))
        }
    };
    let mut reached = app
        .read(store::exposures(
            app.database()?,
            person,
            since,
            depth,
            after,
            paging.limit,
        ))
        .await?;
    let next = paging.split(&mut reached, |last| {
        scope.encode(&[since.timestamp_micros(), i64::from(last.hops), last.person])
    });
    let page = ExposuresPage {
        mmid: person.get(),
        days,
        depth,
        since,
        items: reached
            .into_iter()
            .map(|r| Exposure {
                mmid: r.person,
                hops: r.hops,
                via: r.via,
                contact: r.contact,
            })
            .collect(),
        next_cursor: next.clone(),
    };
    Ok(with_next_link(
        Json(page).into_response(),
        &uri,
        next.as_deref(),
    ))
}

/// Counts of stored contacts by country, by state and by day.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "statistics",
    responses(
        (status = 200, description = "Counts over all stored contacts", body = Stats),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub async fn stats(State(app): State<AppState>, RawQuery(raw): RawQuery) -> Result<Json<Stats>> {
    QueryString::check(raw.as_deref(), &[])?;
    Ok(Json(app.read(store::stats(app.database()?)).await?))
}
