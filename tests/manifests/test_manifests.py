"""Checks of the cluster manifests in knative/ (issue 6, DESIGN.md section 7).

Run:  python3 -m pytest tests/manifests            (needs kubectl >= 1.27 on PATH,
      PyYAML and jsonschema: tests/manifests/requirements.txt)

1. every overlay (and the base) renders with `kubectl kustomize`;
2. every rendered document validates strictly against the schemas copied in
   tests/manifests/schemas (validate.py from ../shared/k8s-schemas; a kind
   without a schema fails);
3. consistency over the rendered output (see `problems()`), with the pipeline's
   topology (pipeline.toml, checked by topology.knative_problems), with the rules
   of Knative and eventing-kafka-broker in knative_rules.py that hold for
   every overlay (probe ports, aggressive readiness probing, PACT_REQUIRE_SINK
   on SinkBinding subjects, Kafka ACLs per operation, delivery timeouts within
   the functions' own); the overlay-specific
   ones (requests on a kind node, images) are in test_knative_rules.py;
4. negative cases: broken variants, made by mutating a rendered overlay, must be
   caught by the same checks.
The broker topology's overlays (knative/overlays/broker/*) go through the same
checks, with topology.broker_problems in place of topology.knative_problems
and the Broker/Trigger rules of knative_rules.py (docs/topologies.md).
"""
import copy
import functools
import hashlib
import re

import knative_rules
import pytest
import topology
from k8s import ROOT, kustomize, kustomize_text, schema_errors

KNATIVE = ROOT / "knative"
# The broker topology: knative/components/broker added to kind and OpenShift.
BROKER_OVERLAYS = ["overlays/broker/kind", "overlays/broker/openshift"]
OVERLAYS = ["base", "overlays/kind", "overlays/openshift", "overlays/demo", *BROKER_OVERLAYS]


def _render_text(overlay):
    return kustomize_text(KNATIVE / overlay)


def render(overlay):
    """A fresh (mutable) list of the rendered documents."""
    return kustomize(KNATIVE / overlay)


# ------------------------------------------------- settings read by the code
#
# Which environment variables a function reads is taken from the Rust sources,
# not from a copy: every `pub const NAME: &str = "NAME";` whose name equals its
# value and looks like a setting (PACT_*, K_*, PORT, DATABASE_URL) is a setting.
#  - functions/runtime/src/config.rs: the runtime settings, read by every
#    function (and by `pact simulate`, which runs as the demo ContainerSource);
#  - functions/runtime/src/database.rs: the database settings, read by the
#    functions whose crate uses the runtime's `database` module (found by grep:
#    today pact-contactlog, pact-query and pact-notify);
#  - functions/runtime/src/sender_auth/: sender authentication and the emit
#    token, read by the functions whose crate uses `sender_auth::` (found by grep);
#  - functions/<name>/src/**/*.rs: that function's own settings.
SETTING = re.compile(r'pub const ([A-Z][A-Z0-9_]*): &str = "([A-Z][A-Z0-9_]*)";')


def _settings_in(paths):
    names = set()
    for p in paths:
        for const, value in SETTING.findall(p.read_text()):
            if const == value and (value.startswith(("PACT_", "K_")) or value in ("PORT", "DATABASE_URL")):
                names.add(value)
    return names


@functools.lru_cache(maxsize=None)
def settings_read_by(function):
    """Env vars read by ksvc `function` (pact-producer, ...) or by `pact` (the CLI)."""
    runtime = ROOT / "functions/runtime/src"
    names = _settings_in([runtime / "config.rs"])
    if function == "pact":
        return frozenset(names)
    crate = ROOT / "functions" / function.removeprefix("pact-") / "src"
    assert crate.is_dir(), f"no crate for {function} at {crate}"
    sources = sorted(crate.rglob("*.rs"))
    names |= _settings_in(sources)
    if any(re.search(r"\bdatabase::", p.read_text()) for p in sources):
        names |= _settings_in([runtime / "database.rs"])
    if any(re.search(r"\bsender_auth::", p.read_text()) for p in sources):
        names |= _settings_in(sorted((runtime / "sender_auth").rglob("*.rs")))
    return frozenset(names)


# ---------------------------------------------------- documented secrets

GUIDES = ("docs/deploy.md", "docs/topologies.md")


def documented_secrets():
    """Secrets docs/deploy.md (or docs/topologies.md, for the broker topology)
    creates with a command (`... create secret generic NAME`)."""
    text = "".join((ROOT / g).read_text() for g in GUIDES)
    return set(re.findall(r"create secret generic ([a-z0-9][a-z0-9.-]*)", text))


# ----------------------------------------------------- consistency checks

def _name(doc):
    return (doc.get("metadata") or {}).get("name")


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, path + (i,))


def _containers(doc):
    spec = doc.get("spec") or {}
    tpl = (spec.get("template") or {}).get("spec") or {}
    return tpl.get("containers") or []


def _pod_labels(doc):
    """Labels the pods of a workload will carry (Knative adds serving.knative.dev/service)."""
    tpl = (doc.get("spec") or {}).get("template")
    if doc.get("kind") not in ("Service", "StatefulSet", "ContainerSource", "Deployment") or not isinstance(tpl, dict):
        return None
    labels = dict((tpl.get("metadata") or {}).get("labels") or {})
    if doc.get("apiVersion") == "serving.knative.dev/v1":
        labels["serving.knative.dev/service"] = _name(doc)
    return labels


def _selects(sel, labels):
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in sel.get("matchExpressions") or []:
        have = labels.get(e["key"])
        op = e["operator"]
        if op == "In" and have not in e["values"]:
            return False
        if op == "NotIn" and have in e["values"]:
            return False
        if op == "Exists" and e["key"] not in labels:
            return False
        if op == "DoesNotExist" and e["key"] in labels:
            return False
    return True


def _user_problems(me, d, users, docs):
    """The client authenticates as a SCRAM KafkaUser; which operations that
    user may perform is knative_rules.kafka_acl_problems."""
    secret = knative_rules.auth_secret(d, docs)
    if not secret:
        return [f"{me}: no Kafka credentials (SASL/TLS auth from a Secret is required)"]
    user = knative_rules.kafka_user(d, users, docs)
    if user is None:
        return [f"{me}: auth Secret {secret} does not name a KafkaUser (knative-<user>)"]
    if user["spec"]["authentication"]["type"] != "scram-sha-512":
        return [f"{me}: KafkaUser {_name(user)} is not SCRAM-SHA-512"]
    return []


