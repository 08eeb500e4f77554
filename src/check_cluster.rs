//! `pact check-cluster`: what a user runs after deploying PACT (the
//! `knative/` overlays) to a real cluster, to see that it works.
//!
//! 1. Resources: every Knative Service, KafkaSource, KafkaSink, SinkBinding,
//!    PingSource and (when installed) ContainerSource in the namespace is
//!    Ready, each not-Ready one with the conditions that say why, and every
//!    object `knative/base` creates is there ([`KINDS`]).
//! 2. Contacts: a few contacts with keys of this run go to pact-producer's
//!    `POST /contacts` and are read back from pact-query, the end-to-end
//!    latency measured.
//! 3. Burst: `pact burst --watch` (this binary, run as a child) shows
//!    pact-producer scale up under load and back to zero.
//!
//! One line per check, `PASS`, `FAIL` or `SKIP`; exit 0 only when nothing
//! failed. Every wait is bounded by a flag with a default.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client, ResourceExt};
use pact_runtime::wire::UntranslatedData;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::time::Instant;

use crate::burst::watch::{self, WatchArgs, describe};
use crate::topology::{Stage, TOPOLOGY, Topology};

/// Arguments of `pact check-cluster`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  pact check-cluster                         namespace pact, current kubeconfig context
  pact check-cluster --skip-burst            resources and contacts only (about a minute at most)
  pact check-cluster --producer-url http://127.0.0.1:8080 --query-token-file token.txt

Checks, one line each: every Knative Service, KafkaSource, KafkaSink,
SinkBinding, PingSource and ContainerSource in the namespace is Ready (else
its non-True conditions), no object of knative/base is missing; contacts sent
to pact-producer's POST /contacts come back from pact-query (end-to-end
latency); `pact burst --watch` sees pact-producer scale up and back to zero.

Exit code: 0 when every check passed (or was skipped), 1 when one failed,
2 for a usage error.")]
pub struct Args {
    /// Namespace PACT is deployed in.
    #[arg(long, short = 'n', default_value = "pact")]
    pub namespace: String,
    /// kubeconfig context [default: the current one]; in a pod, the
    /// in-cluster config is used.
    #[arg(long)]
    pub context: Option<String>,
    /// kubeconfig file [default: $KUBECONFIG, else ~/.kube/config, else the
    /// in-cluster config].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// pact-producer's base URL [default: its Knative Service's status.url].
    #[arg(long, value_name = "URL", help_heading = "Contacts")]
    pub producer_url: Option<String>,
    /// pact-query's base URL [default: its Knative Service's status.url].
    #[arg(long, value_name = "URL", help_heading = "Contacts")]
    pub query_url: Option<String>,
    /// File holding pact-query's bearer token [default:
    /// ${XDG_STATE_HOME:-$HOME/.local/state}/pact/query-token, which
    /// scripts/kind-up.sh writes; no token when that file does not exist].
    #[arg(long, value_name = "FILE", help_heading = "Contacts")]
    pub query_token_file: Option<PathBuf>,
    /// Contacts to send (1 to 100).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100), help_heading = "Contacts")]
    pub contacts: u16,
    /// How long the contacts may take to be accepted and read back (a
    /// function cold-starting included).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration, help_heading = "Contacts")]
    pub arrival_timeout: Duration,
    /// Give up on one HTTP request after this long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, help_heading = "Contacts")]
    pub request_timeout: Duration,
    /// Do not send contacts.
    #[arg(long, help_heading = "Contacts")]
    pub skip_contacts: bool,
    /// Do not run the burst.
    #[arg(long, help_heading = "Burst")]
    pub skip_burst: bool,
    /// How long the burst sends load to pact-producer.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration, help_heading = "Burst")]
    pub burst_duration: Duration,
    /// Requests in flight at once during the burst (pact-producer's
    /// autoscaling target is 100 per pod).
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u16).range(1..=4096), help_heading = "Burst")]
    pub burst_concurrency: u16,
    /// After the load, how long to wait at most for every service to be back
    /// to zero pods (Knative's default is 60 s without traffic plus a grace
    /// period).
    #[arg(long, default_value = "3m", value_parser = humantime::parse_duration, help_heading = "Burst")]
    pub burst_settle: Duration,
    /// Where the burst writes its chart (SVG) [default: pact-burst.svg].
    #[arg(long, value_name = "FILE", help_heading = "Burst")]
    pub chart: Option<PathBuf>,
}

