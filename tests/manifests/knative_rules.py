"""Rules of Knative, eventing-kafka-broker and a kind node that a schema
cannot express (issue 16), over the documents an overlay renders.

Each rule is a small function returning problems (strings; empty = pass).
The upstream facts a rule relies on are data here, each with the file (at
the pinned tag) or page that says so; docs/deploy.md's evidence table lists
them too. Versions: Knative knative-v1.23.0 (serving, net-kourier, eventing,
eventing-kafka-broker), Strimzi 1.2.0, kind v0.30.0 (Kubernetes 1.34).
"""

from __future__ import annotations

import collections
import pathlib
from typing import NamedTuple

import yaml
from cluster_rules import KIND_NODE, fits, image_problems, pod_requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVING = "knative/serving@knative-v1.23.0:"
EVENTING = "knative/eventing (main@8cf4c4b, June 2026, = knative-v1.22.2 here):"
EKB = "knative-extensions/eventing-kafka-broker@knative-v1.23.0:"
KOURIER = "knative-extensions/net-kourier@knative-v1.23.0:"
STRIMZI = "strimzi/strimzi-kafka-operator@1.2.0:"
KAFKA_ACLS = "https://kafka.apache.org/documentation/#operations_resources_and_protocols"


def _name(doc):
    return (doc.get("metadata") or {}).get("name")


def is_ksvc(doc):
    return doc.get("kind") == "Service" and doc.get("apiVersion") == "serving.knative.dev/v1"


def ksvcs(docs):
    return [d for d in docs if is_ksvc(d)]


def serving_container(ksvc):
    """The container Knative routes to: the one declaring a port, or the only one
    (deploy.go BuildUserContainers)."""
    containers = ksvc["spec"]["template"]["spec"]["containers"]
    return next((c for c in containers if c.get("ports")), containers[0])


def container_port(container):
    """The user port: ports[0].containerPort, else 8080 (revision_helpers.go DefaultUserPort)."""
    ports = container.get("ports") or []
    return (ports[0].get("containerPort") if ports else None) or 8080


# ------------------------------------------------------------------ probes
#
# Knative fills in the port of the serving container's liveness probe
# (rewriteUserLivenessProbe) and runs its readiness probe from queue-proxy
# against the user port (applyReadinessProbeDefaults); a startup probe is
# copied into the Deployment as written, and the API server rejects port 0.
# Knative renames the container port to "user-port", so a named port (http1)
# in a startup probe matches nothing either.
PROBES_KNATIVE_FILLS = {
    "livenessProbe": SERVING + "pkg/reconciler/revision/resources/deploy.go (rewriteUserLivenessProbe)",
    "readinessProbe": SERVING + "pkg/reconciler/revision/resources/queue.go (applyReadinessProbeDefaults); "
                                "deploy.go makeContainer drops it from the user container",
}
PROBES_AS_WRITTEN = {
    "startupProbe": SERVING + "pkg/reconciler/revision/resources/deploy.go (makeServingContainer copies it)",
}
_HANDLERS = ("httpGet", "tcpSocket", "grpc")


def _probe_port(probe):
    for handler in _HANDLERS:
        if handler in probe:
            return handler, probe[handler].get("port")
    return None, None  # exec: no port


def probe_port_problems(docs):
    """Every probe Knative does not fill in carries the container port; the
    liveness and readiness ports are unset or that same port."""
    out = []
    for d in ksvcs(docs):
        c = serving_container(d)
        port = container_port(c)
        for probe in [*PROBES_KNATIVE_FILLS, *PROBES_AS_WRITTEN]:
            handler, got = _probe_port(c.get(probe) or {})
            if handler is None:
                continue
            where = f"ksvc/{_name(d)}: {probe}.{handler}.port"
            if probe in PROBES_AS_WRITTEN and got != port:
                out.append(f"{where} is {got!r}; Knative copies a {probe} as written, so it must be {port}")
            if probe in PROBES_KNATIVE_FILLS and got not in (None, port):
                out.append(f"{where} is {got!r}; leave it unset (Knative fills in {port}) or set {port}")
    return out


