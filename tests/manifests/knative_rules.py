"""Rules of Knative, eventing-kafka-broker and a kind node that a schema
cannot express (issue 16), over the documents an overlay renders.

Each rule is a small function returning problems (strings; empty = pass).
The Broker topology's rules (knative/components/broker: Broker, Trigger,
their ConfigMap and Kafka identity) are at the end.
The upstream facts a rule relies on are data here, each with the file (at
the pinned tag) or page that says so; docs/deploy.md's evidence table lists
them too. Versions: Knative knative-v1.23.0 (serving, net-kourier, eventing,
eventing-kafka-broker), Strimzi 1.2.0, kind v0.30.0 (Kubernetes 1.34).
"""

from __future__ import annotations

import collections
import pathlib
import re
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

# SinkBinding subjects that serve without K_SINK and never fall back to
# reply mode: pact-query's reads need no sink, and its POST /cases answers
# 503 until K_SINK is there. PACT_REQUIRE_SINK=true there would keep the
# whole read API unready (readyz 503) whenever the sink is.
SINK_OPTIONAL = {
    "pact-query": "functions/query/src/cases.rs (emitting without K_SINK is Unavailable, 503; no reply mode)",
}


def require_sink_problems(docs):
    """A SinkBinding's ksvc subject sets PACT_REQUIRE_SINK=true, so that no
    revision without K_SINK becomes Ready (its output would be discarded);
    one of SINK_OPTIONAL must not, or its other work stops with the sink."""
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
        if _name(ksvc) in SINK_OPTIONAL:
            if env.get("PACT_REQUIRE_SINK") == "true":
                out.append(f"ksvc/{_name(ksvc)}: PACT_REQUIRE_SINK is \"true\": it would be unready, reads and "
                           f"all, until SinkBinding/{_name(b)} has injected K_SINK; it answers 503 to what needs "
                           f"the sink instead ({SINK_OPTIONAL[_name(ksvc)]})")
        elif env.get("PACT_REQUIRE_SINK") != "true":
            out.append(f"ksvc/{_name(ksvc)}: subject of SinkBinding/{_name(b)} but PACT_REQUIRE_SINK is "
                       f"{env.get('PACT_REQUIRE_SINK')!r}, not \"true\": a revision without K_SINK would take "
                       "traffic and its output be discarded")
    return out


# ------------------------------------------------------ delivery timeouts
#
# delivery.timeout of a KafkaSource or Trigger becomes the dispatcher's
# per-attempt HTTP timeout (600 s when unset); Knative Serving ends every
# request at the revision's timeoutSeconds (default 300) with 504; the
# function ends its own at PACT_REQUEST_TIMEOUT_S with 504 (pact-notify
# stops its fan-out at half of it and answers 503 with what is left).
DELIVERY_TIMEOUT = (EKB + "control-plane/pkg/core/config/utils.go (EgressConfigFromDelivery: Timeout); "
                    "data-plane/dispatcher/.../impl/http/WebClientCloudEventSender.java (DEFAULT_TIMEOUT_MS 600000)")
REVISION_TIMEOUT = (SERVING + "pkg/queue/sharedmain/handlers.go (mainHandler: NewTimeoutHandler at "
                    "RevisionTimeoutSeconds, pkg/http/handler/timeout.go answers 504)")
REVISION_TIMEOUT_DEFAULT = 300  # SERVING config/core/configmaps/defaults.yaml revision-timeout-seconds
RUNTIME_CONFIG = ROOT / "functions/runtime/src/config.rs"
_ISO_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def iso_seconds(text):
    """An ISO 8601 duration (PT60S, PT0.5S, PT1M) in seconds; None if not one."""
    m = _ISO_DURATION.match(str(text))
    if not m or not any(m.groups()):
        return None
    d, h, mi, sec = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(sec or 0)


def runtime_request_timeout():
    """The runtime's default PACT_REQUEST_TIMEOUT_S, read from its source."""
    m = re.search(r"pub const DEFAULT_REQUEST_TIMEOUT_S: u64 = (\d+);", RUNTIME_CONFIG.read_text())
    assert m, f"no DEFAULT_REQUEST_TIMEOUT_S in {RUNTIME_CONFIG}"
    return int(m.group(1))