/// One kind of Knative object checked, read as a dynamic object.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    /// The kind (`KafkaSink`).
    pub kind: &'static str,
    /// API group.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Plural, as the API paths name it.
    pub plural: &'static str,
    /// The objects of this kind `knative/base` creates, named from the
    /// pipeline's topology (pipeline.toml).
    pub expected: fn(&Topology) -> Vec<String>,
    /// Only some overlays create one (the demo's ContainerSource): none, or
    /// the CRD not installed, is not a failure.
    pub optional: bool,
}

impl Kind {
    fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.to_owned(),
            version: self.version.to_owned(),
            api_version: format!("{}/{}", self.group, self.version),
            kind: self.kind.to_owned(),
            plural: self.plural.to_owned(),
        }
    }

    /// `kafkasinks.eventing.knative.dev`, as RBAC and kubectl name it.
    fn resource_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }

    /// What installs the kind's CRD.
    fn installed_by(&self) -> &'static str {
        match self.kind {
            "Service" => "Knative Serving",
            "KafkaSource" | "KafkaSink" => {
                "Knative Eventing's Kafka source and sink (eventing-kafka-broker)"
            }
            _ => "Knative Eventing",
        }
    }

    /// `ksvc`, `kafkasink`…: what a line starts with.
    fn short(&self) -> &'static str {
        match self.kind {
            "Service" => "ksvc",
            "KafkaSource" => "kafkasource",
            "KafkaSink" => "kafkasink",
            "SinkBinding" => "sinkbinding",
            "PingSource" => "pingsource",
            _ => "containersource",
        }
    }
}

/// Every kind checked, with the names `knative/base/*.yaml` gives them,
/// derived from pipeline.toml (a unit test reads those files, so the two
/// cannot drift apart).
pub const KINDS: [Kind; 6] = [
    Kind {
        kind: "Service",
        group: "serving.knative.dev",
        version: "v1",
        plural: "services",
        expected: |t| t.functions.iter().map(Stage::service).collect(),
        optional: false,
    },
    Kind {
        kind: "KafkaSource",
        group: "sources.knative.dev",
        version: "v1",
        plural: "kafkasources",
        // Named after the topic each reads.
        expected: |t| t.functions.iter().filter_map(|f| f.reads.clone()).collect(),
        optional: false,
    },
    Kind {
        kind: "KafkaSink",
        group: "eventing.knative.dev",
        version: "v1alpha1",
        plural: "kafkasinks",
        expected: |t| t.all_topics().into_iter().map(str::to_owned).collect(),
        optional: false,
    },
    Kind {
        kind: "SinkBinding",
        group: "sources.knative.dev",
        version: "v1",
        plural: "sinkbindings",
        expected: |t| t.functions.iter().filter_map(Stage::sink_binding).collect(),
        optional: false,
    },
    Kind {
        kind: "PingSource",
        group: "sources.knative.dev",
        version: "v1",
        plural: "pingsources",
        expected: |t| {
            t.functions
                .iter()
                .filter_map(|f| f.ping_source.clone())
                .collect()
        },
        optional: false,
    },
    Kind {
        kind: "ContainerSource",
        group: "sources.knative.dev",
        version: "v1",
        plural: "containersources",
        expected: |_| Vec::new(),
        optional: true,
    },
];

const PRODUCER: &str = "pact-producer";
const QUERY: &str = "pact-query";

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// The lines printed so far, counted.
#[derive(Debug, Default)]
struct Report {
    counts: BTreeMap<&'static str, usize>,
}

impl Report {
    /// Prints one check's line at once (a long check shows what is done).
    fn line(&mut self, outcome: Outcome, what: &str, detail: &str) {
        let word = match outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        };
        *self.counts.entry(word).or_default() += 1;
        println!("{word}  {what}: {detail}");
    }

    fn result<E: std::fmt::Display>(&mut self, what: &str, result: Result<String, E>) {
        match result {
            Ok(detail) => self.line(Outcome::Pass, what, &detail),
            Err(e) => self.line(Outcome::Fail, what, &e.to_string()),
        }
    }

    fn count(&self, word: &str) -> usize {
        self.counts.get(word).copied().unwrap_or_default()
    }
}

