//! `pact burst --watch`: the pods of the Knative services, followed through
//! the Kubernetes API, into a [`Timeline`].
//!
//! kube's [`watcher`] does the protocol: it lists, watches from the list's
//! `resourceVersion`, follows bookmarks, and on `410 Gone` (or a stream that
//! ends) lists again. Each list arrives as `Init`, `InitApply`…, `InitDone`;
//! the whole list then replaces the pods known, so a pod deleted while the
//! watch was down disappears from the counts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_stream};
use kube::{Api, Client, Config, ResourceExt};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::timeline::{PodCounts, PodPhase, PodState, RevisionState, Timeline};

/// The label Knative Serving puts on every pod and revision of a service.
pub const SERVICE_LABEL: &str = "serving.knative.dev/service";

/// Options of the Kubernetes side, flattened into `pact burst`'s clap Args.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct WatchArgs {
    /// Follow the pods of the Knative services through the Kubernetes API
    /// and report their scaling (timeline and chart); alone, without load,
    /// to observe scaling caused by anything else.
    #[arg(long)]
    pub watch: bool,
    /// Namespace of the Knative services [default: the kubeconfig context's
    /// namespace, as kubectl].
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// kubeconfig context [default: the current one]; in a pod, the
    /// in-cluster config is used.
    #[arg(long)]
    pub context: Option<String>,
    /// Only these Knative services (repeatable) [default: every one in the
    /// namespace].
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,
    /// kubeconfig file [default: $KUBECONFIG (a list of files, merged, as
    /// kubectl), else ~/.kube/config, else the in-cluster config].
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

/// A running watch of pods (and revisions).
pub struct Watch {
    namespace: String,
    shared: Arc<Mutex<Shared>>,
    tasks: Vec<JoinHandle<()>>,
}

/// What the watch tasks and the caller share.
#[derive(Debug, Default)]
struct Shared {
    timeline: Timeline,
    warnings: Vec<String>,
    relists: u64,
}

impl Shared {
    fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            tracing::warn!("{warning}");
            self.warnings.push(warning);
        }
    }
}

/// A poisoned lock still holds a consistent timeline: every update is one
/// call made under the lock.
fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Watch {
    /// Connects (`--kubeconfig`, else `$KUBECONFIG` / `~/.kube/config`
    /// honouring `--context`, else the in-cluster config), then lists the
    /// pods once before returning, so that RBAC or connection errors come
    /// back here as a clear `Err`, then spawns the watches. `origin` is time
    /// 0 of the timeline (the caller passes the burst's start).
    pub async fn start(args: &WatchArgs, origin: Instant) -> anyhow::Result<Watch> {
        let (config, source) = client_config(args).await?;
        Self::start_with_config(config, &source, args, origin).await
    }

    /// As [`Watch::start`], with a configuration made by the caller (an
    /// embedder, or a test against a fake API server); `source` says where
    /// it came from, for error messages (e.g. `kubeconfig /tmp/k, context
    /// "test"`). `args.kubeconfig` and `args.context` are not used.
    pub async fn start_with_config(
        config: Config,
        source: &str,
        args: &WatchArgs,
        origin: Instant,
    ) -> anyhow::Result<Watch> {
        let namespace = args
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let selector = label_selector(&args.services)?;
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config)
            .with_context(|| format!("cannot make a Kubernetes client for {server} ({source})"))?;

        let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        let listed = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| explain_pod_list_error(&e, &namespace, &server, source))?;
        // The first lists are the state from the origin on (the caller
        // takes the origin just before starting the watch).
        let mut shared = Shared::default();
        shared
            .timeline
            .pods_relisted(0.0, listed.items.iter().filter_map(pod_state));

        let revisions_resource = revision_resource();
        let revisions: Api<DynamicObject> =
            Api::namespaced_with(client, &namespace, &revisions_resource);
        let watch_revisions = match revisions
            .list(&ListParams::default().labels(&selector))
            .await
        {
            Ok(listed) => {
                shared
                    .timeline
                    .revisions_relisted(0.0, listed.items.iter().filter_map(revision_state));
                true
            }
            Err(kube::Error::Api(status)) if matches!(status.code, 403 | 404) => {
                shared.warn(revisions_unreadable(&namespace, &status));
                false
            }
            // Anything else may pass (a restarting API server): the
            // watcher retries with a backoff.
            Err(e) => {
                shared.warn(format!(
                    "cannot list revisions.serving.knative.dev in namespace {namespace:?} yet: {}",
                    describe(&e)
                ));
                true
            }
        };

        let shared = Arc::new(Mutex::new(shared));
        let config = watcher::Config::default().labels(&selector);
        let mut tasks = vec![tokio::spawn(follow::<Pod>(
            pods,
            config.clone(),
            Arc::clone(&shared),
            origin,
            namespace.clone(),
        ))];
        if watch_revisions {
            tasks.push(tokio::spawn(follow::<DynamicObject>(
                revisions,
                config,
                Arc::clone(&shared),
                origin,
                namespace.clone(),
            )));
        }
        Ok(Watch {
            namespace,
            shared,
            tasks,
        })
    }

    /// The namespace watched.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Current counts per service, for the progress line and to decide when
    /// everything is back to zero.
    pub fn snapshot(&self) -> BTreeMap<String, PodCounts> {
        lock(&self.shared).timeline.current().clone()
    }

    /// Problems seen so far that did not stop the watch (e.g. revisions not
    /// readable: desired counts unknown), each once.
    pub fn warnings(&self) -> Vec<String> {
        lock(&self.shared).warnings.clone()
    }

    /// How many times a watch had to start over from a fresh list (`410
    /// Gone`: its resource version was too old), pods and revisions together.
    pub fn relists(&self) -> u64 {
        lock(&self.shared).relists
    }

    /// Stops the watches and returns what was seen.
    pub async fn stop(mut self) -> Timeline {
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            // Cancelled, as asked; a panic in a watch task is a bug, and
            // what it recorded before still stands.
            let _ = task.await;
        }
        std::mem::take(&mut lock(&self.shared).timeline)
    }
}