def problems(docs):
    """Every consistency problem in a rendered overlay, as readable strings."""
    out = []
    index = {(d.get("apiVersion"), d.get("kind"), _name(d)) for d in docs}
    kinds = {(d.get("kind"), _name(d)) for d in docs}
    topics = {(d.get("spec") or {}).get("topicName") or _name(d) for d in docs if d.get("kind") == "KafkaTopic"}
    secrets_here = {_name(d) for d in docs if d.get("kind") == "Secret"}
    documented = documented_secrets()
    pod_labels = [_pod_labels(d) for d in docs if _pod_labels(d) is not None]
    users = {_name(d): d for d in docs if d.get("kind") == "KafkaUser"}
    broker_configs = {_name(knative_rules.broker_config(d, docs) or {}) for d in docs if d.get("kind") == "Broker"}
    # Strimzi's bootstrap Service is <cluster>-kafka-bootstrap; only TLS listeners with SCRAM count
    bootstrap = {f"{_name(d)}-kafka-bootstrap.{d['metadata'].get('namespace')}.svc:{lst['port']}"
                 for d in docs if d.get("kind") == "Kafka"
                 for lst in d["spec"]["kafka"]["listeners"]
                 if lst.get("tls") and (lst.get("authentication") or {}).get("type") == "scram-sha-512"}

    for d in docs:
        kind, name = d.get("kind"), _name(d)
        me = f"{kind}/{name}"
        # -- every sink / deadLetterSink / subscriber ref and SinkBinding subject names a rendered resource
        for path, node in _walk(d):
            if path and path[-1] in ("sink", "deadLetterSink", "subscriber") and isinstance(node.get("ref"), dict):
                r = node["ref"]
                if (r.get("apiVersion"), r.get("kind"), r.get("name")) not in index:
                    out.append(f"{me}: {'.'.join(map(str, path))}.ref {r.get('kind')}/{r.get('name')} is not in the render")
            if path and path[-1] in ("sink", "deadLetterSink") and "ref" not in node:
                out.append(f"{me}: {'.'.join(map(str, path))} has no ref (a uri would escape these checks)")
        if kind == "SinkBinding":
            s = d["spec"]["subject"]
            if (s.get("apiVersion"), s.get("kind"), s.get("name")) not in index:
                out.append(f"{me}: subject {s.get('kind')}/{s.get('name')} is not in the render")
        # -- topics
        if kind == "KafkaSink" and d["spec"]["topic"] not in topics:
            out.append(f"{me}: topic {d['spec']['topic']} has no KafkaTopic")
        if kind == "KafkaSource":
            for t in d["spec"]["topics"]:
                if t not in topics:
                    out.append(f"{me}: topic {t} has no KafkaTopic")
            if d["spec"].get("ordering") != "unordered":
                out.append(f"{me}: ordering must be unordered")
            if not d["spec"].get("consumerGroup"):
                out.append(f"{me}: no consumerGroup")
            dl = (d["spec"].get("delivery") or {})
            if not dl.get("retry") or dl.get("backoffPolicy") != "exponential" or "deadLetterSink" not in dl:
                out.append(f"{me}: delivery needs retry, exponential backoff and a deadLetterSink")
        if kind == "KafkaUser":
            for acl in d["spec"]["authorization"]["acls"]:
                res = acl["resource"]
                if res["type"] == "topic" and res.get("patternType", "literal") == "literal" and res["name"] not in topics:
                    out.append(f"{me}: ACL on topic {res['name']} which has no KafkaTopic")
        # -- Secrets: referenced ones exist or are documented; none carries data
        if kind == "Secret" and (d.get("data") or d.get("stringData")):
            out.append(f"{me}: a Secret in git carries literal data")
        for path, node in _walk(d):
            ref = None
            if path and path[-1] == "secretKeyRef":
                ref = node.get("name")
            elif path and path[-1] == "secret" and "secretName" in node:
                ref = node["secretName"]
            elif kind == "KafkaSink" and path == ("spec", "auth", "secret", "ref"):
                ref = node.get("name")
            elif path and path[-1] == "secretRef":
                ref = node.get("name")
            elif kind == "ConfigMap" and path == ("data",) and name in broker_configs:
                ref = node.get(knative_rules.SECRET_KEY)
            if ref is not None and ref not in secrets_here and ref not in documented:
                out.append(f"{me}: Secret {ref} is neither in the render nor created by a command in {' or '.join(GUIDES)}")
        # -- Kafka auth: the Secret `knative-<user>` of a sink/source names a KafkaUser
        #    whose ACLs allow exactly what that client does (naming convention of
        #    docs/deploy.md, which creates those Secrets from the users' passwords)
        if kind in ("KafkaSink", "KafkaSource", "Broker"):
            out += _user_problems(me, d, users, docs)
            servers = d["spec"].get("bootstrapServers")
            if kind == "Broker":
                data = (knative_rules.broker_config(d, docs) or {}).get("data") or {}
                servers = [s.strip() for s in str(data.get("bootstrap.servers", "")).split(",") if s.strip()]
            for server in servers:
                if server not in bootstrap:
                    out.append(f"{me}: bootstrap server {server} is not a TLS+SCRAM listener of a Kafka in the render {sorted(bootstrap)}")
        # -- NetworkPolicies select pods that exist (a typo would silently select nothing)
        if kind == "NetworkPolicy":
            sels = [("spec.podSelector", d["spec"]["podSelector"])]
            for i, rule in enumerate(d["spec"].get("ingress") or []):
                for j, peer in enumerate(rule.get("from") or []):
                    if "podSelector" in peer and "namespaceSelector" not in peer:
                        sels.append((f"spec.ingress[{i}].from[{j}].podSelector", peer["podSelector"]))
            for where, sel in sels:
                if sel and not any(_selects(sel, labels) for labels in pod_labels):
                    out.append(f"{me}: {where} matches no pod in the render")
        # -- functions: env, probes, securityContext, visibility, scale
        if kind == "Service" and d.get("apiVersion") == "serving.knative.dev/v1":
            out += _ksvc_problems(d, settings_read_by(name))
        if kind == "ContainerSource":
            for c in _containers(d):
                out += _env_problems(me, c, settings_read_by("pact"))
    out += _sender_auth_problems(docs)
    out += _broker_sender_problems(docs)
    if any(d.get("kind") == "Broker" for d in docs):
        out += topology.broker_problems(docs)
    else:
        out += topology.knative_problems(docs)
    for rule in (knative_rules.probe_port_problems, knative_rules.aggressive_readiness_problems,
                 knative_rules.require_sink_problems, knative_rules.kafka_acl_problems,
                 knative_rules.broker_problems, knative_rules.trigger_filter_problems,
                 knative_rules.trigger_delivery_problems, knative_rules.reply_mode_problems,
                 knative_rules.kafka_peer_problems, knative_rules.delivery_timeout_problems):
        out += rule(docs)
    return out


