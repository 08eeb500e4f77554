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
    """The table with one more function, pact-notify, fed from
    pact-translated and emitting to pact-notified, and nothing else changed:
    what a person adding a stage writes first. The suites check that every
    file still to touch is then named by a problem."""
    return load((ROOT / "pipeline.toml").read_text() + """
[[functions]]
name = "notify"
port_offset = 5
reads = "pact-translated"
emits_to = "pact-notified"
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


def kafka_users(t: dict = TOPOLOGY) -> list[str]:
    """The KafkaUser of each KafkaSink (`pact-sink-<topic>`, without the
    topic's `pact-`) and of each KafkaSource (`pact-source-<function>`)."""
    sinks = [f"pact-sink-{topic.removeprefix('pact-')}" for topic in all_topics(t)]
    return sinks + [f"pact-source-{f['name']}" for f in t["functions"] if f.get("reads")]


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


def kind_up_problems(text: str, t: dict = TOPOLOGY) -> list[str]:
    """scripts/kind-up.sh builds an image per function (and the CLI) and
    creates the Kafka auth Secret of every KafkaUser."""
    out = []
    built = re.search(r"^\s*functions=\(([a-z0-9 ]+)\)$", text, re.M)
    have = built.group(1).split() if built else []
    if have != names(t) + ["cli"]:
        out.append(f"scripts/kind-up.sh: builds images of {have}, pipeline.toml makes {names(t) + ['cli']}")
    return out + kafka_secrets_problems("scripts/kind-up.sh", text, t)


def kafka_secrets_problems(where: str, text: str, t: dict = TOPOLOGY) -> list[str]:
    """The `for user in ...; do` loop that makes the `knative-<user>` Kafka
    auth Secrets (scripts/kind-up.sh, docs/deploy.md) covers every KafkaUser."""
    users = re.search(r"^for user in ([a-z0-9 \\\n-]+); do$", text, re.M)
    listed = users.group(1).replace("\\", " ").split() if users else []
    if sorted(listed) != sorted(kafka_users(t)):
        return [f"{where}: makes Kafka auth Secrets for {listed}, pipeline.toml makes the KafkaUsers {kafka_users(t)}"]
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
