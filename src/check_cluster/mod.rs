//! `pact check-cluster`: what a user runs after deploying PACT (the
//! `knative/` overlays) to a real cluster, to see that it works.
//!
//! 1. Resources: every Knative Service, KafkaSource, KafkaSink, SinkBinding,
//!    PingSource, Broker, Trigger and (when installed) ContainerSource in the
//!    namespace is Ready, each not-Ready one with the conditions that say
//!    why, and every object the overlays of `--topology` create is there
//!    ([`KINDS`]).
//! 2. Contacts: a few contacts with keys of this run go to pact-producer's
//!    `POST /contacts` and are read back from pact-query, the end-to-end
//!    latency measured.
//! 3. Burst: `pact burst --watch` (this binary, run as a child) shows
//!    pact-producer scale up under load and back to zero.
//!
//! One line per check, `PASS`, `FAIL` or `SKIP`; exit 0 only when nothing
//! failed. Every wait is bounded by a flag with a default.
//!
//! One module per concern: `resources` (the Knative objects and their
//! conditions), `contacts` (the end-to-end probe), `burst` (the `pact burst
//! --watch` child), `token` (pact-query's bearer token) and `report` (the
//! lines, and what a failure says).

mod burst;
mod contacts;
mod report;
mod resources;
mod token;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::burst::watch::WatchArgs;
use crate::topology::Wiring;
use burst::check_burst;
use contacts::check_contacts;
use report::{Outcome, Report};
use resources::{check_resources, connect};

pub use report::CheckError;
pub use resources::{KINDS, Kind, readiness};
pub use token::{MAX_TOKEN_FILE_BYTES, default_token_file};

/// Arguments of `pact check-cluster`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  pact check-cluster                         namespace pact, current kubeconfig context
  pact check-cluster --skip-burst            resources and contacts only (about a minute at most)
  pact check-cluster --topology broker       a cluster deployed from knative/overlays/broker/<platform>
  pact check-cluster --producer-url http://127.0.0.1:8080 --query-token-file token.txt

Checks, one line each: every Knative Service, KafkaSource, KafkaSink,
SinkBinding, PingSource, Broker, Trigger and ContainerSource in the namespace
is Ready (else its non-True conditions), no object the overlays of
--topology create is missing; contacts sent
to pact-producer's POST /contacts come back from pact-query (end-to-end
latency); `pact burst --watch` sees pact-producer scale up and back to zero.

Exit code: 0 when every check passed (or was skipped), 1 when one failed,
2 for a usage error.")]
pub struct Args {
    /// Namespace PACT is deployed in.
    #[arg(long, short = 'n', default_value = "pact")]
    pub namespace: String,
    /// The topology deployed: `explicit` (knative/overlays/<platform>) or
    /// `broker` (knative/overlays/broker/<platform>); says which objects
    /// must be there.
    #[arg(long, value_enum, default_value_t = Wiring::Explicit)]
    pub topology: Wiring,
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

const PRODUCER: &str = "pact-producer";
const QUERY: &str = "pact-query";

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
            check_resources(
                &client,
                args.topology,
                &args.namespace,
                &server,
                &mut report,
                &mut urls,
            )
            .await
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

/// `url` without its trailing slashes, to append a path to.
fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}