# queue-proxy probes aggressively (every 50 ms for up to 10 s) only while the
# readiness probe's periodSeconds is 0; Knative then refuses failureThreshold
# and timeoutSeconds. Any startup probe turns off the activator's probe
# optimisation (it waits for the kubelet to mark the pod Ready).
AGGRESSIVE_PROBING = SERVING + "pkg/queue/readiness/probe.go (shouldProbeAggressively: PeriodSeconds == 0)"
ZERO_PERIOD_REFUSES = SERVING + "pkg/apis/serving/k8s_validation.go (validateReadinessProbe)"
STARTUP_PROBE_EFFECT = SERVING + "pkg/activator/net/revision_backends.go (enableProbeOptimisation)"


def aggressive_readiness_problems(docs):
    """Fast cold starts: readiness without periodSeconds, no startup probe."""
    out = []
    for d in ksvcs(docs):
        me = f"ksvc/{_name(d)}"
        c = serving_container(d)
        readiness = c.get("readinessProbe") or {}
        if readiness.get("periodSeconds"):
            out.append(f"{me}: readinessProbe.periodSeconds turns off queue-proxy's aggressive probing; leave it unset")
        elif any(readiness.get(k) is not None for k in ("failureThreshold", "timeoutSeconds")):
            out.append(f"{me}: Knative refuses readinessProbe failureThreshold/timeoutSeconds without periodSeconds")
        if c.get("startupProbe"):
            out.append(f"{me}: a startupProbe makes the activator wait for the kubelet's Ready; these functions start in milliseconds")
    return out


# ----------------------------------------------------------- K_SINK window

def require_sink_problems(docs):
    """A SinkBinding's ksvc subject sets PACT_REQUIRE_SINK=true, so that no
    revision without K_SINK becomes Ready (its output would be discarded)."""
    out = []
    by_name = {_name(d): d for d in ksvcs(docs)}
    for b in docs:
        if b.get("kind") != "SinkBinding":
            continue
        subject = b["spec"]["subject"]
        ksvc = by_name.get(subject.get("name")) if subject.get("kind") == "Service" else None
        if ksvc is None:
            continue
        env = {e["name"]: e.get("value") for e in serving_container(ksvc).get("env") or []}
        if env.get("PACT_REQUIRE_SINK") != "true":
            out.append(f"ksvc/{_name(ksvc)}: subject of SinkBinding/{_name(b)} but PACT_REQUIRE_SINK is "
                       f"{env.get('PACT_REQUIRE_SINK')!r}, not \"true\": a revision without K_SINK would take "
                       "traffic and its output be discarded")
    return out


# -------------------------------------------------------------- Kafka ACLs

class Op(NamedTuple):
    resource: str   # "topic" or "group"
    operation: str  # the Kafka ACL operation the requests below need
    requests: str   # Kafka protocol requests, mapped to ACLs by KAFKA_ACLS
    source: str     # where eventing-kafka-broker performs them


# What eventing-kafka-broker does with a client's credentials, per kind of
# client (its controller and its data-plane pod use the same Secret).
KAFKA_OPERATIONS = {
    "KafkaSink": (
        Op("topic", "Describe", "Metadata: the controller's DescribeTopics check of a topic it does not own "
           "(no numPartitions/replicationFactor), and the producer's metadata",
           EKB + "control-plane/pkg/reconciler/sink/kafka_sink.go -> control-plane/pkg/kafka/topic.go (AreTopicsPresentAndValid)"),
        Op("topic", "Write", "Produce (enable.idempotence=false: no InitProducerId, no IdempotentWrite)",
           EKB + "data-plane/receiver/src/main/java/dev/knative/eventing/kafka/broker/receiver/IngressProducer.java; "
           "data-plane/config/sink/100-config-kafka-sink-data-plane.yaml"),
    ),
    "KafkaSource": (
        Op("topic", "Describe", "Metadata, ListOffsets, OffsetFetch",
           EKB + "data-plane/core/src/main/java/dev/knative/eventing/kafka/broker/core/ReactiveKafkaConsumer.java; "
           "control-plane/pkg/kafka/offset/offsets.go (InitOffsets: GetOffsets, ListConsumerGroupOffsets)"),
        Op("topic", "Read", "Fetch, OffsetCommit",
           EKB + "data-plane/dispatcher/src/main/java/dev/knative/eventing/kafka/broker/dispatcher/impl/consumer/"
           "UnorderedConsumerVerticle.java, OffsetManager.java"),
        Op("group", "Describe", "FindCoordinator, OffsetFetch",
           EKB + "control-plane/pkg/kafka/offset/offsets.go (ListConsumerGroupOffsets); the dispatcher's consumer"),
        Op("group", "Read", "JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit",
           EKB + "data-plane/dispatcher/.../consumer/OffsetManager.java; control-plane/pkg/kafka/offset/offsets.go "
           "(offsetManager.Commit, initialOffset latest only)"),
        Op("group", "Delete", "DeleteGroups when the KafkaSource is deleted (ConsumerGroup finalizer)",
           EKB + "control-plane/pkg/reconciler/consumergroup/consumergroup.go (deleteConsumerGroupMetadata)"),
    ),
}