# -------------------------------------------- sender authentication (OIDC)

def _child_name(parent, suffix):
    """knative.dev/pkg kmeta.ChildName: parent+suffix, hashed when over 63 chars."""
    longest, head = 63, 63 - 32
    if len(parent) <= longest - len(suffix):
        return parent + suffix
    digest = hashlib.md5(parent.encode()).hexdigest()
    if head - len(suffix) <= 0:
        whole = hashlib.md5((parent + suffix).encode()).hexdigest()
        ret = parent[:head] + whole
        if longest - len(ret) > 0:
            ret += suffix[:longest - len(ret)]
        return ret.rstrip("-.")
    return parent[:head - len(suffix)] + digest + suffix


def oidc_subject(doc):
    """The `sub` of a source's tokens: its OIDC service account, named by
    eventing's auth.GetOIDCServiceAccountNameForResource."""
    group = doc["apiVersion"].split("/")[0]
    sa = _child_name(_name(doc), f"-oidc-{group}-{doc['kind']}").lower()
    return f"system:serviceaccount:{doc['metadata'].get('namespace')}:{sa}"


def _sender_auth_problems(docs):
    """A function with PACT_SENDER_AUTH=oidc takes only tokens for its
    PACT_OIDC_AUDIENCE from the subjects in PACT_OIDC_SUBJECTS: every source
    whose sink is that function must ask for that audience (spec.sink.audience)
    and be one of those subjects, or all its events are refused."""
    out = []
    guarded = {}
    for d in docs:
        if d.get("kind") == "Service" and d.get("apiVersion") == "serving.knative.dev/v1":
            for c in _containers(d):
                env = {e["name"]: e.get("value") for e in c.get("env") or []}
                if env.get("PACT_SENDER_AUTH") == "oidc":
                    subjects = {s.strip() for s in (env.get("PACT_OIDC_SUBJECTS") or "").split(",") if s.strip()}
                    guarded[_name(d)] = (env.get("PACT_OIDC_AUDIENCE"), subjects)
    for d in docs:
        # a source's sink, or a Trigger's subscriber (its dispatcher sends
        # with the Trigger's OIDC identity)
        sink = (d.get("spec") or {}).get("subscriber" if d.get("kind") == "Trigger" else "sink")
        if d.get("kind") == "SinkBinding" or not isinstance(sink, dict):
            continue
        ref = sink.get("ref") or {}
        if ref.get("apiVersion") != "serving.knative.dev/v1" or ref.get("name") not in guarded:
            continue
        me = f"{d['kind']}/{_name(d)}"
        audience, subjects = guarded[ref["name"]]
        if sink.get("audience") != audience:
            field = "subscriber" if d["kind"] == "Trigger" else "sink"
            out.append(f"{me}: spec.{field}.audience {sink.get('audience')!r} is not ksvc/{ref['name']}'s PACT_OIDC_AUDIENCE {audience!r}")
        if oidc_subject(d) not in subjects:
            out.append(f"{me}: its OIDC subject {oidc_subject(d)} is not in ksvc/{ref['name']}'s PACT_OIDC_SUBJECTS")
    return out


def _broker_sender_problems(docs):
    """Who may send to a Broker is what its EventPolicies allow: exactly the
    OIDC subjects of the sources and SinkBindings whose sink is the Broker
    (with authentication-oidc on, a sender missing here is refused; an extra
    subject lets in a sender the topology does not have)."""
    out = []
    for b in (d for d in docs if d.get("kind") == "Broker"):
        senders = {oidc_subject(d) for d in docs
                   if (((d.get("spec") or {}).get("sink") or {}).get("ref") or {}).get("kind") == "Broker"
                   and d["spec"]["sink"]["ref"].get("name") == _name(b)}
        allowed = {f.get("sub") for p in docs if p.get("kind") == "EventPolicy"
                   and any((to.get("ref") or {}).get("kind") == "Broker" and to["ref"].get("name") == _name(b)
                           for to in p["spec"].get("to") or [])
                   for f in p["spec"].get("from") or []}
        if allowed != senders:
            out.append(f"Broker/{_name(b)}: its EventPolicies allow {sorted(s for s in allowed if s)}, "
                       f"its senders are {sorted(senders)}")
    return out


SECRET_LIKE = re.compile(r"PASSWORD|TOKEN|SECRET|KEY", re.I)


def _env_problems(me, c, reads):
    out = []
    env = c.get("env") or []
    refs = {m for e in env for m in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(e.get("value", "")))}
    for e in env:
        n = e["name"]
        # A helper variable that only feeds Kubernetes $(VAR) expansion of another
        # variable (PGUSER/PGPASSWORD -> DATABASE_URL) is allowed when it comes from a Secret.
        helper = n in refs and "secretKeyRef" in (e.get("valueFrom") or {})
        if n not in reads and not helper:
            out.append(f"{me}: env {n} is not read by this program (settings: {sorted(reads)})")
        if SECRET_LIKE.search(n) and "value" in e and not n.endswith("_FILE"):
            out.append(f"{me}: env {n} looks secret but has a literal value")
        if "value" in e and re.search(r"://[^/$:@]+:[^@$]+@", str(e["value"])):
            out.append(f"{me}: env {n} has a password literal in a URL")
    return out