impl Drop for Watch {
    /// A watch dropped without `stop` does not leave its tasks running.
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Seconds from `origin` to now; 0 before it.
fn seconds_since(origin: Instant) -> f64 {
    Instant::now()
        .saturating_duration_since(origin)
        .as_secs_f64()
}

/// `serving.knative.dev/service`, or `… in (a,b)` for `--service a --service b`.
fn label_selector(services: &[String]) -> anyhow::Result<String> {
    if services.is_empty() {
        return Ok(SERVICE_LABEL.to_owned());
    }
    for name in services {
        // A Knative service name is a DNS label (RFC 1035), and nothing
        // else can break the selector's syntax.
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !valid {
            bail!(
                "--service {name:?} is not a Knative service name (lowercase letters, digits and '-', at most 63)"
            );
        }
    }
    Ok(format!("{SERVICE_LABEL} in ({})", services.join(",")))
}

/// The kubeconfig (explicit, `$KUBECONFIG`, `~/.kube/config`) or else the
/// in-cluster config, as `Config::infer` does, plus where it came from.
pub async fn client_config(args: &WatchArgs) -> anyhow::Result<(Config, String)> {
    let (kubeconfig, file) = match &args.kubeconfig {
        Some(path) => (
            Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read the kubeconfig {}", path.display()))?,
            path.display().to_string(),
        ),
        None => match Kubeconfig::read() {
            Ok(kubeconfig) => (
                kubeconfig,
                std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".to_owned()),
            ),
            Err(e) if args.context.is_some() => {
                return Err(anyhow::Error::new(e).context(
                    "--context names a kubeconfig context, but no kubeconfig could be read ($KUBECONFIG or ~/.kube/config)",
                ));
            }
            Err(kubeconfig_error) => {
                let config = Config::incluster().map_err(|in_cluster| {
                    anyhow::anyhow!(
                        "no Kubernetes configuration: no kubeconfig ({kubeconfig_error}; set $KUBECONFIG or --kubeconfig) and not in a pod ({in_cluster})"
                    )
                })?;
                return Ok((config, "the in-cluster service account".to_owned()));
            }
        },
    };
    let context = args
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone())
        .unwrap_or_default();
    let options = KubeConfigOptions {
        context: args.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .with_context(|| format!("cannot use context {context:?} of the kubeconfig {file}"))?;
    config.apply_debug_overrides();
    Ok((config, format!("kubeconfig {file}, context {context:?}")))
}

/// The first list of pods failed: say what to do about it.
fn explain_pod_list_error(
    error: &kube::Error,
    namespace: &str,
    server: &str,
    source: &str,
) -> anyhow::Error {
    match error {
        kube::Error::Api(status) if status.code == 403 => anyhow::anyhow!(
            "the Kubernetes API refused to list pods in namespace {namespace:?} (403 Forbidden: {message}): \
             pact burst --watch needs \"list\" and \"watch\" on \"pods\" there (and on \"revisions\" in API group \
             serving.knative.dev for desired counts): \
             kubectl create role pact-burst-watch -n {namespace} --verb=list,watch --resource=pods,revisions.serving.knative.dev \
             && kubectl create rolebinding pact-burst-watch -n {namespace} --role=pact-burst-watch --user=YOU \
             (or --serviceaccount=NAMESPACE:NAME in a pod)",
            message = status.message,
        ),
        kube::Error::Api(status) if status.code == 401 => anyhow::anyhow!(
            "the Kubernetes API at {server} rejected the credentials of {source} (401 Unauthorized: {message}): \
             log in again or refresh the token, then check with kubectl get pods -n {namespace}",
            message = status.message,
        ),
        kube::Error::Api(status) => anyhow::anyhow!(
            "the Kubernetes API at {server} could not list pods in namespace {namespace:?} ({} {}: {})",
            status.code,
            status.reason,
            status.message
        ),
        kube::Error::HyperError(_) | kube::Error::Service(_) => anyhow::anyhow!(
            "cannot reach the Kubernetes API at {server} (from {source}): {}",
            describe(error)
        ),
        other => anyhow::anyhow!(
            "listing pods in namespace {namespace:?} at {server} (from {source}) failed: {}",
            describe(other)
        ),
    }
}

/// Revisions cannot be read: the watch goes on with pods only.
fn revisions_unreadable(namespace: &str, status: &kube::core::Status) -> String {
    if status.code == 404 {
        format!(
            "revisions.serving.knative.dev not found in namespace {namespace:?} (404: is Knative Serving installed?): desired counts unknown"
        )
    } else {
        format!(
            "cannot watch revisions.serving.knative.dev in namespace {namespace:?} ({} {}: {}): desired counts unknown; \
             grant \"list\" and \"watch\" on revisions.serving.knative.dev to see them",
            status.code, status.reason, status.message
        )
    }
}

/// An error and its causes on one line, without kube's debug dump of a
/// Status.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    if let Some(kube::Error::Api(status)) = error.downcast_ref::<kube::Error>() {
        return format!("{} {}: {}", status.code, status.reason, status.message);
    }
    pact_runtime::error::chain(error)
}

