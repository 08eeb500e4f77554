//! The end-to-end probe: a few contacts with keys of this run posted to
//! pact-producer's `POST /contacts`, then read back from pact-query until
//! all are there (the end-to-end latency) or `--arrival-timeout` ends.

use std::time::Duration;

use pact_runtime::wire::UntranslatedData;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::time::Instant;

use super::token::query_token;
use super::{Args, CheckError, PRODUCER, QUERY, base};

/// One contact of this run, as `POST /contacts` takes it.
#[derive(Debug, Clone, serde::Serialize)]
struct Probe {
    id: String,
    #[serde(flatten)]
    contact: UntranslatedData,
}

/// `n` contacts between persons no one else uses (a random block of ids
/// above 10^12), in Minneapolis a minute ago, keyed by this run.
fn probes(n: u16) -> Vec<Probe> {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let base = 1_000_000_000_000 + i64::from(rand::random::<u32>()) * 256;
    let observed_at = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    (0..i64::from(n))
        .map(|i| Probe {
            id: format!("pact-check-cluster-{run}-{i}"),
            contact: UntranslatedData {
                mmid1: base + 2 * i,
                mmid2: base + 2 * i + 1,
                lat: 44.9778 + i as f64 * 0.0001,
                lon: -93.265,
                observed_at: Some(observed_at.clone()),
            },
        })
        .collect()
}

/// The producer's event id for a probe (DESIGN.md section 3: its key and
/// the contact as sent), for a 202 that did not list them.
fn producer_event_id(probe: &Probe) -> Result<String, CheckError> {
    let contact = probe
        .contact
        .clone()
        .into_contact(None, chrono::Utc::now())
        .map_err(|e| CheckError::Http(format!("a probe contact is invalid: {e}")))?;
    Ok(pact_runtime::identity::of_contact(
        &probe.id, &contact, true,
    ))
}

/// `timeout`, or less when `deadline` comes sooner (never under 100 ms).
fn within(timeout: Duration, deadline: Instant) -> Duration {
    timeout.min(
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(100)),
    )
}

/// Most missing contacts named in a line.
const MISSING_SHOWN: usize = 5;