# Reachable from outside the cluster: the ingress phones call and the read API
# (`public = true` in pipeline.toml).
PUBLIC = topology.public()


def _ksvc_problems(d, reads):
    name = _name(d)
    me = f"ksvc/{name}"
    out = []
    tpl = d["spec"]["template"]
    ann = (tpl.get("metadata") or {}).get("annotations") or {}
    if ann.get("autoscaling.knative.dev/min-scale") != "0":
        out.append(f"{me}: min-scale must be 0 (scale to zero)")
    for a in ("autoscaling.knative.dev/max-scale", "autoscaling.knative.dev/target"):
        if a not in ann:
            out.append(f"{me}: no {a}")
    vis = (d.get("metadata") or {}).get("labels", {}).get("networking.knative.dev/visibility")
    if name in PUBLIC and vis is not None:
        out.append(f"{me}: must be public (DESIGN.md section 5)")
    if name not in PUBLIC and vis != "cluster-local":
        out.append(f"{me}: must be cluster-local")
    containers = tpl["spec"]["containers"]
    for c in containers:
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            got = ((c.get(probe) or {}).get("httpGet") or {}).get("path")
            if got != path:
                out.append(f"{me}: {probe} must GET {path} (got {got})")
        sc = c.get("securityContext") or {}
        want = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}
        for k, v in want.items():
            if sc.get(k) is not v:
                out.append(f"{me}: securityContext.{k} must be {v}")
        if (sc.get("capabilities") or {}).get("drop") != ["ALL"] or (sc.get("capabilities") or {}).get("add"):
            out.append(f"{me}: capabilities must drop ALL and add none")
        if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            out.append(f"{me}: seccompProfile must be RuntimeDefault")
        res = c.get("resources") or {}
        if not res.get("requests") or not res.get("limits"):
            out.append(f"{me}: needs resource requests and limits")
        env = {e["name"]: e for e in c.get("env") or []}
        if (env.get("PACT_LOG_FORMAT") or {}).get("value") != "json":
            out.append(f"{me}: PACT_LOG_FORMAT must be json")
        out += _env_problems(me, c, reads)
    return out


# ------------------------------------------------------------------ tests

@pytest.mark.parametrize("overlay", OVERLAYS)
def test_renders_and_validates_strictly(overlay):
    docs = render(overlay)
    assert docs, f"{overlay} rendered nothing"
    assert schema_errors(docs) == 0, f"{overlay}: schema errors (printed above)"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_consistency(overlay):
    assert problems(render(overlay)) == []


def test_everything_expected_is_there():
    docs = render("overlays/demo")
    have = {(d["kind"], _name(d)) for d in docs}
    # What pipeline.toml makes (Services, sources, sinks, topics) is checked
    # by topology.knative_problems in test_consistency; the rest is here.
    assert topology.knative_problems(docs) == []
    for want in [("Namespace", "pact"), ("Kafka", "pact-cluster"), ("KafkaNodePool", "dual-role"),
                 ("ContainerSource", "pact-simulate"),
                 ("StatefulSet", "pact-postgres"), ("Service", "pact-postgres")]:
        assert want in have, want
    ns = next(d for d in docs if d["kind"] == "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_settings_come_from_the_sources():
    # guards the parser itself: if these vanish, the env check would be vacuous
    assert {"PORT", "K_SINK", "PACT_LOG_FORMAT"} <= settings_read_by("pact-producer")
    assert {"DATABASE_URL", "PACT_RETENTION_DAYS"} <= settings_read_by("pact-contactlog")
    assert {"DATABASE_URL", "PACT_QUERY_TOKENS_FILE", "PACT_EMIT_TOKEN_FILE"} <= settings_read_by("pact-query")
    assert {"DATABASE_URL", "PACT_NOTIFY_DEPTH", "PACT_DB_TIMEOUT_MS", "PACT_OIDC_SUBJECTS",
            "PACT_EMIT_TOKEN_FILE", "PACT_REQUEST_TIMEOUT_S"} <= settings_read_by("pact-notify")
    assert "DATABASE_URL" not in settings_read_by("pact-producer")
    assert "PACT_GEOCODER" in settings_read_by("pact-translation")


DATABASE_CLIENTS = {f"pact-{f['name']}" for f in topology.TOPOLOGY["functions"] if f.get("database")}


def test_database_url_is_built_from_the_secret():
    assert DATABASE_CLIENTS == {"pact-contactlog", "pact-query", "pact-notify"}
    for overlay in OVERLAYS:
        for d in render(overlay):
            if d["kind"] == "Service" and _name(d) in DATABASE_CLIENTS:
                env = {e["name"]: e for e in _containers(d)[0]["env"]}
                assert env["DATABASE_URL"]["value"].startswith("postgres://$(PGUSER):$(PGPASSWORD)@")
                # dependent expansion only sees variables defined earlier in the list
                names = [e["name"] for e in _containers(d)[0]["env"]]
                assert names.index("PGPASSWORD") < names.index("DATABASE_URL")


def test_openshift_has_no_fixed_ids():
    text = _render_text("overlays/openshift")
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        assert key not in text, key
    for d in render("overlays/openshift"):
        if d["kind"] == "KafkaTopic":
            assert d["spec"]["replicas"] == 3


def test_kind_is_single_node():
    docs = render("overlays/kind")
    assert next(d for d in docs if d["kind"] == "KafkaNodePool")["spec"]["replicas"] == 1
    assert all(d["spec"]["replicas"] == 1 for d in docs if d["kind"] == "KafkaTopic")
    for d in docs:
        if d["kind"] == "Service" and d["apiVersion"] == "serving.knative.dev/v1":
            assert _containers(d)[0]["image"].startswith("localhost/")


# ------------------------------------------------------- negative cases

def _find(docs, kind, name):
    return next(d for d in docs if d["kind"] == kind and _name(d) == name)


def _ksvc(docs, name):
    return next(d for d in docs if d["kind"] == "Service" and d["apiVersion"] == "serving.knative.dev/v1" and _name(d) == name)


def _typo_field(docs):
    c = _containers(_ksvc(docs, "pact-producer"))[0]
    c["livenessprobe"] = c.pop("livenessProbe")


def _unknown_kind(docs):
    docs.append({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})


def _string_for_int(docs):
    _find(docs, "KafkaTopic", "pact-translated")["spec"]["partitions"] = "six"


SCHEMA_BREAKS = {"typo in a field name": _typo_field, "unknown kind": _unknown_kind,
                 "wrong type": _string_for_int}


@pytest.mark.parametrize("case", sorted(SCHEMA_BREAKS))
def test_schema_check_bites(case):
    docs = render("overlays/demo")
    SCHEMA_BREAKS[case](docs)
    assert schema_errors(docs) > 0


def _dangling_sink(docs):
    _find(docs, "KafkaSource", "pact-translated")["spec"]["sink"]["ref"]["name"] = "pact-contactlgo"


def _dangling_dls(docs):
    _find(docs, "KafkaSource", "pact-untranslated")["spec"]["delivery"]["deadLetterSink"]["ref"]["name"] = "nowhere"


def _missing_probe(docs):
    del _containers(_ksvc(docs, "pact-query"))[0]["readinessProbe"]


def _env_nobody_reads(docs):
    _containers(_ksvc(docs, "pact-producer"))[0]["env"].append({"name": "PACT_COMMIT_MAX_ROWS", "value": "10"})


def _database_url_on_producer(docs):
    _containers(_ksvc(docs, "pact-producer"))[0]["env"].append({"name": "DATABASE_URL", "value": "sqlite://x.db"})


def _topic_without_kafkatopic(docs):
    _find(docs, "KafkaSink", "pact-translated")["spec"]["topic"] = "pact-translatd"


def _secret_with_data(docs):
    docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pact-postgres", "namespace": "pact"},
                 "stringData": {"password": "hunter2"}})