def delivery_timeout_problems(docs):
    """Where a KafkaSource or Trigger that delivers to a Knative Service sets
    delivery.timeout: it is below the ksvc's timeoutSeconds (past it
    queue-proxy has answered 504 already, so a longer one never takes
    effect), and not below the function's PACT_REQUEST_TIMEOUT_S (or the
    sender gives up on an attempt the function still works on, and sends
    it again alongside)."""
    out = []
    by_name = {_name(d): d for d in ksvcs(docs)}
    for d in docs:
        if d.get("kind") not in ("KafkaSource", "Trigger"):
            continue
        spec = d.get("spec") or {}
        ref = ((spec.get("subscriber" if d["kind"] == "Trigger" else "sink") or {}).get("ref")) or {}
        ksvc = by_name.get(ref.get("name")) if ref.get("apiVersion") == "serving.knative.dev/v1" else None
        timeout = (spec.get("delivery") or {}).get("timeout")
        if ksvc is None or timeout is None:
            continue
        me = f"{d['kind']}/{_name(d)}"
        seconds = iso_seconds(timeout)
        if seconds is None:
            out.append(f"{me}: delivery.timeout {timeout!r} is not an ISO 8601 duration")
            continue
        revision = ksvc["spec"]["template"]["spec"].get("timeoutSeconds", REVISION_TIMEOUT_DEFAULT)
        if seconds >= revision:
            out.append(f"{me}: delivery.timeout {timeout} is not below ksvc/{_name(ksvc)}'s timeoutSeconds "
                       f"{revision}, where queue-proxy answers 504 first ({REVISION_TIMEOUT}; {DELIVERY_TIMEOUT})")
        env = {e["name"]: e.get("value") for e in serving_container(ksvc).get("env") or []}
        own = int(env.get("PACT_REQUEST_TIMEOUT_S") or runtime_request_timeout())
        if seconds < own:
            out.append(f"{me}: delivery.timeout {timeout} is below ksvc/{_name(ksvc)}'s PACT_REQUEST_TIMEOUT_S "
                       f"{own}: the sender would give up on attempts the function still works on, and retry them "
                       "alongside")
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


# The Kafka Broker: its controller, receiver and dispatcher all use the
# Secret named in the Broker's ConfigMap (auth.secret.ref.name); a Trigger's
# ConsumerGroup copies it (triggerv2.go). Broker: what the controller and the
# receiver do, and the dispatcher's replies; Trigger: its consumer group.
KAFKA_OPERATIONS["Broker"] = (
    Op("topic", "Describe", "Metadata: the controller's DescribeTopics of the external topic, the producers' metadata",
       EKB + "control-plane/pkg/reconciler/broker/broker.go (reconcileBrokerTopic, isExternalTopic) -> "
       "control-plane/pkg/kafka/topic.go (AreTopicsPresentAndValid)"),
    Op("topic", "Write", "Produce: the receiver's accepted events, the dispatcher's replies "
       "(enable.idempotence=false: no IdempotentWrite)",
       EKB + "data-plane/receiver/.../IngressProducer.java; data-plane/dispatcher/.../impl/ResponseToKafkaTopicHandler.java; "
       "data-plane/config/broker/100-config-kafka-broker-data-plane.yaml"),
)
KAFKA_OPERATIONS["Trigger"] = (
    Op("topic", "Describe", "Metadata, ListOffsets, OffsetFetch", KAFKA_OPERATIONS["KafkaSource"][0].source),
    Op("topic", "Read", "Fetch, OffsetCommit (and the controller's initial offsets: auto.offset.reset=latest)",
       KAFKA_OPERATIONS["KafkaSource"][1].source + "; control-plane/pkg/kafka/offset/offsets.go"),
    Op("group", "Describe", "FindCoordinator, OffsetFetch", KAFKA_OPERATIONS["KafkaSource"][2].source),
    Op("group", "Read", "JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit", KAFKA_OPERATIONS["KafkaSource"][3].source),
    Op("group", "Delete", "DeleteGroups when the Trigger is deleted (its ConsumerGroup's finalizer)",
       KAFKA_OPERATIONS["KafkaSource"][4].source),
)