def kafka_user(client, users):
    """The KafkaUser whose credentials a KafkaSink/KafkaSource uses: its
    Secret is `knative-<user>` (the convention docs/deploy.md follows)."""
    spec = client["spec"]
    if client["kind"] == "KafkaSink":
        secret = ((spec.get("auth") or {}).get("secret") or {}).get("ref", {}).get("name")
    else:
        secret = (((spec.get("net") or {}).get("sasl") or {}).get("user") or {}).get("secretKeyRef", {}).get("name")
    return users.get((secret or "").removeprefix("knative-"))


def kafka_needs(client):
    """(resource type, resource name, operation, Op) for every operation the client performs."""
    spec = client["spec"]
    names = {"topic": [spec["topic"]] if client["kind"] == "KafkaSink" else spec["topics"],
             "group": [spec.get("consumerGroup")]}
    return [(op.resource, name, op.operation, op) for op in KAFKA_OPERATIONS[client["kind"]] for name in names[op.resource]]


def _granted(user):
    return {(acl["resource"]["type"], acl["resource"]["name"], op)
            for acl in user["spec"]["authorization"]["acls"] if acl.get("type", "allow") == "allow"
            for op in acl["operations"]}


def kafka_acl_problems(docs):
    """Each KafkaUser allows every operation its clients perform, and nothing else."""
    out = []
    users = {_name(d): d for d in docs if d.get("kind") == "KafkaUser"}
    needed = collections.defaultdict(set)
    for client in docs:
        if client.get("kind") not in KAFKA_OPERATIONS:
            continue
        user = kafka_user(client, users)
        if user is None:
            continue  # test_manifests.problems() reports a client without a KafkaUser
        for rtype, rname, operation, op in kafka_needs(client):
            needed[_name(user)].add((rtype, rname, operation))
            if (rtype, rname, operation) not in _granted(user):
                out.append(f"{client['kind']}/{_name(client)}: KafkaUser {_name(user)} may not {operation} {rtype} "
                           f"{rname}, needed for {op.requests} ({op.source})")
    for name, user in users.items():
        for rtype, rname, operation in sorted(_granted(user) - needed[name]):
            out.append(f"KafkaUser/{name}: {operation} on {rtype} {rname} is not an operation its Knative clients "
                       "perform (least privilege)")
    return out


# ------------------------------------------------- requests on a kind node

class Workload(NamedTuple):
    namespace: str
    name: str
    container: str
    replicas: int
    cpu: str
    memory: str
    source: str