def _undocumented_secret(docs):
    c = _containers(_ksvc(docs, "pact-query"))[0]
    c["env"][1]["valueFrom"]["secretKeyRef"]["name"] = "pact-pg"


def _privilege_escalation(docs):
    _containers(_ksvc(docs, "pact-translation"))[0]["securityContext"]["allowPrivilegeEscalation"] = True


def _password_literal(docs):
    env = _containers(_ksvc(docs, "pact-contactlog"))[0]["env"]
    next(e for e in env if e["name"] == "DATABASE_URL")["value"] = "postgres://pact:s3cret@pact-postgres:5432/pact"


def _ordered_source(docs):
    _find(docs, "KafkaSource", "pact-translated")["spec"]["ordering"] = "ordered"


def _public_contactlog(docs):
    del _ksvc(docs, "pact-contactlog")["metadata"]["labels"]["networking.knative.dev/visibility"]


def _cluster_local_producer(docs):
    _ksvc(docs, "pact-producer")["metadata"]["labels"]["networking.knative.dev/visibility"] = "cluster-local"


def _netpol_typo(docs):
    _find(docs, "NetworkPolicy", "pact-functions-ingress")["spec"]["podSelector"]["matchLabels"] = {"pact.dev/functions": "true"}


def _acl_missing(docs):
    user = _find(docs, "KafkaUser", "pact-source-contactlog")
    user["spec"]["authorization"]["acls"] = [a for a in user["spec"]["authorization"]["acls"]
                                             if a["resource"]["type"] != "group"]


def _unauthenticated_sink(docs):
    del _find(docs, "KafkaSink", "pact-deadletter")["spec"]["auth"]


def _wrong_sink_audience(docs):
    _find(docs, "PingSource", "pact-retention")["spec"]["sink"]["audience"] = "serving.knative.dev/service/pact/pact-translation"


def _no_sink_audience(docs):
    del _find(docs, "KafkaSource", "pact-untranslated")["spec"]["sink"]["audience"]


def _subject_missing(docs):
    env = _containers(_ksvc(docs, "pact-contactlog"))[0]["env"]
    e = next(e for e in env if e["name"] == "PACT_OIDC_SUBJECTS")
    e["value"] = e["value"].split(",")[0]


def _source_for_another_group(docs):
    _find(docs, "KafkaSource", "pact-untranslated")["spec"]["consumerGroup"] = "pact-translator"


def _binding_to_another_sink(docs):
    _find(docs, "SinkBinding", "pact-producer-sink")["spec"]["sink"]["ref"]["name"] = "pact-translated"


def _database_closed_to_query(docs):
    rule = _find(docs, "NetworkPolicy", "pact-postgres-ingress")["spec"]["ingress"][0]
    rule["from"][0]["podSelector"]["matchExpressions"][0]["values"] = ["pact-contactlog"]


def _function_missing(docs):
    docs.remove(_ksvc(docs, "pact-query"))


def _plain_listener(docs):
    _find(docs, "Kafka", "pact-cluster")["spec"]["kafka"]["listeners"][0]["tls"] = False


def _env_of(docs, ksvc, name):
    return next(e for e in _containers(_ksvc(docs, ksvc))[0]["env"] if e["name"] == name)


def _notify_may_reply(docs):
    _env_of(docs, "pact-notify", "PACT_REQUIRE_SINK")["value"] = "false"


def _notifications_kept_longer(docs):
    _find(docs, "KafkaTopic", "pact-notifications")["spec"]["config"]["retention.ms"] = 30 * 24 * 3600 * 1000


def _database_closed_to_notify(docs):
    rule = _find(docs, "NetworkPolicy", "pact-postgres-ingress")["spec"]["ingress"][0]
    rule["from"][0]["podSelector"]["matchExpressions"][0]["values"] = ["pact-contactlog", "pact-query"]


def _cases_to_another_group(docs):
    _find(docs, "KafkaSource", "pact-cases")["spec"]["consumerGroup"] = "pact-notifier"