/// Why a check failed; the text is the rest of its `FAIL` line.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// No way to talk to the Kubernetes API.
    #[error("{0}")]
    Kubernetes(String),
    /// A list of one kind failed.
    #[error("{0}")]
    List(String),
    /// No URL for a function.
    #[error(
        "no URL for {service}: its Knative Service has no status.url (missing or not Ready, see above); give {flag}"
    )]
    NoUrl {
        /// The Knative Service.
        service: &'static str,
        /// The flag that gives it.
        flag: &'static str,
    },
    /// The token file named could not be read.
    #[error("cannot read the query token {path}: {reason}")]
    Token {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A function refused what was sent, or could not be reached in time.
    #[error("{0}")]
    Http(String),
    /// Not every contact came back in time.
    #[error(
        "{arrived} of {sent} contacts {route} after {waited:.0?} (--arrival-timeout); missing the contacts of persons {missing}{last}"
    )]
    NotArrived {
        /// Seen in pact-query.
        arrived: usize,
        /// Accepted by pact-producer.
        sent: usize,
        /// `sent to <producer> were in pact-query (<query>)`.
        route: String,
        /// How long.
        waited: Duration,
        /// `7-8, 9-10`.
        missing: String,
        /// `; last answer: …` when pact-query did not answer 200.
        last: String,
    },
    /// The burst did not run, or did not show the scaling.
    #[error("{0}")]
    Burst(String),
}