/// A kind of object the watch follows into the timeline.
trait Followed:
    kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static
{
    /// What the timeline keeps of one.
    type State: Send;
    /// Its plural, for messages (`pods`).
    const WHAT: &'static str;
    /// Its name and state, or `None` when it belongs to no service.
    fn state(&self) -> Option<(String, Self::State)>;
    /// A full list replaces those known.
    fn relisted(timeline: &mut Timeline, at_s: f64, all: Vec<(String, Self::State)>);
    /// One added or modified.
    fn applied(timeline: &mut Timeline, at_s: f64, name: &str, state: Self::State);
    /// One deleted.
    fn deleted(timeline: &mut Timeline, at_s: f64, name: &str);
}

impl Followed for Pod {
    type State = PodState;
    const WHAT: &'static str = "pods";
    fn state(&self) -> Option<(String, PodState)> {
        pod_state(self)
    }
    fn relisted(timeline: &mut Timeline, at_s: f64, all: Vec<(String, PodState)>) {
        timeline.pods_relisted(at_s, all);
    }
    fn applied(timeline: &mut Timeline, at_s: f64, name: &str, state: PodState) {
        timeline.pod_applied(at_s, name, state);
    }
    fn deleted(timeline: &mut Timeline, at_s: f64, name: &str) {
        timeline.pod_deleted(at_s, name);
    }
}

impl Followed for DynamicObject {
    type State = RevisionState;
    const WHAT: &'static str = "revisions.serving.knative.dev";
    fn state(&self) -> Option<(String, RevisionState)> {
        revision_state(self)
    }
    fn relisted(timeline: &mut Timeline, at_s: f64, all: Vec<(String, RevisionState)>) {
        timeline.revisions_relisted(at_s, all);
    }
    fn applied(timeline: &mut Timeline, at_s: f64, name: &str, state: RevisionState) {
        timeline.revision_applied(at_s, name, state);
    }
    fn deleted(timeline: &mut Timeline, at_s: f64, name: &str) {
        timeline.revision_deleted(at_s, name);
    }
}