CONSISTENCY_BREAKS = {
    "KafkaSource with another consumer group than pipeline.toml's":
        (_source_for_another_group, "KafkaSource/pact-untranslated: consumerGroup pact-translator, pipeline.toml makes pact-translation"),
    "SinkBinding to another topic than pipeline.toml's":
        (_binding_to_another_sink, "SinkBinding/pact-producer-sink: K_SINK is pact-translated, pipeline.toml says pact-untranslated"),
    "a function of pipeline.toml not deployed": (_function_missing, "Knative Services: the render has"),
    "database closed to a function pipeline.toml gives one":
        (_database_closed_to_query, "NetworkPolicy/pact-postgres-ingress: the functions let in: the render has ['pact-contactlog']"),
    "Kafka listener without TLS": (_plain_listener, "is not a TLS+SCRAM listener"),
    "the output's emitter may reply": (_notify_may_reply, "ksvc/pact-notify: PACT_REQUIRE_SINK is 'false', not \"true\": "
                                                          "without K_SINK it would reply"),
    "the output kept longer than the contacts":
        (_notifications_kept_longer, "KafkaTopic/pact-notifications: retention.ms 2592000000, not the contacts' retention"),
    "database closed to pact-notify":
        (_database_closed_to_notify, "NetworkPolicy/pact-postgres-ingress: the functions let in: the render has ['pact-contactlog', 'pact-query']"),
    "cases read by another group than pipeline.toml's":
        (_cases_to_another_group, "KafkaSource/pact-cases: consumerGroup pact-notifier, pipeline.toml makes pact-notify"),
    "KafkaUser without the group ACL": (_acl_missing, "may not Read group pact-contactlog"),
    "KafkaSink without auth": (_unauthenticated_sink, "no Kafka credentials"),
    "NetworkPolicy selecting nothing": (_netpol_typo, "matches no pod"),
    "dangling sink": (_dangling_sink, "pact-contactlgo is not in the render"),
    "dangling dead-letter sink": (_dangling_dls, "nowhere is not in the render"),
    "missing readiness probe": (_missing_probe, "readinessProbe must GET /readyz"),
    "env var the producer does not read": (_env_nobody_reads, "env PACT_COMMIT_MAX_ROWS is not read"),
    "DATABASE_URL on the producer": (_database_url_on_producer, "env DATABASE_URL is not read"),
    "topic without KafkaTopic": (_topic_without_kafkatopic, "topic pact-translatd has no KafkaTopic"),
    "Secret with literal data": (_secret_with_data, "carries literal data"),
    "undocumented Secret": (_undocumented_secret, "Secret pact-pg is neither"),
    "privilege escalation": (_privilege_escalation, "allowPrivilegeEscalation must be False"),
    "password literal in DATABASE_URL": (_password_literal, "password literal"),
    "ordered KafkaSource": (_ordered_source, "ordering must be unordered"),
    "public contactlog": (_public_contactlog, "must be cluster-local"),
    "cluster-local producer": (_cluster_local_producer, "ksvc/pact-producer: must be public"),
    "sink audience is not the function's PACT_OIDC_AUDIENCE": (_wrong_sink_audience, "spec.sink.audience 'serving.knative.dev/service/pact/pact-translation' is not ksvc/pact-contactlog's"),
    "source without sink audience": (_no_sink_audience, "spec.sink.audience None is not ksvc/pact-translation's"),
    "source not in PACT_OIDC_SUBJECTS": (_subject_missing, "pact-retention-oidc-sources.knative.dev-pingsource is not in ksvc/pact-contactlog's PACT_OIDC_SUBJECTS"),
}


@pytest.mark.parametrize("case", sorted(CONSISTENCY_BREAKS))
def test_consistency_check_bites(case):
    mutate, expected = CONSISTENCY_BREAKS[case]
    docs = render("overlays/demo")
    assert problems(copy.deepcopy(docs)) == []
    mutate(docs)
    found = problems(docs)
    assert any(expected in p for p in found), found


# -------------------------------------------- the broker topology, broken

def _filters_drift(docs):
    _find(docs, "Trigger", "pact-translation")["spec"]["filters"][0]["any"][1]["exact"]["type"] = "dev.knative.kafka.record"


def _trigger_missing(docs):
    docs.remove(_find(docs, "Trigger", "pact-contactlog"))


def _raw_source_to_function(docs):
    _find(docs, "KafkaSource", "pact-untranslated")["spec"]["sink"] = {
        "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "pact-translation"},
        "audience": "serving.knative.dev/service/pact/pact-translation"}


def _raw_source_new_group(docs):
    _find(docs, "KafkaSource", "pact-untranslated")["spec"]["consumerGroup"] = "pact-broker-feed"


def _broker_topic_renamed(docs):
    _find(docs, "Broker", "pact")["metadata"]["annotations"]["kafka.eventing.knative.dev/external.topic"] = "pact-broker"
    _find(docs, "KafkaTopic", "knative-broker-pact-pact")["metadata"]["name"] = "pact-broker"


def _group_acl_without_namespace(docs):
    acl = _find(docs, "KafkaUser", "pact-broker")["spec"]["authorization"]["acls"][1]
    acl["resource"]["name"] = "knative-trigger-pact-translation"


def _trigger_elsewhere(docs):
    _find(docs, "Trigger", "pact-contactlog")["metadata"]["namespace"] = "default"


def _ping_straight_to_contactlog(docs):
    _find(docs, "PingSource", "pact-retention")["spec"]["sink"] = {
        "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "pact-contactlog"},
        "audience": "serving.knative.dev/service/pact/pact-contactlog"}