/// Runs `pact check-cluster`; the exit codes are in the help text.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Details (each retry, each poll) with PACT_LOG=debug, on stderr.
    let filter = tracing_subscriber::EnvFilter::try_from_env("PACT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let mut report = Report::default();
    let watch_args = WatchArgs {
        namespace: Some(args.namespace.clone()),
        context: args.context.clone(),
        kubeconfig: args.kubeconfig.clone(),
        ..WatchArgs::default()
    };
    let mut urls = BTreeMap::new();
    let kube_ok = match connect(&watch_args).await {
        Ok((client, server, source)) => {
            println!(
                "pact check-cluster: namespace {:?} at {server} ({source})",
                args.namespace
            );
            check_resources(&client, &args.namespace, &server, &mut report, &mut urls).await
        }
        Err(e) => {
            report.result::<CheckError>("kubernetes", Err(e));
            false
        }
    };
    // A flag wins over the Knative Service's address.
    let producer = args
        .producer_url
        .clone()
        .or_else(|| urls.get(PRODUCER).cloned());
    let query = args.query_url.clone().or_else(|| urls.get(QUERY).cloned());

    // The burst first: on an idle cluster it sees pact-producer scale from
    // zero (the contacts would wake it), and it waits until every service is
    // back to zero, so the contacts then measure the latency cold starts
    // included.
    if args.skip_burst {
        report.line(Outcome::Skip, "burst", "--skip-burst");
    } else if !kube_ok {
        report.line(
            Outcome::Fail,
            "burst",
            "not run: it watches pods through the Kubernetes API, which failed above",
        );
    } else {
        let result = match producer.as_deref() {
            Some(url) => check_burst(&args, url).await,
            None => Err(CheckError::NoUrl {
                service: PRODUCER,
                flag: "--producer-url",
            }),
        };
        report.result("burst", result);
    }

    if args.skip_contacts {
        report.line(Outcome::Skip, "contacts", "--skip-contacts");
    } else {
        let result = check_contacts(&args, producer.as_deref(), query.as_deref()).await;
        report.result("contacts", result);
    }

    let failed = report.count("FAIL");
    println!(
        "pact check-cluster: {} passed, {failed} failed, {} skipped",
        report.count("PASS"),
        report.count("SKIP")
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A client as `pact burst --watch` makes one, the API server's URL and
/// where the configuration came from.
async fn connect(args: &WatchArgs) -> Result<(Client, String, String), CheckError> {
    let (config, source) = watch::client_config(args)
        .await
        .map_err(|e| CheckError::Kubernetes(format!("{e:#}")))?;
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| {
        CheckError::Kubernetes(format!(
            "cannot make a Kubernetes client for {server} ({source}): {}",
            describe(&e)
        ))
    })?;
    Ok((client, server, source))
}

/// One line per object of every kind, one per expected object missing.
/// Returns false when the API could not be used at all (the lines say why).
async fn check_resources(
    client: &Client,
    namespace: &str,
    server: &str,
    report: &mut Report,
    urls: &mut BTreeMap<String, String>,
) -> bool {
    for kind in &KINDS {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &kind.api_resource());
        let listed = match tokio::time::timeout(LIST_TIMEOUT, api.list(&ListParams::default()))
            .await
        {
            Err(_) => {
                report.line(
                    Outcome::Fail,
                    &kind.resource_name(),
                    &format!(
                        "the Kubernetes API at {server} did not answer a list within {LIST_TIMEOUT:?}"
                    ),
                );
                return false;
            }
            Ok(Ok(listed)) => listed.items,
            Ok(Err(kube::Error::Api(status))) if status.code == 404 && kind.optional => {
                report.line(
                    Outcome::Skip,
                    kind.short(),
                    &format!("{} is not installed", kind.resource_name()),
                );
                continue;
            }
            Ok(Err(e)) => {
                // Refused credentials, like no answer, fail every kind.
                let reachable = matches!(&e, kube::Error::Api(status) if status.code != 401);
                let error = explain_list_error(&e, kind, namespace, server);
                report.result::<CheckError>(&kind.resource_name(), Err(error));
                if reachable {
                    continue;
                }
                // Every other kind would fail the same way.
                return false;
            }
        };
        if listed.is_empty() && kind.optional {
            report.line(
                Outcome::Skip,
                kind.short(),
                &format!("none in namespace {namespace:?}"),
            );
        }
        for object in &listed {
            let name = object.name_any();
            let what = format!("{} {name}", kind.short());
            let url = object.data["status"]["url"].as_str();
            if kind.kind == "Service"
                && let Some(url) = url
            {
                urls.insert(name.clone(), url.to_owned());
            }
            let ready = readiness(&object.data).map(|()| match url {
                Some(url) => format!("Ready ({url})"),
                None => {
                    let status = &object.data["status"];
                    match (
                        status["sinkUri"].as_str(),
                        status["address"]["url"].as_str(),
                    ) {
                        (Some(sink), _) => format!("Ready (sink {sink})"),
                        (None, Some(address)) => format!("Ready (address {address})"),
                        (None, None) => "Ready".to_owned(),
                    }
                }
            });
            report.result(&what, ready.map_err(|why| format!("not Ready: {why}")));
        }
        for name in (kind.expected)(&TOPOLOGY) {
            if !listed.iter().any(|o| o.name_any() == name) {
                report.line(
                    Outcome::Fail,
                    &format!("{} {name}", kind.short()),
                    &format!(
                        "missing from namespace {namespace:?} (knative/base creates it: kubectl apply -k knative/overlays/<overlay>)"
                    ),
                );
            }
        }
    }
    true
}

/// Every resource the check reads, as `kubectl create role --resource`
/// takes them: the kinds checked, and the pods and revisions the burst
/// watches.
fn rbac_resources() -> String {
    let mut all: Vec<String> = KINDS.iter().map(Kind::resource_name).collect();
    all.extend([
        "revisions.serving.knative.dev".to_owned(),
        "pods".to_owned(),
    ]);
    all.join(",")
}

/// How long one list of the Kubernetes API may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(30);

/// A list refused or failed, in one line that says what to do.
fn explain_list_error(
    error: &kube::Error,
    kind: &Kind,
    namespace: &str,
    server: &str,
) -> CheckError {
    let resource = kind.resource_name();
    let text = match error {
        kube::Error::Api(status) if status.code == 403 => format!(
            "403 Forbidden: the Kubernetes API refused to list {resource} in namespace {namespace:?} ({}); \
             pact check-cluster needs \"list\" on it, and \"list\", \"watch\" on pods and revisions for the burst: \
             kubectl -n {namespace} create role pact-check-cluster --verb=list,watch --resource={} \
             && kubectl -n {namespace} create rolebinding pact-check-cluster --role=pact-check-cluster --user=YOU \
             (docs/check-cluster.md)",
            status.message,
            rbac_resources(),
        ),
        kube::Error::Api(status) if status.code == 401 => format!(
            "401 Unauthorized: the Kubernetes API at {server} rejected the credentials ({}); log in again or refresh the token",
            status.message
        ),
        kube::Error::Api(status) if status.code == 404 => format!(
            "404 Not Found: {resource} is not served by the API at {server}: is {} installed?",
            kind.installed_by()
        ),
        kube::Error::Api(status) => format!(
            "{} {}: listing {resource} in namespace {namespace:?} failed: {}",
            status.code, status.reason, status.message
        ),
        other => format!(
            "cannot reach the Kubernetes API at {server}: {}",
            describe(other)
        ),
    };
    CheckError::List(text)
}

