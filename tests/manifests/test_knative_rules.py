"""The rules of knative_rules.py (issue 16) on the real renders, and on broken
copies that each rule must catch. The first broken variant of each rule is
the manifests as they were before issue 16."""

import copy

import knative_rules as rules
import pytest
from cluster_rules import KIND_NODE, LOCAL_REGISTRIES
from k8s import kustomize

BROKER_OVERLAYS = ["overlays/broker/kind", "overlays/broker/openshift"]
OVERLAYS = ["base", "overlays/kind", "overlays/openshift", "overlays/demo", *BROKER_OVERLAYS]
# The registries each overlay's own images may come from (None: public only).
OPENSHIFT_REGISTRY = ("image-registry.openshift-image-registry.svc:5000",)
OWN_REGISTRIES = {"overlays/kind": LOCAL_REGISTRIES, "overlays/demo": LOCAL_REGISTRIES,
                  "overlays/openshift": OPENSHIFT_REGISTRY,
                  "overlays/broker/kind": LOCAL_REGISTRIES, "overlays/broker/openshift": OPENSHIFT_REGISTRY}
KIND_OVERLAYS = ["overlays/kind", "overlays/demo"]


def render(overlay):
    return kustomize(rules.ROOT / "knative" / overlay)


def _doc(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def _container(docs, ksvc):
    return rules.serving_container(next(d for d in rules.ksvcs(docs) if d["metadata"]["name"] == ksvc))


def _env(docs, ksvc):
    return _container(docs, ksvc)["env"]


def _acls(docs, user, rtype):
    return next(a for a in _doc(docs, "KafkaUser", user)["spec"]["authorization"]["acls"] if a["resource"]["type"] == rtype)


# ------------------------------------------------------------ broken copies

def _startup_probe_without_port(docs):  # services.yaml before issue 16
    _container(docs, "pact-producer")["startupProbe"] = {"httpGet": {"path": "/healthz"}, "periodSeconds": 1, "failureThreshold": 60}


def _startup_probe_on_named_port(docs):
    _container(docs, "pact-query")["startupProbe"] = {"httpGet": {"path": "/healthz", "port": "http1"}}


def _liveness_on_another_port(docs):
    _container(docs, "pact-contactlog")["livenessProbe"]["httpGet"]["port"] = 9090


def _readiness_period(docs):  # services.yaml before issue 16
    _container(docs, "pact-translation")["readinessProbe"].update(periodSeconds=5, failureThreshold=3)


def _readiness_threshold_only(docs):
    _container(docs, "pact-query")["readinessProbe"]["failureThreshold"] = 3


def _startup_probe_with_port(docs):
    _container(docs, "pact-producer")["startupProbe"] = {"httpGet": {"path": "/healthz", "port": 8080}}


def _no_require_sink(docs):  # services.yaml before issue 16
    env = _env(docs, "pact-translation")
    env[:] = [e for e in env if e["name"] != "PACT_REQUIRE_SINK"]


def _require_sink_false(docs):
    next(e for e in _env(docs, "pact-producer") if e["name"] == "PACT_REQUIRE_SINK")["value"] = "false"


def _query_requires_its_sink(docs):
    _env(docs, "pact-query").append({"name": "PACT_REQUIRE_SINK", "value": "true"})


def _notify_without_require_sink(docs):
    env = _env(docs, "pact-notify")
    env[:] = [e for e in env if e["name"] != "PACT_REQUIRE_SINK"]


def _source(docs, name):
    return _doc(docs, "KafkaSource", name)


def _notify_timeout_at_delivery(docs):
    next(d for d in rules.ksvcs(docs) if d["metadata"]["name"] == "pact-notify")["spec"]["template"]["spec"]["timeoutSeconds"] = 60


def _delivery_below_the_function(docs):
    _source(docs, "pact-cases")["spec"]["delivery"]["timeout"] = "PT30S"


def _serving_default_timeout(docs):
    del next(d for d in rules.ksvcs(docs) if d["metadata"]["name"] == "pact-notify")["spec"]["template"]["spec"]["timeoutSeconds"]
    _source(docs, "pact-cases")["spec"]["delivery"]["timeout"] = "PT10M"


def _timeout_not_iso(docs):
    _source(docs, "pact-cases")["spec"]["delivery"]["timeout"] = "60s"


def _no_group_delete(docs):  # users.yaml before issue 16
    _acls(docs, "pact-source-translation", "group")["operations"] = ["Read", "Describe"]


def _sink_without_describe(docs):
    _acls(docs, "pact-sink-translated", "topic")["operations"] = ["Write"]


def _extra_topic_create(docs):
    _acls(docs, "pact-sink-deadletter", "topic")["operations"].append("Create")


def _kafka_asks_for_more(docs):
    _doc(docs, "KafkaNodePool", "dual-role")["spec"]["resources"]["requests"]["cpu"] = "1"


def _postgres_asks_for_more(docs):
    _doc(docs, "StatefulSet", "pact-postgres")["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] = "6Gi"


def _unqualified_postgres(docs):
    _doc(docs, "StatefulSet", "pact-postgres")["spec"]["template"]["spec"]["containers"][0]["image"] = "postgres:17.6-bookworm"


def _latest_postgres(docs):
    _doc(docs, "StatefulSet", "pact-postgres")["spec"]["template"]["spec"]["containers"][0]["image"] = "docker.io/library/postgres:latest"


def _untagged_function(docs):
    _container(docs, "pact-query")["image"] = "localhost/pact-query"


def _kind_image_elsewhere(docs):
    _container(docs, "pact-query")["image"] = "localhost/pact-query:dev"


# rule -> {case: (mutation, expected words in a problem)}
BREAKS = {
    rules.probe_port_problems: {
        "startupProbe without a port": (_startup_probe_without_port, "ksvc/pact-producer: startupProbe.httpGet.port is None; Knative copies"),
        "startupProbe on a named port": (_startup_probe_on_named_port, "startupProbe.httpGet.port is 'http1'"),
        "livenessProbe on another port": (_liveness_on_another_port, "ksvc/pact-contactlog: livenessProbe.httpGet.port is 9090; leave it unset"),
    },
    rules.aggressive_readiness_problems: {
        "readiness periodSeconds set": (_readiness_period, "ksvc/pact-translation: readinessProbe.periodSeconds turns off"),
        "readiness failureThreshold without periodSeconds": (_readiness_threshold_only, "Knative refuses readinessProbe failureThreshold"),
        "a startupProbe, even with its port": (_startup_probe_with_port, "ksvc/pact-producer: a startupProbe makes the activator wait"),
    },
    rules.require_sink_problems: {
        "SinkBinding subject without PACT_REQUIRE_SINK": (_no_require_sink, "ksvc/pact-translation: subject of SinkBinding/pact-translation-sink but PACT_REQUIRE_SINK is None"),
        "PACT_REQUIRE_SINK false": (_require_sink_false, "ksvc/pact-producer: subject of SinkBinding/pact-producer-sink but PACT_REQUIRE_SINK is 'false'"),
        "pact-query unready until its sink is": (_query_requires_its_sink, "ksvc/pact-query: PACT_REQUIRE_SINK is \"true\": it would be unready, reads and all"),
        "the output's emitter without PACT_REQUIRE_SINK": (_notify_without_require_sink, "ksvc/pact-notify: subject of SinkBinding/pact-notify-sink but PACT_REQUIRE_SINK is None"),
    },
    rules.delivery_timeout_problems: {
        "ksvc timeout no longer than the delivery's": (_notify_timeout_at_delivery, "KafkaSource/pact-cases: delivery.timeout PT60S is not below ksvc/pact-notify's timeoutSeconds 60"),
        "delivery timeout below the function's own": (_delivery_below_the_function, "KafkaSource/pact-cases: delivery.timeout PT30S is below ksvc/pact-notify's PACT_REQUEST_TIMEOUT_S 50"),
        "Serving's default timeoutSeconds": (_serving_default_timeout, "delivery.timeout PT10M is not below ksvc/pact-notify's timeoutSeconds 300"),
        "not an ISO 8601 duration": (_timeout_not_iso, "KafkaSource/pact-cases: delivery.timeout '60s' is not an ISO 8601 duration"),
    },
    rules.kafka_acl_problems: {
        "KafkaSource user without group Delete": (_no_group_delete, "KafkaSource/pact-untranslated: KafkaUser pact-source-translation may not Delete group pact-translation"),
        "KafkaSink user without topic Describe": (_sink_without_describe, "KafkaSink/pact-translated: KafkaUser pact-sink-translated may not Describe topic pact-translated"),
        "an operation no client performs": (_extra_topic_create, "KafkaUser/pact-sink-deadletter: Create on topic pact-deadletter is not an operation"),
    },
}
CASES = [(rule, case) for rule in BREAKS for case in BREAKS[rule]]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("rule", list(BREAKS), ids=lambda r: r.__name__)
def test_rule_holds(rule, overlay):
    assert rule(render(overlay)) == []


@pytest.mark.parametrize("rule,case", CASES, ids=[case for _, case in CASES])
def test_rule_bites(rule, case):
    mutate, expected = BREAKS[rule][case]
    docs = render("overlays/demo")
    assert rule(copy.deepcopy(docs)) == []
    mutate(docs)
    found = rule(docs)
    assert any(expected in p for p in found), found


# ------------------------------------------ the broker topology, broken

def _not_kafka_class(docs):
    _doc(docs, "Broker", "pact")["metadata"]["annotations"]["eventing.knative.dev/broker.class"] = "MTChannelBasedBroker"


def _config_in_a_secret(docs):
    _doc(docs, "Broker", "pact")["spec"]["config"].update(kind="Secret", apiVersion="v1")


def _no_partitions(docs):
    del _doc(docs, "ConfigMap", "pact-broker-config")["data"]["default.topic.partitions"]


def _zero_replication(docs):
    _doc(docs, "ConfigMap", "pact-broker-config")["data"]["default.topic.replication.factor"] = "0"


def _key_typo(docs):
    data = _doc(docs, "ConfigMap", "pact-broker-config")["data"]
    data["bootstrap.server"] = data.pop("bootstrap.servers")


def _no_auth_secret(docs):
    del _doc(docs, "ConfigMap", "pact-broker-config")["data"]["auth.secret.ref.name"]


def _no_external_topic(docs):
    del _doc(docs, "Broker", "pact")["metadata"]["annotations"]["kafka.eventing.knative.dev/external.topic"]


def _replication_disagrees(docs):
    _doc(docs, "ConfigMap", "pact-broker-config")["data"]["default.topic.replication.factor"] = "3"


def _filter(docs, trigger="pact-translation"):
    return _doc(docs, "Trigger", trigger)["spec"]["filters"][0]["any"]


def _two_dialects(docs):
    _filter(docs)[0]["prefix"] = {"source": "/pact/"}


def _uppercase_attribute(docs):
    _filter(docs)[1]["exact"] = {"Type": "dev.knative.kafka.event"}


def _empty_value(docs):
    _filter(docs, "pact-contactlog")[1]["exact"]["source"] = ""


def _filter_and_filters(docs):
    _doc(docs, "Trigger", "pact-contactlog")["spec"]["filter"] = {"attributes": {"type": "dev.pact.contact.translated"}}


def _unknown_dialect(docs):
    _filter(docs)[0] = {"equals": {"type": "dev.pact.contact.untranslated"}}


def _two_dialects_under_not(docs):
    _filter(docs).append({"not": {"exact": {"type": "a"}, "suffix": {"type": "b"}}})


def _order_misspelt(docs):
    _doc(docs, "Trigger", "pact-contactlog")["metadata"]["annotations"]["kafka.eventing.knative.dev/delivery.order"] = "unorderd"


def _ordered(docs):
    _doc(docs, "Trigger", "pact-translation")["metadata"]["annotations"]["kafka.eventing.knative.dev/delivery.order"] = "Ordered"


def _no_timeout(docs):
    del _doc(docs, "Trigger", "pact-contactlog")["spec"]["delivery"]["timeout"]


def _broker_typo(docs):
    _doc(docs, "Trigger", "pact-translation")["spec"]["broker"] = "default"


def _reply_mode_refused(docs):
    next(e for e in _env(docs, "pact-translation") if e["name"] == "PACT_REQUIRE_SINK")["value"] = "true"


def _notify_trigger_past_the_revision(docs):
    _doc(docs, "Trigger", "pact-notify")["spec"]["delivery"]["timeout"] = "PT2M"


def _contactlog_works_longer(docs):
    _env(docs, "pact-contactlog").append({"name": "PACT_REQUEST_TIMEOUT_S", "value": "45"})


def _peers(docs):
    return _doc(docs, "Kafka", "pact-cluster")["spec"]["kafka"]["listeners"][0]["networkPolicyPeers"]


def _peers_without_dispatcher(docs):
    _peers(docs)[0]["podSelector"]["matchExpressions"][0]["values"].remove("kafka-broker-dispatcher")


def _peers_pods_only(docs):
    del _peers(docs)[0]["namespaceSelector"]


def _broker_user_without_write(docs):
    _acls(docs, "pact-broker", "topic")["operations"] = ["Read", "Describe"]


def _broker_user_creates_topics(docs):
    _acls(docs, "pact-broker", "topic")["operations"].append("Create")


def _trigger_group_without_delete(docs):
    acl = next(a for a in _doc(docs, "KafkaUser", "pact-broker")["spec"]["authorization"]["acls"]
               if a["resource"]["name"] == "knative-trigger-pact-pact-contactlog")
    acl["operations"] = ["Read", "Describe"]


BROKER_BREAKS = {
    rules.broker_problems: {
        "Broker of another class": (_not_kafka_class, "Broker/pact: annotation eventing.knative.dev/broker.class is 'MTChannelBasedBroker'"),
        "Broker config in a Secret": (_config_in_a_secret, "Broker/pact: spec.config.kind is 'Secret'"),
        "no default.topic.partitions": (_no_partitions, "ConfigMap/pact-broker-config: no default.topic.partitions"),
        "replication factor 0": (_zero_replication, "default.topic.replication.factor is '0', not a positive integer"),
        "bootstrap.servers misspelt": (_key_typo, "bootstrap.server is not a key the Kafka Broker reads"),
        "no auth Secret": (_no_auth_secret, "no auth.secret.ref.name"),
        "topic left to the controller": (_no_external_topic, "Broker/pact: no kafka.eventing.knative.dev/external.topic"),
        "ConfigMap and KafkaTopic disagree": (_replication_disagrees, "default.topic.replication.factor '3' but KafkaTopic/knative-broker-pact-pact has replicas 1"),
    },
    rules.trigger_filter_problems: {
        "two dialects in one expression": (_two_dialects, "spec.filters[0].any[0]: several dialects ['exact', 'prefix']"),
        "an attribute name with a capital": (_uppercase_attribute, "attribute 'Type' is not ^[a-z][a-z0-9]*$"),
        "an empty exact value": (_empty_value, "spec.filters[0].any[1].exact.source: an empty value"),
        "filter and filters": (_filter_and_filters, "Trigger/pact-contactlog: both spec.filter and spec.filters"),
        "no such dialect": (_unknown_dialect, "['equals'] is no filter dialect"),
        "two dialects under not": (_two_dialects_under_not, "any[2].not: several dialects ['exact', 'suffix']"),
    },
    rules.trigger_delivery_problems: {
        "delivery.order misspelt": (_order_misspelt, "Trigger/pact-contactlog: kafka.eventing.knative.dev/delivery.order is 'unorderd'"),
        "delivery.order ordered": (_ordered, "delivery.order is 'Ordered': one event at a time per partition"),
        "no per-attempt timeout": (_no_timeout, "Trigger/pact-contactlog: delivery needs retry, exponential backoff, a timeout"),
        "a Broker not in the render": (_broker_typo, "Trigger/pact-translation: broker 'default' is not in the render"),
    },
    rules.reply_mode_problems: {
        "PACT_REQUIRE_SINK on a replying function": (_reply_mode_refused, "ksvc/pact-translation: subscriber of Trigger/pact-translation with no SinkBinding"),
    },
    rules.delivery_timeout_problems: {
        "Trigger timeout past the revision's": (_notify_trigger_past_the_revision, "Trigger/pact-notify: delivery.timeout PT2M is not below ksvc/pact-notify's timeoutSeconds 90"),
        "function limit past its Trigger's timeout": (_contactlog_works_longer, "Trigger/pact-contactlog: delivery.timeout PT30S is below ksvc/pact-contactlog's PACT_REQUEST_TIMEOUT_S 45"),
    },
    rules.kafka_peer_problems: {
        "listener closed to the broker dispatcher": (_peers_without_dispatcher, "do not admit knative-eventing pods app=kafka-broker-dispatcher"),
        "peer without namespaceSelector": (_peers_pods_only, "do not admit knative-eventing pods app=kafka-controller"),
    },
    rules.kafka_acl_problems: {
        "broker user without topic Write (replies)": (_broker_user_without_write, "Broker/pact: KafkaUser pact-broker may not Write topic knative-broker-pact-pact"),
        "broker user may create topics": (_broker_user_creates_topics, "KafkaUser/pact-broker: Create on topic knative-broker-pact-pact is not an operation"),
        "Trigger group without Delete": (_trigger_group_without_delete, "Trigger/pact-contactlog: KafkaUser pact-broker may not Delete group knative-trigger-pact-pact-contactlog"),
    },
}
BROKER_CASES = [(rule, case) for rule in BROKER_BREAKS for case in BROKER_BREAKS[rule]]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("rule", list(BROKER_BREAKS), ids=lambda r: r.__name__)
def test_broker_rule_holds(rule, overlay):
    assert rule(render(overlay)) == []


@pytest.mark.parametrize("rule,case", BROKER_CASES, ids=[case for _, case in BROKER_CASES])
def test_broker_rule_bites(rule, case):
    mutate, expected = BROKER_BREAKS[rule][case]
    docs = render("overlays/broker/kind")
    assert rule(copy.deepcopy(docs)) == []
    mutate(docs)
    found = rule(docs)
    assert any(expected in p for p in found), found


# --------------------------------------------------- requests on a kind node

@pytest.mark.parametrize("overlay", KIND_OVERLAYS)
def test_fits_a_kind_node(overlay):
    assert rules.node_fit_problems(render(overlay), rules.platform_overrides()) == []


def test_the_broker_topology_fits_a_kind_node():
    # + the Kafka Broker's receiver and dispatcher, with kind-requests-broker.yaml
    overrides = rules.platform_overrides(rules.KIND_PLATFORM_PATCH, rules.KIND_PLATFORM_BROKER_PATCH)
    docs = render("overlays/broker/kind")
    assert rules.node_fit_problems(docs, overrides, extra=rules.PLATFORM_BROKER) == []
    assert rules.total(rules.pact_pods(docs) + rules.platform_pods(overrides, rules.PLATFORM_BROKER))["cpu"] == 3820
    # without that patch, the node is over-committed
    found = rules.node_fit_problems(docs, rules.platform_overrides(), extra=rules.PLATFORM_BROKER)
    assert any("requests 4820m CPU; only 4000m is free" in p for p in found), found


# case -> (mutation, with knative/platform/kind-requests.yaml applied, expected words)
NODE_BREAKS = {
    "Kafka asks for a whole CPU": (_kafka_asks_for_more, True, "requests 4445m CPU"),
    "PostgreSQL asks for 6 GiB": (_postgres_asks_for_more, True, "Mi memory; only 8192Mi is free"),
    "the platform as released (no kind patch)": (None, False, "requests 4445m CPU; only 4000m is free"),
}


@pytest.mark.parametrize("case", sorted(NODE_BREAKS))
def test_node_fit_bites(case):
    mutate, patched, expected = NODE_BREAKS[case]
    docs = render("overlays/demo")
    if mutate:
        mutate(docs)
    found = rules.node_fit_problems(docs, rules.platform_overrides() if patched else {})
    assert any(expected in p for p in found), found


def test_node_sum_counts_every_pod():
    # guards the sum itself: every function with its queue-proxy, PostgreSQL,
    # the Kafka node, the simulator, and every platform workload at its replicas
    pods = dict(rules.pact_pods(render("overlays/demo")))
    assert {"ksvc/pact-producer (+ queue-proxy)", "ksvc/pact-query (+ queue-proxy)", "ksvc/pact-notify (+ queue-proxy)",
            "StatefulSet/pact-postgres",
            "KafkaNodePool/dual-role", "ContainerSource/pact-simulate"} <= set(pods)
    assert pods["ksvc/pact-producer (+ queue-proxy)"]["cpu"] == 25 + rules.QUEUE_PROXY["cpu"]
    assert pods["KafkaNodePool/dual-role"] == {"cpu": 200, "memory": 1024}
    platform = rules.platform_pods({})
    assert len(platform) == sum(w.replicas for w in rules.PLATFORM)
    assert rules.total(platform)["cpu"] == 3920
    patched = rules.total(rules.platform_pods(rules.platform_overrides()))
    assert patched["cpu"] == 3120 and patched["memory"] == rules.total(platform)["memory"]
    assert KIND_NODE == {"cpu": 4000, "memory": 8192}


# ------------------------------------------------------------------ images

@pytest.mark.parametrize("overlay", sorted(OWN_REGISTRIES))
def test_images_pull_by_name(overlay):
    docs = render(overlay)
    assert rules.image_refs(docs), "no image found: the walk is broken"
    assert rules.image_rule_problems(docs, OWN_REGISTRIES[overlay]) == []


IMAGE_BREAKS = {
    "PostgreSQL without a registry": ("overlays/kind", _unqualified_postgres, "registry (none: implicit docker.io)"),
    "PostgreSQL at latest": ("overlays/demo", _latest_postgres, "`latest` moves"),
    "a function without a tag": ("overlays/kind", _untagged_function, "localhost/pact-query: no tag or digest"),
    "a kind image on OpenShift": ("overlays/openshift", _kind_image_elsewhere, "registry localhost is not one"),
}


@pytest.mark.parametrize("case", sorted(IMAGE_BREAKS))
def test_image_rule_bites(case):
    overlay, mutate, expected = IMAGE_BREAKS[case]
    docs = render(overlay)
    mutate(docs)
    found = rules.image_rule_problems(docs, OWN_REGISTRIES[overlay])
    assert any(expected in p for p in found), found