KUBEADM = "kubernetes/kubernetes (kubeadm, v1.34 as kind v0.30.0's kindest/node:v1.34.0): "
# What the platform asks the scheduler for, as released (one replica each;
# a container without requests counts 0). kube-proxy, local-path-provisioner,
# Knative's request-reply StatefulSet and Strimzi's entity operator (no
# resources in the Kafka CR) request nothing.
PLATFORM = (
    Workload("kube-system", "kube-apiserver", "kube-apiserver", 1, "250m", "0",
             KUBEADM + "cmd/kubeadm/app/phases/controlplane/manifests.go (ComponentResources)"),
    Workload("kube-system", "kube-controller-manager", "kube-controller-manager", 1, "200m", "0",
             KUBEADM + "cmd/kubeadm/app/phases/controlplane/manifests.go"),
    Workload("kube-system", "kube-scheduler", "kube-scheduler", 1, "100m", "0",
             KUBEADM + "cmd/kubeadm/app/phases/controlplane/manifests.go"),
    Workload("kube-system", "etcd", "etcd", 1, "100m", "100Mi", KUBEADM + "cmd/kubeadm/app/phases/etcd/local.go"),
    Workload("kube-system", "coredns", "coredns", 2, "100m", "70Mi",
             KUBEADM + "cmd/kubeadm/app/phases/addons/dns/manifests.go"),
    Workload("kube-system", "kindnet", "kindnet-cni", 1, "100m", "50Mi",
             "kubernetes-sigs/kind@v0.30.0:pkg/build/nodeimage/const_cni.go"),
    Workload("knative-serving", "activator", "activator", 1, "300m", "60Mi",
             SERVING + "config/core/deployments/activator.yaml (HPA minReplicas 1)"),
    Workload("knative-serving", "autoscaler", "autoscaler", 1, "100m", "100Mi", SERVING + "config/core/deployments/autoscaler.yaml"),
    Workload("knative-serving", "controller", "controller", 1, "100m", "100Mi", SERVING + "config/core/deployments/controller.yaml"),
    Workload("knative-serving", "webhook", "webhook", 1, "100m", "100Mi", SERVING + "config/core/deployments/webhook.yaml"),
    Workload("kourier-system", "3scale-kourier-gateway", "kourier-gateway", 1, "200m", "200Mi",
             KOURIER + "config/300-gateway.yaml (HPA minReplicas 1)"),
    Workload("knative-serving", "net-kourier-controller", "controller", 1, "200m", "200Mi", KOURIER + "config/300-controller.yaml"),
    Workload("knative-eventing", "eventing-controller", "eventing-controller", 1, "100m", "100Mi",
             EVENTING + "config/core/deployments/controller.yaml"),
    Workload("knative-eventing", "eventing-webhook", "eventing-webhook", 1, "100m", "50Mi",
             EVENTING + "config/core/deployments/webhook.yaml"),
    Workload("knative-eventing", "job-sink", "job-sink", 1, "125m", "64Mi", EVENTING + "config/core/deployments/job-sink.yaml"),
    Workload("knative-eventing", "pingsource-mt-adapter", "dispatcher", 1, "125m", "64Mi",
             EVENTING + "config/core/deployments/pingsource-mt-adapter.yaml (replicas 0, set to 1 by "
             "pkg/reconciler/pingsource/pingsource.go once a PingSource exists)"),
    Workload("knative-eventing", "kafka-controller", "controller", 1, "100m", "100Mi",
             EKB + "control-plane/config/eventing-kafka-broker/200-controller/500-controller.yaml"),
    Workload("knative-eventing", "kafka-webhook-eventing", "kafka-webhook-eventing", 1, "20m", "20Mi",
             EKB + "control-plane/config/eventing-kafka-broker/200-webhook/500-webhook.yaml"),
    Workload("knative-eventing", "kafka-sink-receiver", "kafka-sink-receiver", 1, "200m", "450Mi",
             EKB + "data-plane/config/sink/500-receiver.yaml"),
    Workload("knative-eventing", "kafka-source-dispatcher", "kafka-source-dispatcher", 1, "1000m", "700Mi",
             EKB + "data-plane/config/source/500-dispatcher.yaml (one pod: POD_CAPACITY 20 virtual replicas, "
             "DISPATCHERS_MIN_REPLICAS 0, control-plane/config/eventing-kafka-broker/200-controller/500-controller.yaml)"),
    Workload("strimzi", "strimzi-cluster-operator", "strimzi-cluster-operator", 1, "200m", "384Mi",
             STRIMZI + "packaging/helm-charts/helm3/strimzi-kafka-operator/values.yaml (resources)"),
)