# Names the Kafka Broker gives (control-plane/config/eventing-kafka-broker/
# 200-controller/100-config-kafka-features.yaml, defaults).
BROKER_TOPIC_TEMPLATE = "knative-broker-{namespace}-{name}"
TRIGGER_GROUP_TEMPLATE = "knative-trigger-{namespace}-{name}"
EXTERNAL_TOPIC = "kafka.eventing.knative.dev/external.topic"
CLASS = "eventing.knative.dev/broker.class"
SECRET_KEY = "auth.secret.ref.name"


def _of_kind(docs, kind):
    return {_name(d): d for d in docs if d.get("kind") == kind}


def broker_config(broker, docs):
    """The ConfigMap a Broker's spec.config names, if it is in the render."""
    ref = (broker.get("spec") or {}).get("config") or {}
    return _of_kind(docs, "ConfigMap").get(ref.get("name")) if (ref.get("kind") or "").lower() == "configmap" else None


def broker_topic(broker):
    """The topic of a Kafka Broker: its external.topic, else the template's."""
    meta = broker["metadata"]
    return (meta.get("annotations") or {}).get(EXTERNAL_TOPIC) or \
        BROKER_TOPIC_TEMPLATE.format(namespace=meta.get("namespace"), name=meta["name"])


def trigger_group(trigger):
    meta = trigger["metadata"]
    return TRIGGER_GROUP_TEMPLATE.format(namespace=meta.get("namespace"), name=meta["name"])


def _broker_of(trigger, docs):
    return _of_kind(docs, "Broker").get((trigger.get("spec") or {}).get("broker"))


def auth_secret(client, docs=()):
    """The name of the Secret a Kafka client authenticates with."""
    spec = client["spec"]
    if client["kind"] == "KafkaSink":
        return ((spec.get("auth") or {}).get("secret") or {}).get("ref", {}).get("name")
    if client["kind"] == "KafkaSource":
        return (((spec.get("net") or {}).get("sasl") or {}).get("user") or {}).get("secretKeyRef", {}).get("name")
    broker = client if client["kind"] == "Broker" else _broker_of(client, docs)
    config = broker_config(broker, docs) if broker else None
    return ((config or {}).get("data") or {}).get(SECRET_KEY)


def kafka_user(client, users, docs=()):
    """The KafkaUser whose credentials a KafkaSink/KafkaSource/Broker/Trigger
    uses: its Secret is `knative-<user>` (the convention docs/deploy.md follows)."""
    return users.get((auth_secret(client, docs) or "").removeprefix("knative-"))


def kafka_needs(client, docs=()):
    """(resource type, resource name, operation, Op) for every operation the client performs."""
    spec = client["spec"]
    if client["kind"] == "KafkaSink":
        names = {"topic": [spec["topic"]]}
    elif client["kind"] == "KafkaSource":
        names = {"topic": spec["topics"], "group": [spec.get("consumerGroup")]}
    elif client["kind"] == "Broker":
        names = {"topic": [broker_topic(client)]}
    else:
        broker = _broker_of(client, docs)
        names = {"topic": [broker_topic(broker)] if broker else [], "group": [trigger_group(client)]}
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
        if client["kind"] in ("Broker", "Trigger") and not _is_kafka_class(client, docs):
            continue
        user = kafka_user(client, users, docs)
        if user is None:
            continue  # test_manifests.problems() reports a client without a KafkaUser
        for rtype, rname, operation, op in kafka_needs(client, docs):
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


def platform_overrides(path=KIND_PLATFORM_PATCH, *more):
    """{(namespace, workload, container): requests} from the server-side-apply
    patch that scripts/kind-up.sh applies after installing the platform (and
    from `more` such patches)."""
    out = {}
    for doc in (d for p in (path, *more) for d in yaml.safe_load_all(p.read_text())):
        for c in doc["spec"]["template"]["spec"]["containers"]:
            out[(doc["metadata"]["namespace"], doc["metadata"]["name"], c["name"])] = c["resources"]["requests"]
    return out