/// Sends the probes and reads them back; the line tells the latency.
pub(super) async fn check_contacts(
    args: &Args,
    producer: Option<&str>,
    query: Option<&str>,
) -> Result<String, CheckError> {
    let producer = producer.ok_or(CheckError::NoUrl {
        service: PRODUCER,
        flag: "--producer-url",
    })?;
    let query = query.ok_or(CheckError::NoUrl {
        service: QUERY,
        flag: "--query-url",
    })?;
    let (token, token_source) = query_token(args)?;
    let client = reqwest::Client::builder()
        .timeout(args.request_timeout)
        .build()
        .map_err(|e| CheckError::Http(format!("cannot make an HTTP client: {e}")))?;
    let deadline = Instant::now() + args.arrival_timeout;
    let probes = probes(args.contacts);
    let target = format!("{}/contacts", base(producer));
    let (sent_at, accepted) =
        send_probes(&client, &target, &probes, args.request_timeout, deadline).await?;
    // A row's event_id is pact-translation's id for the producer's event.
    let stored: Vec<String> = accepted
        .iter()
        .map(|id| pact_runtime::identity::of_event(pact_producer::SOURCE, id))
        .collect();
    tracing::debug!(?stored, "event ids the rows should get");

    let mut arrived: Vec<Option<Duration>> = vec![None; probes.len()];
    let mut last = String::new();
    loop {
        for (probe, seen) in probes.iter().zip(arrived.iter_mut()) {
            if seen.is_some() {
                continue;
            }
            let url = format!("{}/contacts/{}", base(query), probe.contact.mmid1);
            let mut request = client
                .get(&url)
                .timeout(within(args.request_timeout, deadline));
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            match read_back(request, &url, probe.contact.mmid2).await {
                Ok(true) => *seen = Some(sent_at.elapsed()),
                Ok(false) => last.clear(),
                Err(Answer::Refused(text)) => {
                    return Err(CheckError::Http(format!(
                        "pact-query ({query}) cannot be read with {token_source}: {text}"
                    )));
                }
                Err(Answer::Retry(text)) => last = text,
            }
        }
        let done: Vec<Duration> = arrived.iter().flatten().copied().collect();
        if done.len() == probes.len() {
            let slowest = done.iter().max().copied().unwrap_or_default();
            let first = done.iter().min().copied().unwrap_or_default();
            return Ok(format!(
                "{n} of {n} contacts sent to {target} read back from pact-query ({query}) {slowest:.1?} after sending (end-to-end latency; first {first:.1?})",
                n = probes.len()
            ));
        }
        if Instant::now() >= deadline {
            return Err(CheckError::NotArrived {
                arrived: done.len(),
                sent: probes.len(),
                route: format!("sent to {target} were in pact-query ({query})"),
                waited: args.arrival_timeout,
                missing: missing(&probes, &arrived),
                last: if last.is_empty() {
                    String::new()
                } else {
                    format!("; last answer: {last}")
                },
            });
        }
        tokio::time::sleep(
            Duration::from_millis(250).min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
    }
}

/// The persons of the probes not seen yet, `mmid1-mmid2`, at most
/// [`MISSING_SHOWN`] of them and how many more.
fn missing(probes: &[Probe], arrived: &[Option<Duration>]) -> String {
    let mut missing: Vec<String> = probes
        .iter()
        .zip(arrived)
        .filter(|(_, seen)| seen.is_none())
        .map(|(p, _)| format!("{}-{}", p.contact.mmid1, p.contact.mmid2))
        .collect();
    if missing.len() > MISSING_SHOWN {
        let more = missing.len() - MISSING_SHOWN;
        missing.truncate(MISSING_SHOWN);
        missing.push(format!("and {more} more"));
    }
    missing.join(", ")
}

/// Posts the probes until pact-producer accepts them (a cold start answers
/// 502-504 or not at all for a while): when, and the producer's event ids.
async fn send_probes(
    client: &reqwest::Client,
    target: &str,
    probes: &[Probe],
    timeout: Duration,
    deadline: Instant,
) -> Result<(Instant, Vec<String>), CheckError> {
    loop {
        let started = Instant::now();
        let request = client
            .post(target)
            .json(probes)
            .timeout(within(timeout, deadline));
        let failure = match request.send().await {
            Ok(response) if response.status() == StatusCode::ACCEPTED => {
                let body: Value = response.json().await.unwrap_or_default();
                let derived: Vec<String> = probes
                    .iter()
                    .map(producer_event_id)
                    .collect::<Result<_, _>>()?;
                let Some(accepted) = body["accepted"].as_array() else {
                    return Ok((started, derived));
                };
                let ids: Vec<String> = accepted
                    .iter()
                    .map(|id| id.as_str().unwrap_or_default().to_owned())
                    .collect();
                if ids != derived {
                    tracing::warn!(
                        ?ids,
                        ?derived,
                        "pact-producer's event ids are not those DESIGN.md section 3 derives: an older version?"
                    );
                }
                return Ok((started, ids));
            }
            Ok(response) => {
                let status = response.status();
                let body = response.bytes().await.unwrap_or_default();
                let text = crate::traffic::problem_text(status, &body);
                if !matches!(status.as_u16(), 429 | 502..=504) {
                    return Err(CheckError::Http(format!(
                        "pact-producer refused the contacts (POST {target}): {text}"
                    )));
                }
                text
            }
            Err(e) => {
                let text = connect_hint(target, &e);
                if hopeless(target, &text) {
                    return Err(CheckError::Http(format!(
                        "pact-producer cannot be reached (POST {target}): {text}"
                    )));
                }
                text
            }
        };
        if Instant::now() >= deadline {
            return Err(CheckError::Http(format!(
                "pact-producer did not accept the contacts (POST {target}) within --arrival-timeout: {failure}"
            )));
        }
        tracing::debug!(%failure, "pact-producer not ready yet, retrying");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A request that got no answer, with a hint when the host is a
/// cluster-local name (reachable only from inside the cluster).
fn connect_hint(url: &str, error: &reqwest::Error) -> String {
    let text = pact_runtime::error::chain(error);
    if cluster_local(url) {
        format!(
            "{text} ({url} is cluster-local: run pact check-cluster in a pod of the cluster, or give a URL reachable from here)"
        )
    } else {
        text
    }
}

/// Whether a request that got no answer will get none however long one
/// waits: a certificate not trusted here, or a cluster-local name that does
/// not resolve here.
fn hopeless(url: &str, error: &str) -> bool {
    error.contains("certificate") || (cluster_local(url) && error.contains("dns error"))
}

/// Whether the URL's host is a Kubernetes Service name (`*.svc`,
/// `*.svc.cluster.local`), which only resolves inside the cluster.
fn cluster_local(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| {
        u.host_str()
            .is_some_and(|h| h.ends_with(".svc.cluster.local") || h.ends_with(".svc"))
    })
}

/// What pact-query said, when it was not a page of contacts.
enum Answer {
    /// Try again later (no answer, 5xx while it starts).
    Retry(String),
    /// Trying again cannot help (401, 403, 400…).
    Refused(String),
}

/// Whether pact-query's page at `url` (the request to it) shows the contact
/// with `mmid2` yet.
async fn read_back(
    request: reqwest::RequestBuilder,
    url: &str,
    mmid2: i64,
) -> Result<bool, Answer> {
    let response = request.send().await.map_err(|e| {
        let text = format!("GET {url}: {}", connect_hint(url, &e));
        if hopeless(url, &text) {
            Answer::Refused(text)
        } else {
            Answer::Retry(text)
        }
    })?;
    let status = response.status();
    if status != StatusCode::OK {
        let body = response.bytes().await.unwrap_or_default();
        let text = format!("GET {url}: {}", crate::traffic::problem_text(status, &body));
        return Err(
            if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
                Answer::Retry(text)
            } else {
                Answer::Refused(text)
            },
        );
    }
    let page: Value = response
        .json()
        .await
        .map_err(|e| Answer::Retry(format!("GET {url}: not a page of contacts: {e}")))?;
    Ok(page["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|item| item["mmid2"] == mmid2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_that_waiting_cannot_mend_end_the_retries() {
        let local = "http://pact-producer.pact.svc.cluster.local/contacts";
        let public = "http://pact-producer.pact.127.0.0.1.sslip.io/contacts";
        let dns = "client error (Connect): dns error: failed to lookup address information";
        assert!(hopeless(local, dns));
        assert!(!hopeless(public, dns), "a public name may appear later");
        assert!(!hopeless(local, "tcp connect error: Connection refused"));
        assert!(hopeless(public, "invalid peer certificate: UnknownIssuer"));
    }

    #[test]
    fn probes_are_valid_contacts_with_keys_of_their_own() {
        let a = probes(3);
        let b = probes(3);
        assert_ne!(a[0].id, b[0].id);
        let ids: Vec<String> = a
            .iter()
            .map(|p| producer_event_id(p).expect("valid"))
            .collect();
        assert_eq!(ids.len(), 3);
        assert!(ids[0] != ids[1] && ids[1] != ids[2]);
    }

    #[test]
    fn the_missing_persons_named_are_at_most_five() {
        let probes = probes(7);
        let mut arrived = vec![None; 7];
        arrived[1] = Some(Duration::from_secs(1));
        let named = |p: &Probe| format!("{}-{}", p.contact.mmid1, p.contact.mmid2);
        let line = missing(&probes, &arrived);
        assert_eq!(
            line,
            format!(
                "{}, {}, {}, {}, {}, and 1 more",
                named(&probes[0]),
                named(&probes[2]),
                named(&probes[3]),
                named(&probes[4]),
                named(&probes[5])
            )
        );
        arrived = vec![Some(Duration::from_secs(1)); 7];
        arrived[6] = None;
        assert_eq!(missing(&probes, &arrived), named(&probes[6]));
    }
}
