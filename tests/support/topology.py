"""The pipeline's topology, pipeline.toml at the root of the repository (the
one list of its stages, docs/architecture.md), and the checks of the files
that cannot read it: knative/base (tests/manifests), the Dockerfile,
scripts/images.sh and tekton/pipeline.yaml (tests/tekton).

Each check returns readable problems, empty when the file agrees with the
table; the suites call them on the real files and on broken variants.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load(text: str | None = None) -> dict:
    """The table (pipeline.toml, or `text`)."""
    return tomllib.loads(text if text is not None else (ROOT / "pipeline.toml").read_text())


TOPOLOGY = load()


def with_a_new_stage() -> dict:
    """The table with one more function, pact-gateway, fed from
    pact-notifications and emitting to pact-delivered, and nothing else
    changed: what a person adding a stage writes first. The suites check
    that every file still to touch is then named by a problem."""
    return load((ROOT / "pipeline.toml").read_text() + """
[[functions]]
name = "gateway"
port_offset = 6
reads = "pact-notifications"
emits_to = "pact-delivered"
endpoints = "POST / (CloudEvents)"
""")


def names(t: dict = TOPOLOGY) -> list[str]:
    """Short names of the functions, in the order of the flow."""
    return [f["name"] for f in t["functions"]]


def services(t: dict = TOPOLOGY) -> list[str]:
    """`pact-<name>`: crate, binary, Knative Service and image of each function."""
    return [f"pact-{n}" for n in names(t)]


def public(t: dict = TOPOLOGY) -> set[str]:
    """The Knative Services reachable from outside the cluster."""
    return {f"pact-{f['name']}" for f in t["functions"] if f.get("public")}


def all_topics(t: dict = TOPOLOGY) -> list[str]:
    """Every topic, in the order of the flow, the dead-letter topic last."""
    out = []
    for f in t["functions"]:
        for topic in (f.get("reads"), f.get("emits_to")):
            if topic and topic not in out:
                out.append(topic)
    return out + [t["dead_letter_topic"]]


def outputs(t: dict = TOPOLOGY) -> list[str]:
    """The pipeline's outputs: topics a function emits to and none reads,
    which systems outside it consume (pact-notifications). Each keeps its
    topic, KafkaSink and KafkaUser in both topologies, and its emitter a
    SinkBinding to that KafkaSink: it never replies."""
    read = {f.get("reads") for f in t["functions"]}
    return list(dict.fromkeys(f["emits_to"] for f in t["functions"] if f.get("emits_to") and f["emits_to"] not in read))


def kafka_users(t: dict = TOPOLOGY) -> list[str]:
    """The KafkaUser of each KafkaSink (`pact-sink-<topic>`, without the
    topic's `pact-`) and of each KafkaSource (`pact-source-<function>`)."""
    sinks = [f"pact-sink-{topic.removeprefix('pact-')}" for topic in all_topics(t)]
    return sinks + [f"pact-source-{f['name']}" for f in t["functions"] if f.get("reads")]


def broker(t: dict = TOPOLOGY) -> dict:
    """The broker topology's [broker] table."""
    return t["broker"]


def broker_topic(t: dict = TOPOLOGY) -> str:
    """The Broker's topic, knative-broker-<namespace>-<name> (the Kafka
    Broker's brokers-topic-template)."""
    return f"knative-broker-{broker(t)['namespace']}-{broker(t)['name']}"


def triggers(t: dict = TOPOLOGY) -> dict[str, dict]:
    """{Trigger name: function} for each function that reads: `pact-<name>`."""
    return {f"pact-{f['name']}": f for f in t["functions"] if f.get("reads")}


def trigger_group(trigger: str, t: dict = TOPOLOGY) -> str:
    """A Trigger's consumer group, knative-trigger-<namespace>-<trigger>
    (the Kafka Broker's triggers-consumergroup-template)."""
    return f"knative-trigger-{broker(t)['namespace']}-{trigger}"


def raw_reader(t: dict = TOPOLOGY) -> dict:
    """The function that reads `raw_topic` in the explicit topology: its
    consumer group is kept by the broker topology's KafkaSource of that topic."""
    return next(f for f in t["functions"] if f.get("reads") == broker(t)["raw_topic"])


def broker_kafka_users(t: dict = TOPOLOGY) -> list[str]:
    """The KafkaUsers of the broker topology: the dead-letter KafkaSink's,
    the raw topic's KafkaSource's (as in the explicit topology), the
    Broker's own, `<broker>-broker`, and the KafkaSink's of each output."""
    return [f"pact-sink-{t['dead_letter_topic'].removeprefix('pact-')}", f"pact-source-{raw_reader(t)['name']}",
            f"{broker(t)['name']}-broker"] + [f"pact-sink-{topic.removeprefix('pact-')}" for topic in outputs(t)]


# ------------------------------------------------------------ knative/

def _of(docs, kind, api_version=None):
    return {d["metadata"]["name"]: d for d in docs
            if d.get("kind") == kind and (api_version is None or d.get("apiVersion") == api_version)}


def _differ(what, have, want):
    if set(have) == set(want):
        return []
    return [f"{what}: the render has {sorted(have)}, pipeline.toml makes {sorted(want)}"]


def knative_problems(docs: list[dict], t: dict = TOPOLOGY) -> list[str]:
    """Where rendered manifests disagree with the table: the Knative
    Services, the KafkaSource feeding each function (named after its topic,
    consumer group pact-<name>, dead letters to the dead-letter sink), the
    SinkBinding giving each emitter its K_SINK, a KafkaSink and a KafkaTopic
    per topic, the PingSources, and DATABASE_URL only where the table says."""
    out = []
    ksvcs = _of(docs, "Service", "serving.knative.dev/v1")
    sources = _of(docs, "KafkaSource")
    bindings = _of(docs, "SinkBinding")
    sinks = _of(docs, "KafkaSink")
    pings = _of(docs, "PingSource")
    out += _differ("Knative Services", ksvcs, services(t))
    out += _differ("KafkaSources", sources, [f["reads"] for f in t["functions"] if f.get("reads")])
    out += _differ("SinkBindings", bindings,
                   [f"pact-{f['name']}-sink" for f in t["functions"] if f.get("emits_to")])
    out += _differ("KafkaSinks", sinks, all_topics(t))
    out += _differ("KafkaTopics", _of(docs, "KafkaTopic"), all_topics(t))
    out += _differ("KafkaUsers", _of(docs, "KafkaUser"), kafka_users(t))
    out += _differ("PingSources", pings, [f["ping_source"] for f in t["functions"] if f.get("ping_source")])
    out += _database_policy_problems(docs, t)
    out += output_problems(docs, t)
    for name, sink in sinks.items():
        if sink["spec"]["topic"] != name:
            out.append(f"KafkaSink/{name}: writes topic {sink['spec']['topic']}, not the topic it is named after")
    for f in t["functions"]:
        service = f"pact-{f['name']}"
        topic = f.get("reads")
        if topic in sources:
            spec = sources[topic]["spec"]
            me = f"KafkaSource/{topic}"
            if spec["topics"] != [topic]:
                out.append(f"{me}: reads {spec['topics']}, pipeline.toml says [{topic}]")
            if spec.get("consumerGroup") != service:
                out.append(f"{me}: consumerGroup {spec.get('consumerGroup')}, pipeline.toml makes {service}")
            if spec["sink"]["ref"]["name"] != service:
                out.append(f"{me}: feeds {spec['sink']['ref']['name']}, pipeline.toml says {service}")
            dead = ((spec.get("delivery") or {}).get("deadLetterSink") or {}).get("ref", {}).get("name")
            if dead != t["dead_letter_topic"]:
                out.append(f"{me}: dead letters go to {dead}, pipeline.toml says {t['dead_letter_topic']}")
        binding = bindings.get(f"pact-{f['name']}-sink")
        if f.get("emits_to") and binding is not None:
            me = f"SinkBinding/pact-{f['name']}-sink"
            if binding["spec"]["subject"]["name"] != service:
                out.append(f"{me}: binds {binding['spec']['subject']['name']}, pipeline.toml says {service}")
            if binding["spec"]["sink"]["ref"]["name"] != f["emits_to"]:
                out.append(f"{me}: K_SINK is {binding['spec']['sink']['ref']['name']}, "
                           f"pipeline.toml says {f['emits_to']}")
        ping = pings.get(f.get("ping_source"))
        if ping is not None and ping["spec"]["sink"]["ref"]["name"] != service:
            out.append(f"PingSource/{f['ping_source']}: pings {ping['spec']['sink']['ref']['name']}, "
                       f"pipeline.toml says {service}")
        if service in ksvcs:
            env = {e["name"] for c in ksvcs[service]["spec"]["template"]["spec"]["containers"]
                   for e in c.get("env") or []}
            if ("DATABASE_URL" in env) != bool(f.get("database")):
                out.append(f"ksvc/{service}: DATABASE_URL {'set' if 'DATABASE_URL' in env else 'missing'}, "
                           f"pipeline.toml says database = {f.get('database')!r}")
    return out


def _env(ksvc) -> dict:
    return {e["name"]: e.get("value") for c in ksvc["spec"]["template"]["spec"]["containers"]
            for e in c.get("env") or []}


DAY_MS = 24 * 3600 * 1000


def output_problems(docs: list[dict], t: dict = TOPOLOGY) -> list[str]:
    """In either topology, each output (`outputs`) keeps its KafkaTopic and
    KafkaSink, and the function that emits to it never runs in reply mode:
    its SinkBinding points at that KafkaSink (not a Broker, which no
    gateway reads) and it sets PACT_REQUIRE_SINK=true (a revision without
    K_SINK would answer in reply mode, and a KafkaSource or Trigger would
    drop or misroute its output). An output holds personal data read
    outside the pipeline: kept as long as the contacts (the retention.ms of
    its KafkaTopic = PACT_RETENTION_DAYS of the function that purges them),
    and no longer."""
    out = []
    ksvcs = _of(docs, "Service", "serving.knative.dev/v1")
    bindings = _of(docs, "SinkBinding")
    topics = _of(docs, "KafkaTopic")
    retention = {_env(k).get("PACT_RETENTION_DAYS") for k in ksvcs.values()} - {None}
    for topic in outputs(t):
        if topic not in _of(docs, "KafkaSink"):
            out.append(f"output {topic}: no KafkaSink {topic}; the gateway outside reads its topic in either topology")
        if topic not in topics:
            out.append(f"output {topic}: no KafkaTopic {topic}")
        else:
            kept = (topics[topic]["spec"].get("config") or {}).get("retention.ms")
            want = {int(days) * DAY_MS for days in retention}
            if len(want) != 1 or int(kept or 0) not in want:
                out.append(f"KafkaTopic/{topic}: retention.ms {kept}, not the contacts' retention "
                           f"({sorted(want)} ms, PACT_RETENTION_DAYS): an output holds personal data")
        for f in t["functions"]:
            if f.get("emits_to") != topic:
                continue
            service, name = f"pact-{f['name']}", f"pact-{f['name']}-sink"
            binding = bindings.get(name)
            ref = ((binding or {}).get("spec", {}).get("sink") or {}).get("ref") or {}
            if binding is None:
                out.append(f"{service}: no SinkBinding {name}; it emits to the output {topic} and would reply instead")
            elif (ref.get("kind"), ref.get("name")) != ("KafkaSink", topic):
                out.append(f"SinkBinding/{name}: K_SINK is {ref.get('kind')} {ref.get('name')}, "
                           f"pipeline.toml's output {topic} needs KafkaSink {topic}")
            if service in ksvcs and _env(ksvcs[service]).get("PACT_REQUIRE_SINK") != "true":
                out.append(f"ksvc/{service}: PACT_REQUIRE_SINK is {_env(ksvcs[service]).get('PACT_REQUIRE_SINK')!r}, "
                           f"not \"true\": without K_SINK it would reply, and its output {topic} would be lost")
    return out


def _database_policy_problems(docs, t):
    """The NetworkPolicy in front of pact-postgres lets in exactly the
    functions with a `database` in the table."""
    want = [f"pact-{f['name']}" for f in t["functions"] if f.get("database")]
    out = []
    for name, policy in _of(docs, "NetworkPolicy").items():
        labels = (policy["spec"].get("podSelector") or {}).get("matchLabels") or {}
        if labels.get("app.kubernetes.io/name") != "pact-postgres":
            continue
        allowed = [v for rule in policy["spec"].get("ingress") or [] for peer in rule.get("from") or []
                   for e in (peer.get("podSelector") or {}).get("matchExpressions") or []
                   if e["key"] == "serving.knative.dev/service" and e["operator"] == "In"
                   for v in e["values"]]
        out += _differ(f"NetworkPolicy/{name}: the functions let in", allowed, want)
    return out


KIND_UP_USERS = re.compile(
    r'^users="\$\(kubectl get -k "\$ROOT/knative/overlays/\$OVERLAY" -o name \| '
    r"sed -n 's\|\^kafkauser\\\.kafka\\\.strimzi\\\.io/\|\|p'\)\"$", re.M)


def kind_up_problems(text: str, t: dict = TOPOLOGY) -> list[str]:
    """scripts/kind-up.sh builds an image per function (and the CLI) and
    creates the Kafka auth Secret of every KafkaUser: of those the overlay
    it applied renders (`kubectl get -k` of that overlay, kept to the
    KafkaUsers), so it follows the table whenever the render does
    (knative_problems, broker_problems); tests/manifests/test_guide.py runs
    that filter on each overlay's render."""
    out = []
    built = re.search(r"^\s*functions=\(([a-z0-9 ]+)\)$", text, re.M)
    have = built.group(1).split() if built else []
    if have != names(t) + ["cli"]:
        out.append(f"scripts/kind-up.sh: builds images of {have}, pipeline.toml makes {names(t) + ['cli']}")
    if not KIND_UP_USERS.search(text) or not re.search(r"^for user in \$users; do$", text, re.M) \
            or 'create secret generic "knative-$user"' not in text:
        out.append("scripts/kind-up.sh: the Kafka auth Secrets are not made for the KafkaUsers of the overlay "
                   "it applies (users=\"$(kubectl get -k ... -o name | sed ...)\"; for user in $users; do)")
    return out


def kafka_secrets_problems(where: str, text: str, t: dict = TOPOLOGY, users: list[str] | None = None) -> list[str]:
    """The `for user in ...; do` loop that makes the `knative-<user>` Kafka
    auth Secrets (scripts/kind-up.sh, docs/deploy.md; docs/topologies.md with
    the broker topology's `users`) covers every KafkaUser."""
    want = kafka_users(t) if users is None else users
    found = re.search(r"^for user in ([a-z0-9 \\\n-]+); do$", text, re.M)
    listed = found.group(1).replace("\\", " ").split() if found else []
    if sorted(listed) != sorted(want):
        return [f"{where}: makes Kafka auth Secrets for {listed}, pipeline.toml makes the KafkaUsers {want}"]
    return []


# ---------------------------------------------- Dockerfile, images.sh

def dockerfile_problems(text: str, t: dict = TOPOLOGY) -> list[str]:
    """The Dockerfile's FUNCTION case builds pact-<name> for exactly the
    table's functions (and `cli`, the pact tool), and its error says so."""
    out = []
    case = re.search(r'^\s*([a-z0-9|]+)\) package="pact-\$\{FUNCTION\}"', text, re.M)
    have = case.group(1).split("|") if case else []
    if have != names(t):
        out.append(f"Dockerfile: FUNCTION builds pact-<name> for {have}, pipeline.toml lists {names(t)}")
    want = ", ".join(names(t)) + " or cli"
    if f"FUNCTION must be {want}" not in text:
        out.append(f"Dockerfile: its error message should say 'FUNCTION must be {want}'")
    return out


def images_script_problems(text: str, t: dict = TOPOLOGY) -> list[str]:
    """scripts/images.sh builds every function of the table and the CLI by
    default, and maps each to its binary pact-<name>."""
    out = []
    default = re.search(r"else functions=\(([a-z0-9 ]+)\); fi", text)
    have = default.group(1).split() if default else []
    if have != names(t) + ["cli"]:
        out.append(f"scripts/images.sh: builds {have} by default, pipeline.toml makes {names(t) + ['cli']}")
    case = re.search(r'^\s*([a-z0-9 |]+)\) echo "pact-\$1" ;;', text, re.M)
    mapped = [n.strip() for n in case.group(1).split("|")] if case else []
    if mapped != names(t):
        out.append(f"scripts/images.sh: binary_of knows {mapped}, pipeline.toml lists {names(t)}")
    return out


# ------------------------------------------------------------- tekton/

def tekton_problems(pipeline: dict, t: dict = TOPOLOGY) -> list[str]:
    """The CI pipeline builds each function as task build-<name> (FUNCTION
    <name>, image pact-<name>) and deploys exactly those images."""
    out = []
    me = f"Pipeline/{pipeline['metadata']['name']}"
    tasks = {pt["name"]: pt for pt in pipeline["spec"]["tasks"]}
    builds = [n for n in tasks if n.startswith("build-")]
    want = [f"build-{n}" for n in names(t)]
    if sorted(builds) != sorted(want):
        out.append(f"{me}: has tasks {sorted(builds)}, pipeline.toml makes {sorted(want)}")
    for name in names(t):
        build = tasks.get(f"build-{name}")
        if build is None:
            continue
        given = {p["name"]: p["value"] for p in build.get("params") or []}
        if given.get("function") != name or not str(given.get("image", "")).endswith(f"/pact-{name}"):
            out.append(f"{me} task build-{name}: builds FUNCTION {given.get('function')} "
                       f"as {given.get('image')}, not {name} as pact-{name}")
    deploy = tasks.get("deploy")
    if deploy is not None:
        images = next((p["value"] for p in deploy.get("params") or [] if p["name"] == "images"), [])
        from_builds = sorted(set(re.findall(r"\$\(tasks\.(build-[a-z0-9]+)\.results\.IMAGE_URL\)", " ".join(images))))
        if from_builds != sorted(want):
            out.append(f"{me} task deploy: deploys the images of {from_builds}, pipeline.toml makes {sorted(want)}")
        if sorted(deploy.get("runAfter") or []) != sorted(want):
            out.append(f"{me} task deploy: runs after {sorted(deploy.get('runAfter') or [])}, not {sorted(want)}")
    return out


# ------------------------------------------- knative/components/broker

def _to_broker(doc, b):
    ref = ((doc.get("spec") or {}).get("sink") or {}).get("ref") or {}
    return ref.get("kind") == "Broker" and ref.get("name") == b["name"]


def passes(filters: list[dict], event: dict) -> bool:
    """Whether `event` (its attributes) passes a Trigger's spec.filters, as
    Knative evaluates them (knative/eventing pkg/eventfilter/subscriptionsapi:
    the list and `all` are AND, `any` OR, `not` negates; exact, prefix and
    suffix compare every attribute given, a missing attribute fails)."""
    def one(f):
        for dialect, test in (("exact", str.__eq__), ("prefix", str.startswith), ("suffix", str.endswith)):
            if f.get(dialect):
                return all(k in event and test(str(event[k]), str(v)) for k, v in f[dialect].items())
        if f.get("all"):
            return all(one(g) for g in f["all"])
        if f.get("any"):
            return any(one(g) for g in f["any"])
        if f.get("not"):
            return not one(f["not"])
        return True
    return all(one(f) for f in filters or [])


def routing_problems(docs: list[dict], t: dict = TOPOLOGY) -> list[str]:
    """Each event that enters the Broker from outside the functions reaches
    exactly the Trigger it should: a PingSource's ping the Trigger of its
    function (knative/eventing PingSourceSource, dev.knative.sources.ping),
    a raw record of the KafkaSource of `raw_topic` the Trigger of the function
    that reads that topic (eventing-kafka-broker KafkaEventSource,
    dev.knative.kafka.event)."""
    out = []
    b = broker(t)
    trigs = _of(docs, "Trigger")
    ns = b["namespace"]
    entering = [({"type": "dev.knative.kafka.event",
                  "source": f"/apis/v1/namespaces/{ns}/kafkasources/{b['raw_topic']}#{b['raw_topic']}"},
                 f"a raw record of KafkaSource {b['raw_topic']}", {f"pact-{raw_reader(t)['name']}"})]
    for f in t["functions"]:
        if f.get("ping_source"):
            entering.append(({"type": "dev.knative.sources.ping",
                              "source": f"/apis/v1/namespaces/{ns}/pingsources/{f['ping_source']}"},
                             f"the ping of PingSource {f['ping_source']}", {f"pact-{f['name']}"}))
    for event, what, want in entering:
        got = {name for name, trig in trigs.items() if passes(trig["spec"].get("filters"), event)}
        if got != want:
            out.append(f"{what} reaches the Triggers {sorted(got)}, not {sorted(want)}")
    return out


def broker_problems(docs: list[dict], t: dict = TOPOLOGY) -> list[str]:
    """Where a render of the broker topology disagrees with the table: the
    Knative Services; one Broker (`[broker]`, its namespace, its topic); a
    Trigger `pact-<name>` per function that reads, delivering to it exactly
    its `trigger_filters`, dead letters to the dead-letter sink, its consumer
    group allowed to the Broker's KafkaUser, the pings and raw records
    routed to the right one (routing_problems); the KafkaSource named after
    `raw_topic` feeding the Broker (keeping the explicit topology's consumer
    group); a SinkBinding to the Broker only for the functions that emit and
    read nothing (the others reply), except that an output's emitter keeps
    its SinkBinding to the output's KafkaSink (output_problems); the
    PingSources to the Broker; the KafkaSinks, KafkaTopics and KafkaUsers
    left; everything in the Broker's namespace; DATABASE_URL and
    pact-postgres' door as in the explicit one."""
    out = []
    b = broker(t)
    ksvcs = _of(docs, "Service", "serving.knative.dev/v1")
    brokers = _of(docs, "Broker")
    trigs = _of(docs, "Trigger")
    sources = _of(docs, "KafkaSource")
    bindings = _of(docs, "SinkBinding")
    pings = _of(docs, "PingSource")
    users = _of(docs, "KafkaUser")
    out += _differ("Knative Services", ksvcs, services(t))
    out += _differ("Brokers", brokers, [b["name"]])
    out += _differ("Triggers", trigs, triggers(t))
    out += _differ("KafkaSources", sources, [b["raw_topic"]])
    ingress = [f for f in t["functions"]
               if f.get("emits_to") and not f.get("reads") and f["emits_to"] not in outputs(t)]
    emitters = [f for f in t["functions"] if f.get("emits_to") in outputs(t)]
    out += _differ("SinkBindings", bindings, [f"pact-{f['name']}-sink" for f in ingress + emitters])
    out += _differ("KafkaSinks", _of(docs, "KafkaSink"), [t["dead_letter_topic"], *outputs(t)])
    out += _differ("KafkaTopics", _of(docs, "KafkaTopic"),
                   [b["raw_topic"], t["dead_letter_topic"], broker_topic(t), *outputs(t)])
    out += _differ("KafkaUsers", users, broker_kafka_users(t))
    out += _differ("PingSources", pings, [f["ping_source"] for f in t["functions"] if f.get("ping_source")])
    out += _database_policy_problems(docs, t)
    out += output_problems(docs, t)
    out += routing_problems(docs, t)
    for d in docs:
        ns = (d.get("metadata") or {}).get("namespace")
        if d.get("kind") != "Namespace" and ns != b["namespace"]:
            out.append(f"{d.get('kind')}/{d['metadata'].get('name')}: namespace {ns}, pipeline.toml's broker is in {b['namespace']}")
    if b["name"] in brokers:
        topic = (brokers[b["name"]]["metadata"].get("annotations") or {}).get("kafka.eventing.knative.dev/external.topic")
        if topic != broker_topic(t):
            out.append(f"Broker/{b['name']}: its topic is {topic}, pipeline.toml's [broker] makes {broker_topic(t)}")
    broker_user = users.get(f"{b['name']}-broker")
    groups = {acl["resource"]["name"] for acl in (broker_user or {}).get("spec", {}).get("authorization", {}).get("acls", [])
              if acl["resource"]["type"] == "group"}
    out += _differ(f"KafkaUser/{b['name']}-broker: the consumer groups", groups,
                   [trigger_group(name, t) for name in triggers(t)])
    for name, f in triggers(t).items():
        trig = trigs.get(name)
        if trig is None:
            continue
        me = f"Trigger/{name}"
        spec = trig["spec"]
        if spec.get("broker") != b["name"]:
            out.append(f"{me}: of broker {spec.get('broker')}, pipeline.toml's is {b['name']}")
        if (spec.get("subscriber") or {}).get("ref", {}).get("name") != name:
            out.append(f"{me}: delivers to {(spec.get('subscriber') or {}).get('ref', {}).get('name')}, pipeline.toml says {name}")
        if spec.get("filters") != f.get("trigger_filters"):
            out.append(f"{me}: spec.filters {spec.get('filters')} are not pipeline.toml's trigger_filters {f.get('trigger_filters')}")
        dead = ((spec.get("delivery") or {}).get("deadLetterSink") or {}).get("ref", {}).get("name")
        if dead != t["dead_letter_topic"]:
            out.append(f"{me}: dead letters go to {dead}, pipeline.toml says {t['dead_letter_topic']}")
    raw = sources.get(b["raw_topic"])
    if raw is not None:
        me = f"KafkaSource/{b['raw_topic']}"
        if raw["spec"]["topics"] != [b["raw_topic"]]:
            out.append(f"{me}: reads {raw['spec']['topics']}, pipeline.toml's raw_topic is {b['raw_topic']}")
        if not _to_broker(raw, b):
            out.append(f"{me}: does not feed Broker {b['name']}")
        group = f"pact-{raw_reader(t)['name']}"
        if raw["spec"].get("consumerGroup") != group:
            out.append(f"{me}: consumerGroup {raw['spec'].get('consumerGroup')}, the explicit topology's is {group} "
                       "(kept, so switching a cluster keeps the offsets)")
        dead = ((raw["spec"].get("delivery") or {}).get("deadLetterSink") or {}).get("ref", {}).get("name")
        if dead != t["dead_letter_topic"]:
            out.append(f"{me}: dead letters go to {dead}, pipeline.toml says {t['dead_letter_topic']}")
    for f in ingress:
        binding = bindings.get(f"pact-{f['name']}-sink")
        if binding is not None and not _to_broker(binding, b):
            out.append(f"SinkBinding/pact-{f['name']}-sink: K_SINK is not Broker {b['name']}")
    for name, ping in pings.items():
        if not _to_broker(ping, b):
            out.append(f"PingSource/{name}: does not send to Broker {b['name']}")
    for f in t["functions"]:
        service = f"pact-{f['name']}"
        if service in ksvcs:
            env = {e["name"] for c in ksvcs[service]["spec"]["template"]["spec"]["containers"]
                   for e in c.get("env") or []}
            if ("DATABASE_URL" in env) != bool(f.get("database")):
                out.append(f"ksvc/{service}: DATABASE_URL {'set' if 'DATABASE_URL' in env else 'missing'}, "
                           f"pipeline.toml says database = {f.get('database')!r}")
    return out