def platform_pods(overrides, extra=()):
    """(what, requests) for each platform pod (and of `extra` workloads),
    with `overrides` applied."""
    out = []
    for w in (*PLATFORM, *extra):
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


def node_fit_problems(docs, overrides, node=KIND_NODE, extra=()):
    """Everything the overlay and the platform ask for fits one kind node."""
    return fits(total(pact_pods(docs) + platform_pods(overrides, extra)), node, "the platform and the overlay together")


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


# ====================================================== the Broker topology
#
# knative/components/broker: a Broker of class Kafka, its ConfigMap, and a
# Trigger per function. Rules of knative/eventing (EVENTING) and of the Kafka
# Broker (EKB) that the open parts of the Broker and Trigger schemas leave
# unchecked.

KAFKA_BROKER_CLASSES = {
    "Kafka": EKB + "control-plane/pkg/kafka/broker_class.go (BrokerClass)",
    "KafkaNamespaced": EKB + "control-plane/pkg/kafka/broker_class.go (NamespacedBrokerClass)",
}


def _is_kafka_class(client, docs):
    broker = client if client["kind"] == "Broker" else _broker_of(client, docs)
    return broker is not None and ((broker["metadata"].get("annotations") or {}).get(CLASS) in KAFKA_BROKER_CLASSES)


# The keys the Kafka Broker's controller reads from the Broker's ConfigMap.
BROKER_CONFIG_KEYS = {
    "bootstrap.servers": EKB + "control-plane/pkg/kafka/topic.go (BootstrapServersConfigMapKey; validateTopicConfig: at least one)",
    "default.topic.partitions": EKB + "control-plane/pkg/kafka/topic.go (DefaultTopicNumPartitionConfigMapKey; validateTopicConfig: > 0)",
    "default.topic.replication.factor": EKB + "control-plane/pkg/kafka/topic.go (DefaultTopicReplicationFactorConfigMapKey; > 0)",
    SECRET_KEY: EKB + "control-plane/pkg/security/config.go (AuthSecretNameKey; the Secret in the ConfigMap's namespace)",
    "auth.secret.ref.namespace": EKB + "control-plane/pkg/security/config.go (AuthSecretNamespaceKey; ignored by the Broker: "
                                 "MTConfigMapSecretLocator UseNamespaceInConfigmap=false in broker.go)",
}
BROKER_CONFIG_PREFIX = "default.topic.config."  # topic.go DefaultTopicConfigPrefix: config of a topic it creates


def _positive_int(value):
    try:
        return int(str(value)) > 0
    except ValueError:
        return False