/// Follows one kind of object until aborted; errors become warnings (once
/// each) and the watcher retries them with a backoff.
async fn follow<K: Followed>(
    api: Api<K>,
    config: watcher::Config,
    shared: Arc<Mutex<Shared>>,
    origin: Instant,
    namespace: String,
) {
    let mut events = std::pin::pin!(watch_stream(api, config).default_backoff());
    // The current list, between Init and InitDone.
    let mut listing: Vec<(String, K::State)> = Vec::new();
    let mut first_list = true;
    while let Some(event) = events.next().await {
        let at_s = seconds_since(origin);
        match event {
            Ok(Event::Init) => listing.clear(),
            Ok(Event::InitApply(object)) => listing.extend(object.state()),
            Ok(Event::InitDone) => {
                let mut shared = lock(&shared);
                K::relisted(&mut shared.timeline, at_s, std::mem::take(&mut listing));
                if !first_list {
                    shared.relists += 1;
                }
                first_list = false;
            }
            Ok(Event::Apply(object)) => match object.state() {
                Some((name, state)) => K::applied(&mut lock(&shared).timeline, at_s, &name, state),
                // Its service label was removed: it left the services watched.
                None => K::deleted(&mut lock(&shared).timeline, at_s, &object.name_any()),
            },
            Ok(Event::Delete(object)) => {
                K::deleted(&mut lock(&shared).timeline, at_s, &object.name_any());
            }
            // Routine: the resource version expired; the watcher lists again.
            Err(watcher::Error::WatchError(status)) if status.code == 410 => {
                tracing::debug!(what = K::WHAT, "watch expired (410 Gone), listing again");
            }
            Err(e) => lock(&shared).warn(format!(
                "watching {} in namespace {namespace:?}: {}",
                K::WHAT,
                describe(&e)
            )),
        }
    }
}

/// A pod's service and phase; `None` without the service label.
fn pod_state(pod: &Pod) -> Option<(String, PodState)> {
    let service = pod.labels().get(SERVICE_LABEL)?.clone();
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
    let phase = if pod.metadata.deletion_timestamp.is_some() {
        PodPhase::Terminating
    } else if ready {
        PodPhase::Ready
    } else {
        PodPhase::Pending
    };
    Some((pod.name_any(), PodState { service, phase }))
}

/// A revision's service and `status.desiredReplicas`.
fn revision_state(revision: &DynamicObject) -> Option<(String, RevisionState)> {
    let service = revision.labels().get(SERVICE_LABEL)?.clone();
    let desired = revision.data["status"]["desiredReplicas"]
        .as_u64()
        .and_then(|d| u32::try_from(d).ok());
    Some((revision.name_any(), RevisionState { service, desired }))
}

/// Knative Serving's Revision, read as a dynamic object (no CRD types
/// needed for two fields).
fn revision_resource() -> ApiResource {
    ApiResource {
        group: "serving.knative.dev".to_owned(),
        version: "v1".to_owned(),
        api_version: "serving.knative.dev/v1".to_owned(),
        kind: "Revision".to_owned(),
        plural: "revisions".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_selector_names_the_services_asked_for() {
        assert_eq!(label_selector(&[]).ok().as_deref(), Some(SERVICE_LABEL));
        let two = vec!["pact-producer".to_owned(), "pact-query".to_owned()];
        assert_eq!(
            label_selector(&two).ok().as_deref(),
            Some("serving.knative.dev/service in (pact-producer,pact-query)")
        );
        for bad in ["", "a,b", "A", "x)", "-a"] {
            assert!(label_selector(&[bad.to_owned()]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pods_are_classified_by_readiness_and_deletion() {
        let pod = |ready: &str, deleting: bool| -> Pod {
            let mut value = serde_json::json!({
                "metadata": {"name": "p", "labels": {SERVICE_LABEL: "svc"}},
                "status": {"conditions": [{"type": "Ready", "status": ready}]}
            });
            if deleting {
                value["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
            }
            serde_json::from_value(value).expect("a pod")
        };
        let phase = |p: &Pod| pod_state(p).map(|(_, s)| s.phase);
        assert_eq!(phase(&pod("False", false)), Some(PodPhase::Pending));
        assert_eq!(phase(&pod("True", false)), Some(PodPhase::Ready));
        assert_eq!(phase(&pod("True", true)), Some(PodPhase::Terminating));
        let unlabelled: Pod =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}})).expect("a pod");
        assert_eq!(pod_state(&unlabelled), None);
    }
}
