//! Reporting cases: `POST /cases` and `DELETE /cases/{case_id}` emit the
//! events pact-notify acts on (to `K_SINK`), and `GET /cases/{case_id}`
//! reads what pact-notify recorded. A case is one person and one onset
//! date ([`pact_runtime::case::case_id`]): the same report twice is one
//! case, and emits the identical event.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use pact_runtime::case::{self, CASE_REPORTED, CASE_WITHDRAWN, CaseReported, CaseWithdrawn};
use pact_runtime::emit::{OutData, Outgoing};
use pact_runtime::ingest::LimitedRequest;
use pact_runtime::trace::TraceParent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::error::{Error, Result};
use crate::openapi::ErrorResponses;
use crate::store;

/// A case, as health staff report it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseReport {
    /// The person who tested positive.
    #[schema(example = 1477, minimum = 1)]
    pub mmid: i64,
    /// Date of the positive test or of symptom onset (UTC), at most 366
    /// days ago and not in the future.
    #[schema(value_type = String, format = Date, example = "2026-12-05")]
    pub onset: NaiveDate,
    /// The health service's own reference (1 to 100 characters): a
    /// reference, never a name.
    #[schema(example = "lab-2026-114", max_length = 100)]
    pub reference: Option<String>,
}

/// The answer to a report or a withdrawal.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseAccepted {
    /// The case's id: the same for the same person and onset date.
    pub case_id: Uuid,
    /// `reported` or `withdrawn`.
    #[schema(example = "reported")]
    pub status: &'static str,
}

/// A case as pact-notify recorded it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseStatus {
    /// The case's id.
    pub case_id: Uuid,
    /// `reported` (people being found), `notifying`, `notified`, or
    /// `withdrawn`.
    #[schema(example = "notified")]
    pub status: &'static str,
    /// The person, once the report arrived.
    pub mmid: Option<i64>,
    /// The onset date, once the report arrived.
    #[schema(value_type = Option<String>, format = Date)]
    pub onset: Option<NaiveDate>,
    /// People notified (the sink took their notification).
    pub notified: i64,
    /// People still to notify.
    pub pending: i64,
    /// Notifications withdrawn.
    pub withdrawn: i64,
}