def broker_problems(docs):
    """A Broker is of class Kafka, its config a ConfigMap in the render with
    the keys the controller requires (valid), and nothing it does not read;
    its external topic is a KafkaTopic whose partitions and replicas the
    ConfigMap repeats."""
    out = []
    topics = _of_kind(docs, "KafkaTopic")
    for b in _of_kind(docs, "Broker").values():
        me = f"Broker/{_name(b)}"
        annotations = b["metadata"].get("annotations") or {}
        cls = annotations.get(CLASS)
        if cls not in KAFKA_BROKER_CLASSES:
            out.append(f"{me}: annotation {CLASS} is {cls!r}, not one of {sorted(KAFKA_BROKER_CLASSES)} "
                       "(any other class is not the Kafka Broker; without it the cluster's default class is used)")
            continue
        ref = (b.get("spec") or {}).get("config") or {}
        if (ref.get("kind") or "").lower() != "configmap":
            out.append(f"{me}: spec.config.kind is {ref.get('kind')!r}; the Kafka Broker takes a ConfigMap "
                       f"({EKB}control-plane/pkg/apis/eventing/v1/broker_validation.go)")
            continue
        config = broker_config(b, docs)
        if config is None:
            out.append(f"{me}: spec.config ConfigMap {ref.get('name')} is not in the render")
            continue
        data = config.get("data") or {}
        for key in ("bootstrap.servers", "default.topic.partitions", "default.topic.replication.factor"):
            if key not in data:
                out.append(f"ConfigMap/{_name(config)}: no {key} ({BROKER_CONFIG_KEYS[key]})")
        if "bootstrap.servers" in data and not [s for s in str(data["bootstrap.servers"]).split(",") if s.strip()]:
            out.append(f"ConfigMap/{_name(config)}: bootstrap.servers is empty")
        for key in ("default.topic.partitions", "default.topic.replication.factor"):
            if key in data and not _positive_int(data[key]):
                out.append(f"ConfigMap/{_name(config)}: {key} is {data[key]!r}, not a positive integer")
        for key in data:
            if key not in BROKER_CONFIG_KEYS and not key.startswith(BROKER_CONFIG_PREFIX):
                out.append(f"ConfigMap/{_name(config)}: {key} is not a key the Kafka Broker reads "
                           f"({sorted(BROKER_CONFIG_KEYS)}, {BROKER_CONFIG_PREFIX}*)")
        if SECRET_KEY not in data:
            out.append(f"ConfigMap/{_name(config)}: no {SECRET_KEY}: the Broker would connect without SASL/TLS")
        topic = annotations.get(EXTERNAL_TOPIC)
        if topic is None:
            out.append(f"{me}: no {EXTERNAL_TOPIC}: the controller would create (and on deletion delete) its topic, "
                       "which needs topic Create/Delete and escapes Strimzi")
        elif topic not in topics:
            out.append(f"{me}: its external topic {topic} has no KafkaTopic")
        else:
            spec = topics[topic]["spec"]
            for key, field in (("default.topic.partitions", "partitions"), ("default.topic.replication.factor", "replicas")):
                if str(data.get(key)) != str(spec.get(field)):
                    out.append(f"ConfigMap/{_name(config)}: {key} {data.get(key)!r} but KafkaTopic/{topic} has "
                               f"{field} {spec.get(field)!r}")
    return out


# Trigger filters (EVENTING pkg/apis/eventing/v1/trigger_validation.go,
# pkg/eventfilter/subscriptionsapi/*; EKB data-plane/core/.../filter/).
FILTER_DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")
ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9]*$")
FILTER_RULES = {
    "one dialect": EVENTING + "pkg/apis/eventing/v1/trigger_validation.go (ValidateOneOf, hasMultipleDialects)",
    "attribute names": EVENTING + "pkg/apis/eventing/v1/trigger_validation.go (validAttributeName ^[a-z][a-z0-9]*$)",
    "non-empty values": EVENTING + "pkg/eventfilter/subscriptionsapi/exact_filter.go (NewExactFilter refuses empty); "
                        + EKB + "data-plane/core/.../filter/AttributesFilter.java (drops empty values: matches anything)",
    "filters over filter": EKB + "data-plane/dispatcher/.../main/ConsumerVerticleBuilder.java (getFilter: dialected filters override)",
}


def _filter_expression_problems(where, f):
    out = []
    if not isinstance(f, dict):
        return [f"{where}: not a filter expression"]
    unknown = sorted(set(f) - set(FILTER_DIALECTS))
    if unknown:
        out.append(f"{where}: {unknown} is no filter dialect ({', '.join(FILTER_DIALECTS)})")
    present = [k for k in FILTER_DIALECTS if f.get(k)]
    if len(present) > 1:
        out.append(f"{where}: several dialects {present} in one expression; Knative refuses it ({FILTER_RULES['one dialect']})")
    if not present:
        out.append(f"{where}: an empty expression")
    for dialect in ("exact", "prefix", "suffix"):
        for attribute, value in (f.get(dialect) or {}).items():
            if not ATTRIBUTE_NAME.match(str(attribute)):
                out.append(f"{where}.{dialect}: attribute {attribute!r} is not ^[a-z][a-z0-9]*$ ({FILTER_RULES['attribute names']})")
            if value in (None, ""):
                out.append(f"{where}.{dialect}.{attribute}: an empty value; Knative's filter refuses it and the Kafka "
                           f"dispatcher ignores it, matching every event ({FILTER_RULES['non-empty values']})")
    for dialect in ("all", "any"):
        for i, sub in enumerate(f.get(dialect) or []):
            out += _filter_expression_problems(f"{where}.{dialect}[{i}]", sub)
    if f.get("not"):
        out += _filter_expression_problems(f"{where}.not", f["not"])
    return out


