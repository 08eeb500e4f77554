//! The Knative objects of the namespace, listed kind by kind through the
//! Kubernetes API: each one Ready or not (with the conditions that say why),
//! each object `knative/base` creates there, and a refused or failed list
//! explained in one line.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client, ResourceExt};
use serde_json::Value;

use super::report::{CheckError, Outcome, Report};
use crate::burst::watch::{self, WatchArgs, describe};
use crate::topology::{Stage, TOPOLOGY, Topology, Wiring};

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
    /// The objects of this kind the overlays of a wiring create, named from
    /// the pipeline's topology (pipeline.toml).
    pub expected: fn(&Topology, Wiring) -> Vec<String>,
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
            "Broker" => "broker",
            "Trigger" => "trigger",
            _ => "containersource",
        }
    }
}

/// Every kind checked, with the names the overlays of each wiring give
/// them, derived from pipeline.toml (unit tests read knative/base and render
/// every overlay, so the two cannot drift apart).
pub const KINDS: [Kind; 8] = [
    Kind {
        kind: "Service",
        group: "serving.knative.dev",
        version: "v1",
        plural: "services",
        expected: |t, _| t.functions.iter().map(Stage::service).collect(),
        optional: false,
    },
    Kind {
        kind: "KafkaSource",
        group: "sources.knative.dev",
        version: "v1",
        plural: "kafkasources",
        // Named after the topic each reads; with a Broker, only the one
        // feeding it raw contacts.
        expected: |t, wiring| match wiring {
            Wiring::Explicit => t.functions.iter().filter_map(|f| f.reads.clone()).collect(),
            Wiring::Broker => vec![t.broker.raw_topic.clone()],
        },
        optional: false,
    },
    Kind {
        kind: "KafkaSink",
        group: "eventing.knative.dev",
        version: "v1alpha1",
        plural: "kafkasinks",
        // With a Broker, the pipeline's outputs keep theirs.
        expected: |t, wiring| match wiring {
            Wiring::Explicit => t.all_topics().into_iter().map(str::to_owned).collect(),
            Wiring::Broker => t
                .outputs()
                .into_iter()
                .chain([t.dead_letter_topic.as_str()])
                .map(str::to_owned)
                .collect(),
        },
        optional: false,
    },
    Kind {
        kind: "SinkBinding",
        group: "sources.knative.dev",
        version: "v1",
        plural: "sinkbindings",
        // With a Broker, a stage a Trigger feeds replies instead.
        expected: |t, wiring| {
            t.functions
                .iter()
                .filter(|f| t.sink_topic(f, wiring).is_some())
                .filter_map(Stage::sink_binding)
                .collect()
        },
        optional: false,
    },
    Kind {
        kind: "PingSource",
        group: "sources.knative.dev",
        version: "v1",
        plural: "pingsources",
        expected: |t, _| {
            t.functions
                .iter()
                .filter_map(|f| f.ping_source.clone())
                .collect()
        },
        optional: false,
    },
    Kind {
        kind: "Broker",
        group: "eventing.knative.dev",
        version: "v1",
        plural: "brokers",
        expected: |t, wiring| match wiring {
            Wiring::Explicit => Vec::new(),
            Wiring::Broker => vec![t.broker.name.clone()],
        },
        optional: false,
    },
    Kind {
        kind: "Trigger",
        group: "eventing.knative.dev",
        version: "v1",
        plural: "triggers",
        expected: |t, wiring| match wiring {
            Wiring::Explicit => Vec::new(),
            Wiring::Broker => t.functions.iter().filter_map(Stage::trigger).collect(),
        },
        optional: false,
    },
    Kind {
        kind: "ContainerSource",
        group: "sources.knative.dev",
        version: "v1",
        plural: "containersources",
        expected: |_, _| Vec::new(),
        optional: true,
    },
];

/// A client as `pact burst --watch` makes one, the API server's URL and
/// where the configuration came from.
pub(super) async fn connect(args: &WatchArgs) -> Result<(Client, String, String), CheckError> {
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
pub(super) async fn check_resources(
    client: &Client,
    wiring: Wiring,
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
        for name in (kind.expected)(&TOPOLOGY, wiring) {
            if !listed.iter().any(|o| o.name_any() == name) {
                let overlays = match wiring {
                    Wiring::Explicit => "knative/overlays/<platform>",
                    Wiring::Broker => "knative/overlays/broker/<platform>",
                };
                report.line(
                    Outcome::Fail,
                    &format!("{} {name}", kind.short()),
                    &format!(
                        "missing from namespace {namespace:?} ({overlays} creates it: kubectl apply -k {overlays}; --topology says which)"
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
            found.extend(objects(
                &std::fs::read_to_string(&path).expect("a manifest"),
            ));
        }
        found
    }

    /// `(apiVersion, kind, metadata.name)` of each document of a YAML
    /// stream.
    fn objects(text: &str) -> Vec<(String, String, String)> {
        let mut found = Vec::new();
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
            let mut expected = (kind.expected)(&TOPOLOGY, Wiring::Explicit);
            expected.sort_unstable();
            assert_eq!(in_base, expected, "{} in knative/base", kind.kind);
        }
    }

    /// Each overlay as `kubectl kustomize` renders it (kubectl is a test
    /// dependency: .ci/setup checks it is there).
    fn rendered(overlay: &str) -> Vec<(String, String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(overlay);
        let output = std::process::Command::new("kubectl")
            .arg("kustomize")
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("kubectl kustomize {overlay}: {e}"));
        assert!(
            output.status.success(),
            "kubectl kustomize {overlay}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        objects(&String::from_utf8_lossy(&output.stdout))
    }

    #[test]
    fn the_expected_names_are_those_each_overlay_renders() {
        for (overlay, wiring) in [
            ("knative/overlays/kind", Wiring::Explicit),
            ("knative/overlays/openshift", Wiring::Explicit),
            ("knative/overlays/broker/kind", Wiring::Broker),
            ("knative/overlays/broker/openshift", Wiring::Broker),
        ] {
            let objects = rendered(overlay);
            for kind in &KINDS {
                let api_version = format!("{}/{}", kind.group, kind.version);
                let mut found: Vec<&str> = objects
                    .iter()
                    .filter(|(v, k, _)| *v == api_version && k == kind.kind)
                    .map(|(_, _, n)| n.as_str())
                    .collect();
                found.sort_unstable();
                let mut expected = (kind.expected)(&TOPOLOGY, wiring);
                expected.sort_unstable();
                assert_eq!(found, expected, "{} in {overlay}", kind.kind);
            }
        }
    }
}