# queue-proxy, the sidecar Knative adds to every function pod: 25m CPU and no
# memory request unless queueproxy.resource-defaults is enabled (disabled).
QUEUE_PROXY = {"cpu": 25, "memory": 0.0}
QUEUE_PROXY_SOURCE = (SERVING + "pkg/deployment/config.go (QueueSidecarCPURequestDefault); "
                      "pkg/reconciler/revision/resources/queue.go (createQueueResources); "
                      "pkg/apis/config/features.go (queueproxy.resource-defaults Disabled)")

KIND_PLATFORM_PATCH = ROOT / "knative/platform/kind-requests.yaml"


def platform_overrides(path=KIND_PLATFORM_PATCH):
    """{(namespace, workload, container): requests} from the server-side-apply
    patch that scripts/kind-up.sh applies after installing the platform."""
    out = {}
    for doc in yaml.safe_load_all(path.read_text()):
        for c in doc["spec"]["template"]["spec"]["containers"]:
            out[(doc["metadata"]["namespace"], doc["metadata"]["name"], c["name"])] = c["resources"]["requests"]
    return out


def platform_pods(overrides):
    """(what, requests) for each platform pod, with `overrides` applied."""
    out = []
    for w in PLATFORM:
        requests = {"cpu": w.cpu, "memory": w.memory} | overrides.get((w.namespace, w.name, w.container), {})
        pod = pod_requests([{"resources": {"requests": requests}}])
        out += [(f"{w.namespace}/{w.name}", pod)] * w.replicas
    return out


def pact_pods(docs):
    """(what, requests) for each pod an overlay's resources start, at one
    replica per function (min-scale 0, counted as a scaled-up one)."""
    out = []
    for d in docs:
        kind, spec = d.get("kind"), d.get("spec") or {}
        if is_ksvc(d):
            pod = pod_requests(spec["template"]["spec"]["containers"])
            out.append((f"ksvc/{_name(d)} (+ queue-proxy)", {k: pod[k] + QUEUE_PROXY[k] for k in pod}))
        elif kind in ("StatefulSet", "Deployment"):
            tpl = spec["template"]["spec"]
            out += [(f"{kind}/{_name(d)}", pod_requests(tpl["containers"], tpl.get("initContainers") or []))] * spec.get("replicas", 1)
        elif kind == "ContainerSource":
            out.append((f"ContainerSource/{_name(d)}", pod_requests(spec["template"]["spec"]["containers"])))
        elif kind == "KafkaNodePool":
            out += [(f"KafkaNodePool/{_name(d)}", pod_requests([{"resources": spec.get("resources") or {}}]))] * spec["replicas"]
        elif kind == "Kafka":
            eo = spec.get("entityOperator") or {}
            operators = [{"resources": (eo.get(o) or {}).get("resources") or {}} for o in ("topicOperator", "userOperator") if o in eo]
            if operators:
                out.append((f"Kafka/{_name(d)} entity operator", pod_requests(operators)))
    return out


def total(pods):
    return {"cpu": sum(p["cpu"] for _, p in pods), "memory": sum(p["memory"] for _, p in pods)}


def node_fit_problems(docs, overrides, node=KIND_NODE):
    """Everything the overlay and the platform ask for fits one kind node."""
    return fits(total(pact_pods(docs) + platform_pods(overrides)), node, "the platform and the overlay together")


# ------------------------------------------------------------------ images

def image_refs(docs):
    """(where, image) for every container and init container in the render."""
    out = []

    def walk(node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("containers", "initContainers") and isinstance(value, list):
                    out.extend((f"{where}: {c.get('name')}", c["image"]) for c in value if isinstance(c, dict) and "image" in c)
                walk(value, where)
        elif isinstance(node, list):
            for item in node:
                walk(item, where)

    for d in docs:
        walk(d, f"{d.get('kind')}/{_name(d)}")
    return out


def image_rule_problems(docs, local_registries=None):
    """Every image pullable by name: third-party ones fully qualified on a
    public registry with a tag or digest; PACT's own may also come from
    `local_registries` (the overlay's own, e.g. kind's `localhost/` names),
    never `latest`."""
    def problems(ref):
        if local_registries is None:
            return image_problems(ref)
        return image_problems(ref, local_ok=True, local_registries=tuple(local_registries))
    return [f"{where}: {p}" for where, ref in image_refs(docs) for p in problems(ref)]