def trigger_filter_problems(docs):
    """Every Trigger's filters are valid Knative filters: one dialect per
    expression, lowercase attribute names, no empty value; `filters` alone
    (the Kafka dispatcher ignores `filter` when `filters` is set)."""
    out = []
    for t in _of_kind(docs, "Trigger").values():
        me = f"Trigger/{_name(t)}"
        spec = t.get("spec") or {}
        attributes = (spec.get("filter") or {}).get("attributes") or {}
        if attributes and spec.get("filters"):
            out.append(f"{me}: both spec.filter and spec.filters; the Kafka dispatcher uses only filters "
                       f"({FILTER_RULES['filters over filter']})")
        for attribute, value in attributes.items():
            if not ATTRIBUTE_NAME.match(str(attribute)):
                out.append(f"{me}: spec.filter.attributes {attribute!r} is not ^[a-z][a-z0-9]*$ ({FILTER_RULES['attribute names']})")
            if value in (None, ""):
                out.append(f"{me}: spec.filter.attributes.{attribute} is empty: it matches every event")
        for i, f in enumerate(spec.get("filters") or []):
            out += _filter_expression_problems(f"{me}: spec.filters[{i}]", f)
    return out


DELIVERY_ORDER = "kafka.eventing.knative.dev/delivery.order"
DELIVERY_ORDERS = {"ordered", "unordered"}  # case-insensitive
DELIVERY_ORDER_SOURCE = EKB + "control-plane/pkg/reconciler/trigger/v2/triggerv2.go (deliveryOrderingFromString)"


def trigger_delivery_problems(docs):
    """Every Trigger: of a Broker in the render; delivery.order `unordered`
    (ordered or unordered are the only values; PACT wants unordered, as on
    its KafkaSources); retries with exponential backoff, a per-attempt
    timeout and a dead-letter sink of its own."""
    out = []
    brokers = _of_kind(docs, "Broker")
    for t in _of_kind(docs, "Trigger").values():
        me = f"Trigger/{_name(t)}"
        spec = t.get("spec") or {}
        if spec.get("broker") not in brokers:
            out.append(f"{me}: broker {spec.get('broker')!r} is not in the render")
        order = (t["metadata"].get("annotations") or {}).get(DELIVERY_ORDER)
        if order is None or str(order).lower() not in DELIVERY_ORDERS:
            out.append(f"{me}: {DELIVERY_ORDER} is {order!r}; the Kafka Broker takes only {sorted(DELIVERY_ORDERS)} "
                       f"({DELIVERY_ORDER_SOURCE}), and PACT sets unordered explicitly")
        elif str(order).lower() != "unordered":
            out.append(f"{me}: {DELIVERY_ORDER} is {order!r}: one event at a time per partition starves contactlog's "
                       "group commit (knative/base/eventing.yaml)")
        delivery = spec.get("delivery") or {}
        if not delivery.get("retry") or delivery.get("backoffPolicy") != "exponential" \
                or "deadLetterSink" not in delivery or not delivery.get("timeout"):
            out.append(f"{me}: delivery needs retry, exponential backoff, a timeout and a deadLetterSink")
    return out