/// Reports a case: pact-notify notifies everyone exposed to the person in
/// the infectious window, once. Reporting the same person and onset date
/// again is the same case (202 again, nothing sent twice).
#[utoipa::path(
    post,
    path = "/cases",
    tag = "cases",
    request_body(content = CaseReport, content_type = "application/json"),
    responses(
        (status = 202, description = "The case is on its way to pact-notify", body = CaseAccepted,
         headers(("Location" = String, description = "`/cases/{case_id}`"))),
        (status = 415, description = "The body is not JSON", body = crate::openapi::ProblemDoc,
         content_type = "application/problem+json"),
        (status = 422, description = "A field is not acceptable; `field` names it",
         body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub async fn report(
    State(app): State<AppState>,
    LimitedRequest { headers, body }: LimitedRequest,
) -> Result<Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(pact_runtime::wire::is_json);
    if !is_json {
        return Err(pact_runtime::Error::UnsupportedMediaType(
            "send the case as application/json: {\"mmid\":1,\"onset\":\"2026-12-05\"}".into(),
        )
        .into());
    }
    let report: CaseReport = pact_runtime::wire::from_json(&body)?;
    let person = pact_runtime::contact::PersonId::parse("mmid", report.mmid)?;
    let data = CaseReported {
        case_id: case::case_id(person, report.onset),
        mmid: report.mmid,
        onset: report.onset,
        reference: report.reference,
    };
    data.validate()?;
    let case_id = data.case_id;
    emit(&app, &headers, case_id, case_id, CASE_REPORTED, &data).await?;
    tracing::info!("case reported");
    tracing::debug!(case = %case_id, "case reported");
    Ok(accepted(case_id, "reported"))
}

/// Withdraws a case (a correction): pact-notify tells everyone it notified
/// for it that the notification is withdrawn, and notifies no one more.
#[utoipa::path(
    delete,
    path = "/cases/{case_id}",
    tag = "cases",
    params(("case_id" = Uuid, Path, description = "The case's id")),
    responses(
        (status = 202, description = "The withdrawal is on its way to pact-notify", body = CaseAccepted),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub async fn withdraw(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response> {
    let case_id = case_id(path)?;
    let data = CaseWithdrawn { case_id };
    emit(
        &app,
        &headers,
        case_id,
        case::withdrawal_id(case_id),
        CASE_WITHDRAWN,
        &data,
    )
    .await?;
    tracing::info!("case withdrawn");
    tracing::debug!(case = %case_id, "case withdrawn");
    Ok(accepted(case_id, "withdrawn"))
}

/// What pact-notify did for a case: how many people it notified.
#[utoipa::path(
    get,
    path = "/cases/{case_id}",
    tag = "cases",
    params(("case_id" = Uuid, Path, description = "The case's id")),
    responses(
        (status = 200, description = "The case and its notifications", body = CaseStatus),
        (status = 404, description = "pact-notify has not recorded this case (yet)",
         body = crate::openapi::ProblemDoc, content_type = "application/problem+json"),
        ErrorResponses,
    ),
    security(("bearer" = [])),
)]
pub async fn status(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response> {
    let case_id = case_id(path)?;
    let Some(row) = app
        .read(store::case_status(app.database()?, &case_id.to_string()))
        .await?
    else {
        return Err(Error::NotFound(
            "pact-notify has not recorded this case (yet): a case reported a moment ago may \
             still be on its way"
                .into(),
        ));
    };
    let status = match (&row.withdrawn_at, &row.planned_at, row.pending) {
        (Some(_), _, _) => "withdrawn",
        (None, None, _) => "reported",
        (None, Some(_), 0) => "notified",
        (None, Some(_), _) => "notifying",
    };
    Ok(Json(CaseStatus {
        case_id,
        status,
        mmid: row.mmid,
        onset: row.onset.map(|t| t.date_naive()),
        notified: row.notified,
        pending: row.pending,
        withdrawn: row.withdrawn,
    })
    .into_response())
}

/// A case id from the path, as a 400 naming `case_id` when it is not one.
fn case_id(path: Result<Path<String>, PathRejection>) -> Result<Uuid> {
    let parsed = path.ok().and_then(|Path(raw)| raw.parse::<Uuid>().ok());
    parsed.ok_or_else(|| Error::parameter("case_id", "must be a case id (a UUID)"))
}

/// Emits one case event to `K_SINK`; 503 when there is none (a reply
/// would go back to the browser, not to pact-notify).
async fn emit(
    app: &AppState,
    headers: &axum::http::HeaderMap,
    case_id: Uuid,
    id: Uuid,
    event_type: &'static str,
    data: &impl Serialize,
) -> Result<()> {
    let emitter = app.emitter();
    if !emitter.has_sink() {
        return Err(pact_runtime::Error::Unavailable {
            detail: "reporting cases needs K_SINK (pact-query's SinkBinding, or the variable): \
                     it is not set"
                .into(),
            retry_after: std::time::Duration::from_secs(30),
        }
        .into());
    }
    let data = serde_json::to_vec(data)
        .map_err(|e| pact_runtime::Error::bug("could not encode a case event", e))?;
    let event = emitter.build(Outgoing {
        id: id.to_string(),
        event_type,
        time: Utc::now(),
        // A case's report and withdrawal on one partition, in order.
        partition_key: Some(case_id.to_string()),
        traceparent: headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(TraceParent::parse),
        data: OutData::Json(data),
    })?;
    emitter.emit(vec![event]).await?;
    Ok(())
}

/// 202 with the case id, and where to follow it.
fn accepted(case_id: Uuid, status: &'static str) -> Response {
    let mut response =
        (StatusCode::ACCEPTED, Json(CaseAccepted { case_id, status })).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/cases/{case_id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}