/// Ok when the object's `Ready` condition is `True` for its current
/// generation; else why not, from every condition that is not `True`.
pub fn readiness(object: &Value) -> Result<(), String> {
    let status = &object["status"];
    let generation = object["metadata"]["generation"].as_i64();
    let observed = status["observedGeneration"].as_i64();
    if let (Some(generation), Some(observed)) = (generation, observed)
        && observed < generation
    {
        return Err(format!(
            "its status is for generation {observed}, its spec is at {generation} (not reconciled yet)"
        ));
    }
    let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let field = |c: &Value, name: &str| c[name].as_str().unwrap_or_default().to_owned();
    let ready = conditions.iter().find(|c| c["type"] == "Ready");
    match ready {
        None => Err(
            "no Ready condition in its status (not reconciled: is its controller running?)"
                .to_owned(),
        ),
        Some(c) if c["status"] == "True" => Ok(()),
        Some(_) => Err(conditions
            .iter()
            .filter(|c| c["status"] != "True")
            .map(|c| {
                let mut text = format!("{}={}", field(c, "type"), field(c, "status"));
                let (reason, message) = (field(c, "reason"), field(c, "message"));
                match (reason.is_empty(), message.is_empty()) {
                    (true, true) => {}
                    (false, true) => text.push_str(&format!(" ({reason})")),
                    (true, false) => text.push_str(&format!(" ({message})")),
                    (false, false) => text.push_str(&format!(" ({reason}: {message})")),
                }
                text
            })
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// Where scripts/kind-up.sh writes pact-query's token.
pub fn default_token_file() -> Option<PathBuf> {
    let state = match std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        Some(state) => PathBuf::from(state),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    Some(state.join("pact/query-token"))
}

/// The bearer token (none when the default file does not exist) and where
/// it came from, for messages.
fn query_token(args: &Args) -> Result<(Option<String>, String), CheckError> {
    let (path, explicit) = match &args.query_token_file {
        Some(path) => (path.clone(), true),
        None => match default_token_file() {
            Some(path) => (path, false),
            None => return Ok((None, "no --query-token-file".to_owned())),
        },
    };
    let shown = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = text.trim().to_owned();
            if token.is_empty() {
                return Err(CheckError::Token {
                    path: shown,
                    reason: "it is empty".to_owned(),
                });
            }
            Ok((Some(token), format!("the token in {shown}")))
        }
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => Ok((
            None,
            format!("no token ({shown} does not exist; give --query-token-file)"),
        )),
        Err(e) => Err(CheckError::Token {
            path: shown,
            reason: e.to_string(),
        }),
    }
}

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

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
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
async fn check_contacts(
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
            let mut missing: Vec<String> = probes
                .iter()
                .zip(&arrived)
                .filter(|(_, seen)| seen.is_none())
                .map(|(p, _)| format!("{}-{}", p.contact.mmid1, p.contact.mmid2))
                .collect();
            if missing.len() > MISSING_SHOWN {
                let more = missing.len() - MISSING_SHOWN;
                missing.truncate(MISSING_SHOWN);
                missing.push(format!("and {more} more"));
            }
            return Err(CheckError::NotArrived {
                arrived: done.len(),
                sent: probes.len(),
                route: format!("sent to {target} were in pact-query ({query})"),
                waited: args.arrival_timeout,
                missing: missing.join(", "),
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

/// How much longer than `--burst-duration` + `--burst-settle` the child may
/// take (its start, the first lists, the chart) before it is stopped.
const BURST_SLACK: Duration = Duration::from_secs(60);

/// `pact burst --watch` against pact-producer, as a child process of this
/// binary; passes when pact-producer was seen ready and then back to zero.
async fn check_burst(args: &Args, producer: &str) -> Result<String, CheckError> {
    let exe = std::env::current_exe().map_err(|e| {
        CheckError::Burst(format!("cannot find this program to run pact burst: {e}"))
    })?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("burst")
        .arg("--watch")
        .args(["--namespace", &args.namespace])
        .args([
            "--duration",
            &humantime::format_duration(args.burst_duration).to_string(),
        ])
        .args(["--concurrency", &args.burst_concurrency.to_string()])
        .args([
            "--settle",
            &humantime::format_duration(args.burst_settle).to_string(),
        ])
        .arg("--json")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(path) = &args.kubeconfig {
        command.arg("--kubeconfig").arg(path);
    }
    if let Some(context) = &args.context {
        command.args(["--context", context]);
    }
    if let Some(chart) = &args.chart {
        command.arg("--chart").arg(chart);
    }
    command.arg(format!("{}/contacts", base(producer)));
    let limit = args.burst_duration + args.burst_settle + BURST_SLACK;
    eprintln!(
        "pact check-cluster: pact burst --watch: {} of load, then up to {} until every service is back to zero",
        humantime::format_duration(args.burst_duration),
        humantime::format_duration(args.burst_settle)
    );
    let child = command
        .spawn()
        .map_err(|e| CheckError::Burst(format!("cannot start pact burst: {e}")))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| {
            CheckError::Burst(format!("pact burst did not end within {limit:?}; stopped"))
        })?
        .map_err(|e| CheckError::Burst(format!("pact burst: {e}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let Ok(result) = serde_json::from_slice::<Value>(&output.stdout) else {
        return Err(CheckError::Burst(format!(
            "pact burst failed ({}): {said}",
            output.status
        )));
    };
    judge_burst(&result, args)
}

/// `pact-producer 0 → 3 → 0 (…)` from `pact burst --json`'s report.
fn judge_burst(result: &Value, args: &Args) -> Result<String, CheckError> {
    let scaling = result["watch"]["scaling"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let shape = |s: &Value| {
        let to_zero = if s["to_zero_s"].is_number() {
            "0"
        } else {
            "not 0"
        };
        format!(
            "{} {} → {} → {to_zero}",
            s["service"].as_str().unwrap_or_default(),
            s["ready_at_start"],
            s["peak_ready"]
        )
    };
    let others: Vec<String> = scaling
        .iter()
        .filter(|s| s["service"] != PRODUCER)
        .map(shape)
        .collect();
    let others = if others.is_empty() {
        String::new()
    } else {
        format!("; also {}", others.join(", "))
    };
    let chart = result["watch"]["chart"]
        .as_str()
        .map(|c| format!("; chart {c}"))
        .unwrap_or_default();
    let load = format!(
        "{} requests, {} answered 2xx",
        result["requests"], result["ok"]
    );
    let Some(producer) = scaling.iter().find(|s| s["service"] == PRODUCER) else {
        return Err(CheckError::Burst(format!(
            "no pod of {PRODUCER} was seen during the burst ({load}){others}"
        )));
    };
    let shape = shape(producer);
    if producer["peak_ready"].as_u64().unwrap_or_default() == 0 {
        return Err(CheckError::Burst(format!(
            "{shape}: no pod of {PRODUCER} became ready under load ({load}){others}"
        )));
    }
    let Some(to_zero) = producer["to_zero_s"].as_f64() else {
        return Err(CheckError::Burst(format!(
            "{shape}: not back to zero within --burst-settle {} ({load}){others}",
            humantime::format_duration(args.burst_settle)
        )));
    };
    if result["ok"] != result["requests"] {
        let problems = result["problems"].to_string();
        return Err(CheckError::Burst(format!(
            "{shape}, but not every request was answered 2xx ({load}; {problems}){others}"
        )));
    }
    let up = producer["scale_up_delay_s"]
        .as_f64()
        .map(|d| format!("scale-up after {d:.1} s, "))
        .unwrap_or_default();
    Ok(format!(
        "{shape} ({up}back to zero {to_zero:.0} s after the load; {load}){others}{chart}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ready_objects_pass_and_others_say_why() {
        let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(readiness(&ready), Ok(()));
        let failed = json!({"status": {"conditions": [
            {"type": "ConfigurationsReady", "status": "False", "reason": "RevisionFailed", "message": "probe port 0"},
            {"type": "Ready", "status": "Unknown", "reason": "Pending"},
            {"type": "RoutesReady", "status": "True"}
        ]}});
        assert_eq!(
            readiness(&failed),
            Err(
                "ConfigurationsReady=False (RevisionFailed: probe port 0); Ready=Unknown (Pending)"
                    .to_owned()
            )
        );
        let stale = json!({"metadata": {"generation": 3},
            "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(readiness(&stale).is_err_and(|e| e.contains("generation 2")));
        assert!(readiness(&json!({})).is_err_and(|e| e.contains("no Ready condition")));
    }

    /// The names `knative/base` creates, read from its files by `kind:` and
    /// the `name:` of its metadata.
    fn base_objects() -> Vec<(String, String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("knative/base");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("knative/base") {
            let path = entry.expect("an entry").path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a manifest");
            for document in text.split("\n---") {
                let top = |key: &str| {
                    document
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(|v| v.trim().to_owned())
                };
                let (Some(api_version), Some(kind)) = (top("apiVersion:"), top("kind:")) else {
                    continue;
                };
                let mut in_metadata = false;
                let name = document.lines().find_map(|l| {
                    if !l.starts_with(' ') {
                        in_metadata = l.starts_with("metadata:");
                        return None;
                    }
                    l.strip_prefix("  name:")
                        .filter(|_| in_metadata)
                        .map(|v| v.trim().to_owned())
                });
                if let Some(name) = name {
                    found.push((api_version, kind, name));
                }
            }
        }
        found
    }

    #[test]
    fn the_expected_names_are_those_of_knative_base() {
        let base = base_objects();
        for kind in &KINDS {
            let api_version = format!("{}/{}", kind.group, kind.version);
            let mut in_base: Vec<&str> = base
                .iter()
                .filter(|(v, k, _)| *v == api_version && k == kind.kind)
                .map(|(_, _, n)| n.as_str())
                .collect();
            in_base.sort_unstable();
            let mut expected = (kind.expected)(&TOPOLOGY);
            expected.sort_unstable();
            assert_eq!(in_base, expected, "{} in knative/base", kind.kind);
        }
    }

    #[test]
    fn the_burst_passes_only_when_the_producer_went_up_and_back_to_zero() {
        let args = <crate::Cli as clap::Parser>::try_parse_from(["pact", "check-cluster"])
            .map(|cli| match cli.command {
                crate::Command::CheckCluster(args) => args,
                _ => unreachable!("check-cluster parsed"),
            })
            .expect("the defaults parse");
        let report = |producer: Value, ok: u64| {
            json!({"requests": 10, "ok": ok, "problems": [], "watch": {"chart": "c.svg", "scaling": [
                producer,
                {"service": "pact-translation", "ready_at_start": 0, "peak_ready": 1, "to_zero_s": 5.0}
            ]}})
        };
        let went = json!({"service": PRODUCER, "ready_at_start": 0, "peak_ready": 3,
            "scale_up_delay_s": 1.5, "to_zero_s": 70.0});
        let line = judge_burst(&report(went.clone(), 10), &args).expect("a pass");
        assert!(
            line.starts_with("pact-producer 0 → 3 → 0 (scale-up after 1.5 s, back to zero 70 s")
                && line.contains("also pact-translation 0 → 1 → 0")
                && line.ends_with("chart c.svg"),
            "{line}"
        );
        let stayed = json!({"service": PRODUCER, "ready_at_start": 0, "peak_ready": 3});
        let never = json!({"service": PRODUCER, "ready_at_start": 0, "peak_ready": 0});
        let other = json!({"service": "pact-query", "ready_at_start": 0, "peak_ready": 1});
        for (result, wanted) in [
            (
                report(stayed, 10),
                "not back to zero within --burst-settle 3m",
            ),
            (report(never, 10), "no pod of pact-producer became ready"),
            (report(other, 10), "no pod of pact-producer was seen"),
            (report(went, 9), "not every request was answered 2xx"),
        ] {
            let error = judge_burst(&result, &args)
                .expect_err("a failure")
                .to_string();
            assert!(error.contains(wanted), "{wanted:?} missing from {error}");
        }
    }

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
}