def reply_mode_problems(docs):
    """A function a Trigger delivers to and no SinkBinding binds answers in
    reply mode: PACT_REQUIRE_SINK must not be true there, or it answers 503
    to every event (no K_SINK will ever come) and all end as dead letters."""
    out = []
    bound = {b["spec"]["subject"].get("name") for b in _of_kind(docs, "SinkBinding").values()}
    by_name = {_name(d): d for d in ksvcs(docs)}
    for t in _of_kind(docs, "Trigger").values():
        ref = ((t.get("spec") or {}).get("subscriber") or {}).get("ref") or {}
        ksvc = by_name.get(ref.get("name")) if ref.get("apiVersion") == "serving.knative.dev/v1" else None
        if ksvc is None or _name(ksvc) in bound:
            continue
        env = {e["name"]: e.get("value") for e in serving_container(ksvc).get("env") or []}
        if env.get("PACT_REQUIRE_SINK") == "true":
            out.append(f"ksvc/{_name(ksvc)}: subscriber of Trigger/{_name(t)} with no SinkBinding, so no K_SINK, "
                       "but PACT_REQUIRE_SINK is \"true\": it would refuse every event instead of replying")
    return out


# Which eventing-kafka-broker workloads (namespace knative-eventing, pod label
# `app`) speak Kafka for each kind of client in a render.
DATA_PLANE = "knative-eventing"
KAFKA_PODS = {
    "KafkaSink": ("kafka-controller", "kafka-sink-receiver"),
    "KafkaSource": ("kafka-controller", "kafka-source-dispatcher"),
    "Broker": ("kafka-controller", "kafka-broker-receiver", "kafka-broker-dispatcher"),
    "Trigger": ("kafka-controller", "kafka-broker-dispatcher"),
}
KAFKA_PODS_SOURCE = (EKB + "control-plane/config/eventing-kafka-broker/200-controller/500-controller.yaml, "
                     "data-plane/config/{sink/500-receiver,source/500-dispatcher,broker/500-receiver,broker/500-dispatcher}.yaml "
                     "(pod template labels app)")


def _peer_admits(peer, namespace_labels, pod_labels):
    def selects(sel, labels):
        if sel is None:
            return True
        for k, v in (sel.get("matchLabels") or {}).items():
            if labels.get(k) != v:
                return False
        for e in sel.get("matchExpressions") or []:
            have, op = labels.get(e["key"]), e["operator"]
            if (op == "In" and have not in e["values"]) or (op == "NotIn" and have in e["values"]) \
                    or (op == "Exists" and e["key"] not in labels) or (op == "DoesNotExist" and e["key"] in labels):
                return False
        return True
    if "namespaceSelector" not in peer and "podSelector" in peer:
        return False  # a podSelector alone selects pods of Kafka's own namespace
    return selects(peer.get("namespaceSelector"), namespace_labels) and selects(peer.get("podSelector"), pod_labels)


def kafka_peer_problems(docs):
    """Each Kafka listener with networkPolicyPeers (Strimzi's NetworkPolicy)
    admits every eventing-kafka-broker pod the render's clients need."""
    out = []
    needed = sorted({app for d in docs if d.get("kind") in KAFKA_PODS for app in KAFKA_PODS[d["kind"]]})
    for k in _of_kind(docs, "Kafka").values():
        for listener in k["spec"]["kafka"]["listeners"]:
            peers = listener.get("networkPolicyPeers")
            if peers is None:
                continue
            for app in needed:
                pod = {"app": app}
                if not any(_peer_admits(p, {"kubernetes.io/metadata.name": DATA_PLANE}, pod) for p in peers):
                    out.append(f"Kafka/{_name(k)} listener {listener['name']}: networkPolicyPeers do not admit "
                               f"{DATA_PLANE} pods app={app}, which reach Kafka for this render ({KAFKA_PODS_SOURCE})")
    return out


# The Kafka Broker's data plane, as released (eventing-kafka-broker.yaml),
# for summing a kind node in the broker topology.
PLATFORM_BROKER = (
    Workload("knative-eventing", "kafka-broker-receiver", "kafka-broker-receiver", 1, "200m", "450Mi",
             EKB + "data-plane/config/broker/500-receiver.yaml"),
    Workload("knative-eventing", "kafka-broker-dispatcher", "kafka-broker-dispatcher", 1, "1000m", "700Mi",
             EKB + "data-plane/config/broker/500-dispatcher.yaml (one pod: POD_CAPACITY 20, three Triggers)"),
)
KIND_PLATFORM_BROKER_PATCH = ROOT / "knative/platform/kind-requests-broker.yaml"