def _translation_keeps_its_binding(docs):
    docs.append({"apiVersion": "sources.knative.dev/v1", "kind": "SinkBinding",
                 "metadata": {"name": "pact-translation-sink", "namespace": "pact"},
                 "spec": {"subject": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "pact-translation"},
                          "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "pact"}}}})


def _policy_without_the_ping(docs):
    policy = _find(docs, "EventPolicy", "pact-broker-senders")
    policy["spec"]["from"] = [f for f in policy["spec"]["from"] if "pingsource" not in f["sub"]]


def _trigger_without_audience(docs):
    del _find(docs, "Trigger", "pact-translation")["spec"]["subscriber"]["audience"]


def _subjects_of_the_explicit_topology(docs):
    env = _containers(_ksvc(docs, "pact-contactlog"))[0]["env"]
    next(e for e in env if e["name"] == "PACT_OIDC_SUBJECTS")["value"] = \
        "system:serviceaccount:pact:pact-translated-oidc-sources.knative.dev-kafkasource"


def _broker_secret_undocumented(docs):
    _find(docs, "ConfigMap", "pact-broker-config")["data"]["auth.secret.ref.name"] = "knative-pact-brokr"


def _broker_plain_port(docs):
    _find(docs, "ConfigMap", "pact-broker-config")["data"]["bootstrap.servers"] = "pact-cluster-kafka-bootstrap.pact.svc:9092"


def _ping_filtered_out(docs):
    _find(docs, "Trigger", "pact-contactlog")["spec"]["filters"][0]["any"][1]["exact"]["source"] = \
        "/apis/v1/namespaces/pact/pingsources/retention"


def _trigger_dangling_dls(docs):
    _find(docs, "Trigger", "pact-contactlog")["spec"]["delivery"]["deadLetterSink"]["ref"]["name"] = "pact-deadletters"


def _to_broker(docs, binding):
    _find(docs, "SinkBinding", binding)["spec"]["sink"] = {
        "ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "pact"}}


def _notify_replies_to_the_broker(docs):
    docs.remove(_find(docs, "SinkBinding", "pact-notify-sink"))
    _env_of(docs, "pact-notify", "PACT_REQUIRE_SINK")["value"] = "false"


def _output_lost(docs):
    docs.remove(_find(docs, "KafkaSink", "pact-notifications"))


def _query_to_the_output(docs):
    _find(docs, "SinkBinding", "pact-query-sink")["spec"]["sink"]["ref"] = {
        "apiVersion": "eventing.knative.dev/v1alpha1", "kind": "KafkaSink", "name": "pact-notifications"}


def _policy_without_query(docs):
    policy = _find(docs, "EventPolicy", "pact-broker-senders")
    policy["spec"]["from"] = [f for f in policy["spec"]["from"] if "pact-query-sink" not in f["sub"]]


def _withdrawals_filtered_out(docs):
    _find(docs, "Trigger", "pact-notify")["spec"]["filters"][0]["any"][1]["exact"]["type"] = "dev.pact.case.withdrawal"


BROKER_BREAKS = {
    "Trigger filters not pipeline.toml's": (_filters_drift, "Trigger/pact-translation: spec.filters"),
    "a Trigger of pipeline.toml missing": (_trigger_missing, "Triggers: the render has ['pact-notify', 'pact-translation']"),
    "raw KafkaSource not feeding the Broker": (_raw_source_to_function, "KafkaSource/pact-untranslated: does not feed Broker pact"),
    "raw KafkaSource with a new consumer group":
        (_raw_source_new_group, "consumerGroup pact-broker-feed, the explicit topology's is pact-translation"),
    "Broker topic not pipeline.toml's": (_broker_topic_renamed, "its topic is pact-broker, pipeline.toml's [broker] makes knative-broker-pact-pact"),
    "consumer group ACL not the Kafka Broker's name":
        (_group_acl_without_namespace, "KafkaUser/pact-broker: the consumer groups: the render has"),
    "a Trigger outside the Broker's namespace": (_trigger_elsewhere, "Trigger/pact-contactlog: namespace default"),
    "PingSource past the Broker": (_ping_straight_to_contactlog, "PingSource/pact-retention: does not send to Broker pact"),
    "pact-translation still bound to a sink": (_translation_keeps_its_binding, "SinkBindings: the render has"),
    "EventPolicy without a sender": (_policy_without_the_ping, "Broker/pact: its EventPolicies allow"),
    "Trigger without the subscriber's audience":
        (_trigger_without_audience, "Trigger/pact-translation: spec.subscriber.audience None is not ksvc/pact-translation's"),
    "function still expecting the KafkaSource":
        (_subjects_of_the_explicit_topology, "pact-contactlog-oidc-eventing.knative.dev-trigger is not in ksvc/pact-contactlog's"),
    "Broker auth Secret nobody creates": (_broker_secret_undocumented, "Secret knative-pact-brokr is neither"),
    "Broker on a plain port": (_broker_plain_port, "Broker/pact: bootstrap server pact-cluster-kafka-bootstrap.pact.svc:9092 is not"),
    "Trigger dead letters to nowhere": (_trigger_dangling_dls, "pact-deadletters is not in the render"),
    "the retention ping filtered out": (_ping_filtered_out, "the ping of PingSource pact-retention reaches the Triggers [], not ['pact-contactlog']"),
    "the output's emitter sends to the Broker":
        (lambda docs: _to_broker(docs, "pact-notify-sink"),
         "SinkBinding/pact-notify-sink: K_SINK is Broker pact, pipeline.toml's output pact-notifications needs KafkaSink pact-notifications"),
    "the output's emitter replies":
        (_notify_replies_to_the_broker, "pact-notify: no SinkBinding pact-notify-sink; it emits to the output pact-notifications"),
    "the output's KafkaSink removed with the stage sinks":
        (_output_lost, "output pact-notifications: no KafkaSink pact-notifications"),
    "pact-query past the Broker": (_query_to_the_output, "SinkBinding/pact-query-sink: K_SINK is not Broker pact"),
    "EventPolicy without pact-query": (_policy_without_query, "Broker/pact: its EventPolicies allow"),
    "withdrawn cases filtered out": (_withdrawals_filtered_out, "Trigger/pact-notify: spec.filters"),
}


@pytest.mark.parametrize("case", sorted(BROKER_BREAKS))
def test_broker_consistency_check_bites(case):
    mutate, expected = BROKER_BREAKS[case]
    docs = render("overlays/broker/kind")
    assert problems(copy.deepcopy(docs)) == []
    mutate(docs)
    found = problems(docs)
    assert any(expected in p for p in found), found


@pytest.mark.parametrize("overlay", BROKER_OVERLAYS)
def test_broker_topology_is_there(overlay):
    docs = render(overlay)
    have = {(d["kind"], _name(d)) for d in docs}
    assert topology.broker_problems(docs) == []
    for want in [("Broker", "pact"), ("Trigger", "pact-translation"), ("Trigger", "pact-contactlog"),
                 ("Trigger", "pact-notify"), ("KafkaSource", "pact-untranslated"), ("KafkaSink", "pact-deadletter"),
                 ("EventPolicy", "pact-broker-senders"), ("KafkaSink", "pact-notifications"),
                 ("KafkaTopic", "pact-notifications"), ("SinkBinding", "pact-notify-sink"),
                 ("SinkBinding", "pact-query-sink")]:
        assert want in have, want
    for gone in [("KafkaSink", "pact-untranslated"), ("KafkaSink", "pact-translated"), ("KafkaSink", "pact-cases"),
                 ("KafkaSource", "pact-translated"), ("KafkaSource", "pact-cases"), ("KafkaTopic", "pact-cases"),
                 ("SinkBinding", "pact-translation-sink")]:
        assert gone not in have, gone
    assert topology.outputs() == ["pact-notifications"]
    # the explicit topology's rules would not hold: this is another topology
    assert topology.knative_problems(docs) != []


def test_broker_kind_is_single_node():
    docs = render("overlays/broker/kind")
    assert all(d["spec"]["replicas"] == 1 and d["spec"]["config"]["min.insync.replicas"] == 1
               for d in docs if d["kind"] == "KafkaTopic")
    assert _find(docs, "ConfigMap", "pact-broker-config")["data"]["default.topic.replication.factor"] == "1"


def test_broker_openshift_has_no_fixed_ids():
    text = _render_text("overlays/broker/openshift")
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        assert key not in text, key


def test_the_broker_guide_makes_every_kafka_secret():
    guide = (ROOT / "docs/topologies.md").read_text()
    assert topology.kafka_secrets_problems("docs/topologies.md", guide, users=topology.broker_kafka_users()) == []
    broken = guide.replace("pact-broker pact-sink-notifications; do", "pact-broker; do", 1)
    assert broken != guide
    assert topology.kafka_secrets_problems("docs/topologies.md", broken, users=topology.broker_kafka_users()) != []


def test_filter_evaluation():
    # guards topology.passes, which the routing check relies on
    f = [{"any": [{"exact": {"type": "a"}}, {"prefix": {"source": "/x/"}}]}, {"not": {"suffix": {"type": "z"}}}]
    assert topology.passes(f, {"type": "a", "source": "/y"})
    assert topology.passes(f, {"type": "b", "source": "/x/1"})
    assert not topology.passes(f, {"type": "b", "source": "/y"})
    assert not topology.passes(f, {"type": "az", "source": "/x/1"})
    assert not topology.passes([{"exact": {"subject": "s"}}], {"type": "a"})
    assert topology.passes([], {"type": "anything"})
    assert topology.passes([{"all": [{"exact": {"type": "a"}}, {"suffix": {"source": "1"}}]}], {"type": "a", "source": "/x/1"})


def test_oidc_subjects_follow_eventing_naming():
    # Names as eventing's kmeta.ChildName makes them: parent + suffix while
    # that fits 63 characters; past it, with a suffix this long (> 31), the
    # parent's first 31 characters + md5(parent + suffix), no suffix at all.
    assert _child_name("pact-retention", "-oidc-sources.knative.dev-pingsource") == \
        "pact-retention-oidc-sources.knative.dev-pingsource"
    parent = "a-very-long-kafkasource-name-for-the-pipeline"
    long = _child_name(parent, "-oidc-sources.knative.dev-kafkasource")
    assert long == parent[:31] + hashlib.md5((parent + "-oidc-sources.knative.dev-kafkasource").encode()).hexdigest()
    docs = render("base")
    assert oidc_subject(_find(docs, "KafkaSource", "pact-translated")) == \
        "system:serviceaccount:pact:pact-translated-oidc-sources.knative.dev-kafkasource"
    assert oidc_subject(_find(render("overlays/broker/kind"), "Trigger", "pact-contactlog")) == \
        "system:serviceaccount:pact:pact-contactlog-oidc-eventing.knative.dev-trigger"


def test_kind_up_follows_the_topology():
    script = (ROOT / "scripts/kind-up.sh").read_text()
    assert topology.kind_up_problems(script) == []
    # a list of its own instead of the overlay's KafkaUsers, or another kind
    for broken in (script.replace("for user in $users; do", "for user in pact-sink-deadletter pact-broker; do"),
                   script.replace("s|^kafkauser\\.kafka\\.strimzi\\.io/||p", "s|^kafkatopic\\.kafka\\.strimzi\\.io/||p")):
        assert broken != script
        assert any("Kafka auth Secrets are not made for the KafkaUsers" in p for p in topology.kind_up_problems(broken))
    broken = script.replace("functions=(producer translation contactlog query notify cli)",
                            "functions=(producer translation contactlog query cli)")
    assert broken != script
    assert any("builds images of ['producer', 'translation', 'contactlog', 'query', 'cli']" in p
               for p in topology.kind_up_problems(broken))


def test_the_deploy_guide_makes_every_kafka_secret():
    guide = (ROOT / "docs/deploy.md").read_text()
    assert topology.kafka_secrets_problems("docs/deploy.md", guide) == []
    broken = guide.replace("pact-sink-deadletter \\\n", "\\\n", 1)
    assert broken != guide
    assert any("docs/deploy.md: makes Kafka auth Secrets for" in p
               for p in topology.kafka_secrets_problems("docs/deploy.md", broken))


def test_a_stage_added_to_pipeline_toml_alone_is_noticed():
    # A sixth function in the table, and nothing else changed: the render
    # lacks its Knative Service, its KafkaSource and its topic.
    table = topology.with_a_new_stage()
    found = topology.knative_problems(render("base"), table)
    for expected in ("Knative Services: the render has", "'pact-gateway'", "KafkaTopics", "'pact-delivered'",
                     "SinkBindings", "'pact-gateway-sink'", "KafkaUsers", "'pact-source-gateway'",
                     "output pact-delivered: no KafkaSink pact-delivered"):
        assert any(expected in p for p in found), (expected, found)
    # in the broker topology: its Trigger, and its consumer group on the Broker's user
    found = topology.broker_problems(render("overlays/broker/kind"), table)
    for expected in ("Triggers: the render has", "KafkaUser/pact-broker: the consumer groups", "'knative-trigger-pact-pact-gateway'"):
        assert any(expected in p and "pact-gateway" in p for p in found), (expected, found)
    # kind-up.sh: its image; its Kafka auth Secrets follow the render's
    # KafkaUsers (checked above against the table), so nothing more to touch
    found = topology.kind_up_problems((ROOT / "scripts/kind-up.sh").read_text(), table)
    assert any("'gateway'" in p for p in found) and len(found) == 1, found
