"""Checks of the user path on kind (issue 16): docs/deploy.md, scripts/kind-up.sh
and scripts/kind-cluster.yaml against each other, the manifests and the
Tekton example run.

Each rule is a function returning a list of problems (an empty list is a
pass), run once on the files as they are and once on a broken variant that
must fail. The upstream facts behind the rules are in docs/deploy.md,
"What the deployment relies on"."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess

import pytest
import yaml
import topology
from k8s import ROOT, kustomize

GUIDE = ROOT / "docs/deploy.md"
SCRIPT = ROOT / "scripts/kind-up.sh"
KIND_CONFIG = ROOT / "scripts/kind-cluster.yaml"
PIPELINERUN = ROOT / "tekton/pipelinerun.yaml"
KNATIVE = ROOT / "knative"

# The Deployment (and Service) of the webhook that validates each Knative
# namespace's ConfigMaps (serving config/core/webhooks/configmap-validation.yaml,
# eventing config/core/webhooks/config-validation.yaml).
WEBHOOKS = {"knative-serving": "webhook", "knative-eventing": "eventing-webhook"}


def guide():
    return GUIDE.read_text()


def script():
    return SCRIPT.read_text()


def kind_config():
    return KIND_CONFIG.read_text()


def render(overlay="overlays/kind"):
    return kustomize(KNATIVE / overlay)


# --------------------------------------------------------------- shell text

def code_blocks(markdown: str, lang: str = "sh") -> list[str]:
    """The fenced blocks of one language, in document order (also those
    indented inside a list item, dedented)."""
    out = []
    for indent, body in re.findall(rf"^([ \t]*)```{lang}\n(.*?)^[ \t]*```", markdown, flags=re.M | re.S):
        out.append("\n".join(line[len(indent):] if line.startswith(indent) else line
                             for line in body.splitlines()) + "\n")
    return out


def _strip_comment(line: str) -> str:
    """The line without a trailing shell comment (a # outside quotes that
    starts a word)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line


def commands(shell: str) -> list[str]:
    """Logical command lines: comments dropped, lines ending in a backslash
    or a pipe joined with the next."""
    out, pending = [], ""
    for raw in shell.splitlines():
        line = _strip_comment(raw)
        if not line.strip() and not pending:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        if line.rstrip().endswith("|"):
            pending += line + " "
            continue
        out.append((pending + line).strip())
        pending = ""
    if pending:
        out.append(pending.strip())
    return out


def guide_commands(markdown: str) -> list[str]:
    return [c for block in code_blocks(markdown) for c in commands(block)]


def words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def namespace_of(argv: list[str]) -> str | None:
    for i, w in enumerate(argv):
        if w in ("-n", "--namespace") and i + 1 < len(argv):
            return argv[i + 1]
        if w.startswith("--namespace="):
            return w.split("=", 1)[1]
    return None


def shell_variables(shell: str) -> dict:
    """Plain NAME=value assignments at the start of a line (no expansion)."""
    return dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=([^\s$()]+)\s*$", shell, flags=re.M))


def shell_arrays(shell: str) -> dict:
    """NAME=(...) array assignments, possibly over several lines, as words."""
    out = {}
    for m in re.finditer(r"^([A-Z_][A-Z0-9_]*)=\((.*?)\)\s*$", shell, flags=re.M | re.S):
        out[m.group(1)] = words(" ".join(_strip_comment(x) for x in m.group(2).splitlines()))
    return out


def expand_arrays(argv: list[str], arrays: dict) -> list[str]:
    out = []
    for w in argv:
        m = re.fullmatch(r"\$\{([A-Z_][A-Z0-9_]*)\[@\]\}", w)
        out += arrays.get(m.group(1), [w]) if m else [w]
    return out


# ---------------------------------------------------- (a) webhook ordering

def _configmap_patch(argv: list[str]) -> bool:
    if "patch" not in argv:
        return False
    rest = argv[argv.index("patch") + 1:]
    return bool(rest) and (rest[0].startswith(("configmap/", "cm/")) or rest[0] in ("configmap", "cm", "configmaps"))


def _waits_for_webhook(argv: list[str], helpers: dict) -> str | None:
    """The namespace whose webhook this command waits for, if any."""
    if argv and argv[0] in helpers and len(argv) >= 3 and WEBHOOKS.get(argv[1]) == argv[2]:
        return argv[1]
    if not argv or argv[0] != "kubectl":
        return None
    ns = namespace_of(argv)
    hook = WEBHOOKS.get(ns or "")
    if hook is None:
        return None
    text = " ".join(argv)
    if "rollout status" in text and re.search(rf"\bdeployment/{re.escape(hook)}\b", text):
        return ns
    return None


def webhook_helpers(shell: str) -> dict:
    """Shell functions that wait for a webhook: their body runs `rollout
    status` on deployment/$2 and waits for the Service's endpoints."""
    out = {}
    # a multi-line definition: its first line has no closing brace
    for m in re.finditer(r"^(\w+)\(\)\s*\{[^\n}]*\n(.*?)^\}", shell, flags=re.M | re.S):
        body = m.group(2)
        if "rollout status" in body and '"deployment/$2"' in body and "endpointslice" in body:
            out[m.group(1)] = body
    return out


def webhook_order_problems(shell_commands: list[str], helpers: dict, where: str) -> list[str]:
    out, ready = [], set()
    patches = 0
    for c in shell_commands:
        argv = words(c)
        ns = _waits_for_webhook(argv, helpers)
        if ns:
            ready.add(ns)
            continue
        if argv and argv[0] == "kubectl" and _configmap_patch(argv):
            target = namespace_of(argv)
            if target in WEBHOOKS:
                patches += 1
                if target not in ready:
                    out.append(f"{where}: `{c[:90]}` patches a ConfigMap in {target} before waiting for "
                               f"deployment/{WEBHOOKS[target]}")
    if patches == 0:
        out.append(f"{where}: no Knative ConfigMap patch found (the check would prove nothing)")
    return out


def script_webhook_problems(text: str) -> list[str]:
    return webhook_order_problems(commands(text), webhook_helpers(text), "kind-up.sh")


def guide_webhook_problems(text: str) -> list[str]:
    return webhook_order_problems(guide_commands(text), {}, "deploy.md")


# ------------------------------------------------ (b) kn security context

def kn_creates(markdown: str) -> list[tuple[str, list[str]]]:
    """(name, argv with arrays expanded) of every `kn service create`."""
    out = []
    for block in code_blocks(markdown):
        arrays = shell_arrays(block)
        for c in commands(block):
            argv = words(c)
            if argv[:3] == ["kn", "service", "create"] and len(argv) > 3:
                out.append((argv[3], expand_arrays(argv, arrays)))
    return out


def _last_flag(argv: list[str], flag: str) -> str | None:
    value = None
    for i, w in enumerate(argv):
        if w == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif w.startswith(flag + "="):
            value = w.split("=", 1)[1]
    return value


def kn_security_problems(markdown: str) -> list[str]:
    creates = kn_creates(markdown)
    out = [] if creates else ["deploy.md: no `kn service create` found"]
    for name, argv in creates:
        if _last_flag(argv, "--security-context") != "strict":
            out.append(f"kn service create {name}: no --security-context strict "
                       "(kn's default is none, which Pod Security restricted rejects)")
    return out


# --------------------------------------- (c) host port, NodePort, sslip URLs

def kind_mappings(config_text: str) -> list[dict]:
    cfg = yaml.safe_load(config_text)
    return [m for n in cfg.get("nodes") or [] for m in n.get("extraPortMappings") or []]


def kourier_node_ports(shell_commands: list[str], variables: dict) -> list[int]:
    """nodePort given to port 80 by each `kubectl patch service kourier`."""
    out = []
    for c in shell_commands:
        argv = words(c)
        if argv[:1] != ["kubectl"] or "patch" not in argv or namespace_of(argv) != "kourier-system":
            continue
        rest = argv[argv.index("patch") + 1:]
        if rest[:2] not in (["service", "kourier"], ["svc", "kourier"]) and rest[:1] not in (["service/kourier"], ["svc/kourier"]):
            continue
        body = _last_flag(argv, "-p") or _last_flag(argv, "--patch") or ""
        body = re.sub(r"\$\{([A-Z_][A-Z0-9_]*)\}|\$([A-Z_][A-Z0-9_]*)",
                      lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), body)
        spec = json.loads(body)["spec"]
        assert spec.get("type") == "NodePort", f"Kourier patch does not make it a NodePort: {c}"
        out += [p["nodePort"] for p in spec.get("ports") or [] if p.get("port") == 80 and "nodePort" in p]
    return out


SSLIP = re.compile(r"\bhttps?://[a-z0-9.-]+\.127\.0\.0\.1\.sslip\.io(?::(\d+))?")
LOCAL = re.compile(r"\bhttp://127\.0\.0\.1(?::(\d+|\$\w+))?/")


def port_problems(guide_text: str, script_text: str, config_text: str) -> list[str]:
    out = []
    mappings = kind_mappings(config_text)
    variables = shell_variables(script_text)
    for where, cmds, vars_ in (("kind-up.sh", commands(script_text), variables),
                               ("deploy.md", guide_commands(guide_text), {})):
        ports = kourier_node_ports(cmds, vars_)
        if not ports:
            out.append(f"{where}: no patch makes Kourier a NodePort")
        for port in ports:
            match = [m for m in mappings if m.get("containerPort") == port]
            if not match:
                out.append(f"{where}: Kourier's nodePort {port} is not a containerPort of "
                           f"scripts/kind-cluster.yaml's extraPortMappings {mappings}")
            elif not 30000 <= port <= 32767:
                out.append(f"{where}: nodePort {port} is outside the default NodePort range")
    host_ports = {m.get("hostPort") for m in mappings}
    if len(host_ports) != 1:
        return out + [f"kind-cluster.yaml: expected one host port for Kourier, got {host_ports}"]
    host_port = host_ports.pop()
    if variables.get("HTTP_PORT") != str(host_port):
        out.append(f"kind-up.sh: HTTP_PORT={variables.get('HTTP_PORT')} but kind maps host port {host_port}")
    if variables.get("INGRESS_NODE_PORT") not in {str(m.get('containerPort')) for m in mappings}:
        out.append(f"kind-up.sh: INGRESS_NODE_PORT={variables.get('INGRESS_NODE_PORT')} is no containerPort of kind-cluster.yaml")
    for where, text in (("deploy.md", guide_text), ("kind-up.sh", script_text)):
        for m in SSLIP.finditer(text):
            port = int(m.group(1) or 80)
            if port != host_port:
                out.append(f"{where}: {m.group(0)} uses port {port}, kind maps host port {host_port}")
        for m in LOCAL.finditer(text):
            raw = m.group(1) or "80"
            port = variables.get(raw[1:], raw) if raw.startswith("$") else raw
            if str(port) != str(host_port):
                out.append(f"{where}: {m.group(0)} uses port {port}, kind maps host port {host_port}")
    return out


def url_service_problems(guide_text: str, script_text: str, docs: list[dict]) -> list[str]:
    """Every <svc>.<ns>.127.0.0.1.sslip.io names a ksvc of the render that
    is public (Kourier's external gateway serves only those)."""
    out = []
    ksvcs = {(d["metadata"]["name"], d["metadata"].get("namespace", "pact")): d for d in docs
             if d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative.dev")}
    variables = {"NS": "pact"} | shell_variables(script_text)
    for where, text in (("deploy.md", guide_text), ("kind-up.sh", script_text)):
        text = re.sub(r"\$\{?NS\}?", variables["NS"], text)
        for m in re.finditer(r"\b([a-z0-9-]+)\.([a-z0-9-]+)\.127\.0\.0\.1\.sslip\.io", text):
            svc, ns = m.group(1), m.group(2)
            if svc == "nothing":  # the deliberate 404 probe of Kourier
                continue
            d = ksvcs.get((svc, ns))
            if d is None:
                out.append(f"{where}: {m.group(0)} names no Knative Service of the kind overlay")
            elif (d["metadata"].get("labels") or {}).get("networking.knative.dev/visibility") == "cluster-local":
                out.append(f"{where}: {m.group(0)} names {svc}, which is cluster-local in the manifests")
    return out


# -------------------------------------------------- (d) local registry names

def script_registry_hosts(script_text: str) -> list[str]:
    m = re.search(r"^REGISTRY_HOSTS=\((.*?)\)", script_text, flags=re.M)
    return words(m.group(1)) if m else []


def guide_registry_hosts(guide_text: str) -> list[str]:
    """Hosts the guide writes a containerd hosts.toml for."""
    for block in code_blocks(guide_text):
        if "hosts.toml" in block:
            m = re.search(r"for host in ([^;]+);", block)
            if m:
                return m.group(1).split()
    return []


def _local_names(text: str) -> set[str]:
    return set(re.findall(r"\b((?:localhost|kind-registry):\d+)/[a-z0-9]", text))


def pipeline_registry(pipelinerun_text: str) -> tuple[str | None, str | None]:
    run = yaml.safe_load(pipelinerun_text)
    params = {p["name"]: p.get("value") for p in run["spec"].get("params") or []}
    registry = params.get("registry")
    return (registry.split("/")[0] if registry else None), params.get("overlay")


def registry_problems(guide_text: str, script_text: str, config_text: str, pipelinerun_text: str) -> list[str]:
    out = []
    in_script = script_registry_hosts(script_text)
    in_guide = guide_registry_hosts(guide_text)
    if not re.search(r'for host in "\$\{REGISTRY_HOSTS\[@\]\}"', script_text) or \
            'certs.d/$host' not in script_text or "hosts.toml" not in script_text:
        out.append("kind-up.sh: no hosts.toml is written for each of REGISTRY_HOSTS")
    if "config_path" not in config_text or "/etc/containerd/certs.d" not in config_text:
        out.append("kind-cluster.yaml: containerd is not told to read /etc/containerd/certs.d")
    needed = {}
    host, overlay = pipeline_registry(pipelinerun_text)
    if overlay == "kind" and host:
        needed[host] = "tekton/pipelinerun.yaml (overlay kind) pushes and deploys"
    for name in _local_names(guide_text):
        needed.setdefault(name, "docs/deploy.md uses")
    for name in _local_names(script_text):
        needed.setdefault(name, "kind-up.sh uses")
    m = re.search(r'hostFromClusterNetwork: "([^"]+)"', script_text.replace("$REGISTRY_NAME", "kind-registry"))
    if m:
        needed.setdefault(m.group(1), "local-registry-hosting's hostFromClusterNetwork")
    if not needed:
        out.append("no local registry name found in the pipeline or the guide")
    for name, why in sorted(needed.items()):
        for where, hosts in (("kind-up.sh", in_script), ("deploy.md", in_guide)):
            if name not in hosts:
                out.append(f"{why} {name}, but {where} writes no containerd hosts.toml for it ({hosts})")
    for where, text in (("kind-up.sh", script_text), ("deploy.md", guide_text)):
        m = re.search(r'registries-skipping-tag-resolving":"([^"]+)"', text)
        skipped = set(m.group(1).split(",")) if m else set()
        for name in needed:
            if name not in skipped:
                out.append(f"{where}: {name} is not in registries-skipping-tag-resolving "
                           "(Knative would resolve its tags over HTTPS)")
    return out


# ------------------------------------------------------- (e) the lag command

def lag_problems(guide_text: str, docs: list[dict]) -> list[str]:
    blocks = [b for b in code_blocks(guide_text) if "kafka-consumer-groups.sh" in b]
    if not blocks:
        return ["deploy.md: no consumer-group lag command"]
    out = []
    kafka = next(d for d in docs if d["kind"] == "Kafka")
    cluster = kafka["metadata"]["name"]
    listeners = {lst["port"]: lst for lst in kafka["spec"]["kafka"]["listeners"]}
    users = {d["metadata"]["name"]: d for d in docs if d["kind"] == "KafkaUser"}
    for block in blocks:
        m = re.search(r"--bootstrap-server\s+([a-z0-9.-]+):(\d+)", block)
        if not m:
            out.append("lag command: no --bootstrap-server host:port")
            continue
        host, port = m.group(1), int(m.group(2))
        listener = listeners.get(port)
        if listener is None:
            out.append(f"lag command: port {port} is no listener of Kafka {cluster} (listeners: {sorted(listeners)})")
            continue
        if not re.fullmatch(rf"{cluster}-kafka-bootstrap(\.pact(\.svc(\.cluster\.local)?)?)?", host):
            out.append(f"lag command: {host} is not {cluster}'s bootstrap Service")
        run_ns = re.search(r"kubectl\s+-n\s+(\S+)\s+(?:run|exec)\b", block)
        peers = listener.get("networkPolicyPeers") or []
        allowed = {((p.get("namespaceSelector") or {}).get("matchLabels") or {}).get("kubernetes.io/metadata.name")
                   for p in peers if "podSelector" not in p}
        if peers and (not run_ns or run_ns.group(1) not in allowed):
            out.append(f"lag command: runs in {run_ns.group(1) if run_ns else '?'}, but the listener on "
                       f"{port} admits only namespaces {sorted(a for a in allowed if a)}")
        props = dict(re.findall(r"^([a-z.]+)=(.*)$", block, flags=re.M))
        want_protocol = "SASL_SSL" if listener.get("tls") else "SASL_PLAINTEXT"
        auth = (listener.get("authentication") or {}).get("type")
        if auth == "scram-sha-512":
            if props.get("security.protocol") != want_protocol:
                out.append(f"lag command: security.protocol {props.get('security.protocol')}, listener needs {want_protocol}")
            if props.get("sasl.mechanism") != "SCRAM-SHA-512":
                out.append(f"lag command: sasl.mechanism {props.get('sasl.mechanism')}, listener needs SCRAM-SHA-512")
        if listener.get("tls") and "ssl.truststore" not in block:
            out.append("lag command: no truststore for the TLS listener's cluster CA")
        who = re.search(r"KUSER=(\S+)\s+GROUP=(\S+)", block)
        if not who:
            out.append("lag command: no KUSER=... GROUP=...")
            continue
        user, group = who.groups()
        acls = ((users.get(user) or {}).get("spec", {}).get("authorization") or {}).get("acls") or []
        if user not in users:
            out.append(f"lag command: {user} is no KafkaUser")
        elif not any(a["resource"]["type"] == "group" and a["resource"].get("name") == group
                     and {"Describe", "Read", "All"} & set(a.get("operations") or []) for a in acls):
            out.append(f"lag command: KafkaUser {user} may not describe group {group}")
    return out


# -------------------------------------------------------------- (f) Secrets

def _secret_refs(node, inside_secret=False) -> set[str]:
    out = set()
    if isinstance(node, str) and "\n" in node and "secret" in node.lower():
        try:  # a kustomize patch given inline as YAML text
            node = yaml.safe_load(node)
        except yaml.YAMLError:
            return out
    if isinstance(node, dict):
        for k, v in node.items():
            secretish = inside_secret or "secret" in k.lower()
            if secretish and k in ("name", "secretName") and isinstance(v, str):
                out.add(v)
            out |= _secret_refs(v, secretish)
    elif isinstance(node, list):
        for v in node:
            out |= _secret_refs(v, inside_secret)
    return out


def secret_problems(guide_text: str, rendered: list[list[dict]]) -> list[str]:
    created = set(re.findall(r"create secret generic ([a-z0-9][a-z0-9.-]*)", guide_text))
    created |= {f"knative-{u}" for u in re.findall(r'create secret generic "knative-\$user"', guide_text) and
                re.findall(r"\bpact-(?:sink|source)-[a-z]+", guide_text)}
    referenced = set()
    for docs in rendered:
        for d in docs:
            referenced |= _secret_refs(d)
    for block in code_blocks(guide_text, "yaml"):
        for d in yaml.safe_load_all(block):
            referenced |= _secret_refs(d)
    if not created:
        return ["deploy.md: no `kubectl create secret generic` found"]
    return [f"deploy.md creates Secret {name}, which no manifest (nor the guide's own example) uses"
            for name in sorted(created - referenced)]


# ------------------------------------------------------------ (g) kubectl skew

def skew_problems(guide_text: str, script_text: str, config_text: str) -> list[str]:
    out = []
    images = [n.get("image", "") for n in yaml.safe_load(config_text).get("nodes") or []]
    minors = {int(m.group(1)) for i in images for m in [re.search(r"kindest/node:v1\.(\d+)\.", i)] if m}
    if len(minors) != 1:
        return [f"kind-cluster.yaml: node images {images} do not give one Kubernetes minor version"]
    minor = minors.pop()
    want = (minor - 1, minor + 1)
    row = re.search(r"^\| kubectl[^|]*\| *([^|]+)\|", guide_text, flags=re.M)
    got = re.fullmatch(r"v1\.(\d+) [–-] v1\.(\d+)\b.*", row.group(1).strip()) if row else None
    if not got or (int(got.group(1)), int(got.group(2))) != want:
        out.append(f"deploy.md: kubectl versions {row.group(1).strip() if row else '?'!r}; the skew policy "
                   f"allows v1.{want[0]} – v1.{want[1]} for Kubernetes 1.{minor}")
    head = re.search(r"kubectl \(v1\.(\d+)-v1\.(\d+)", script_text)
    if not head or (int(head.group(1)), int(head.group(2))) != want:
        out.append(f"kind-up.sh: its header must ask for kubectl v1.{want[0]}-v1.{want[1]}")
    return out


# ---------------------------------------------------- (h) label selectors

def _selector_matches(selector: str, labels: dict) -> bool:
    """Kubernetes label selector semantics for the forms the guide uses:
    key, !key, key=v, key!=v, key in (..), key notin (..)."""
    parts = re.findall(r"[^,(]+(?:\([^)]*\))?", selector)
    for part in (p.strip() for p in parts if p.strip()):
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s+\(([^)]*)\)", part):
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and key in labels and labels[key] in values:
                return False
        elif part.startswith("!"):
            if part[1:] in labels:
                return False
        elif "!=" in part:
            key, value = part.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in part:
            key, value = part.split("=", 1)
            if labels.get(key.rstrip("=")) != value:
                return False
        elif part not in labels:
            return False
    return True


def _selected(overlay_docs, selector):
    return [d for d in overlay_docs if _selector_matches(selector, d["metadata"].get("labels") or {})]


def teardown_problems(guide_text: str, docs: list[dict]) -> list[str]:
    out = []
    for c in guide_commands(guide_text):
        argv = words(c)
        if argv[:2] != ["kubectl", "delete"] or "-k" not in argv:
            continue
        selector = _last_flag(argv, "-l")
        if selector is None:
            continue
        kept = [d for d in docs if d not in _selected(docs, selector)]
        if [d["kind"] for d in kept] != ["Namespace"]:
            out.append(f"`{c}` should leave exactly the Namespace, leaves {[(d['kind'], d['metadata']['name']) for d in kept]}")
    for line in guide_text.splitlines():
        if re.search(r"delete -k(?!.* -l )", line) and re.search(r"\bremain", line):
            out.append(f"deploy.md: `{line.strip()}` says something remains after deleting the namespace")
    if "leave the Namespace out" not in guide_text and not any("-l" in words(c) and "delete" in c
                                                                for c in guide_commands(guide_text)):
        out.append("deploy.md: no way to remove PACT and keep the namespace's claims")
    return out


def kn_apply_problems(guide_text: str, docs: list[dict]) -> list[str]:
    out = []
    creates = {name for name, _ in kn_creates(guide_text)}
    ksvcs = {d["metadata"]["name"] for d in docs
             if d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative.dev")}
    if creates != ksvcs:
        out.append(f"kn path creates {sorted(creates)}, the manifests have {sorted(ksvcs)}")
    applies = [words(c) for c in guide_commands(guide_text)
               if c.startswith("kubectl apply -k") and " -l " in c]
    if not applies:
        return out + ["kn path: no `kubectl apply -k ... -l` leaving out the Knative Services"]
    for argv in applies:
        left_out = [d for d in docs if d not in _selected(docs, _last_flag(argv, "-l"))]
        names = {d["metadata"]["name"] for d in left_out
                 if d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative.dev")}
        if names != ksvcs or len(left_out) != len(ksvcs):
            out.append(f"kn path: the selector leaves out {[(d['kind'], d['metadata']['name']) for d in left_out]}, "
                       f"not exactly the Knative Services {sorted(ksvcs)}")
    return out


# ------------------------------------ (i) kn commands = the kind render's ksvcs

def _kn_settings(argv: list[str]) -> dict:
    env, order, s = {}, [], {"labels": {}}
    i = 0
    while i < len(argv):
        w = argv[i]
        value = argv[i + 1] if i + 1 < len(argv) else None
        if w == "--env":
            k, v = value.split("=", 1)
            env[k] = {"value": v}
            order.append(k)
        elif w == "--env-value-from":
            k, v = value.split("=", 1)
            kind, name, key = v.split(":")
            assert kind in ("secret", "sc"), v
            env[k] = {"secret": (name, key)}
            order.append(k)
        elif w in ("--scale-min", "--scale-max", "--scale-target", "--concurrency-limit", "--image",
                   "--request", "--limit", "--user", "--timeout"):
            s[w] = value
        elif w in ("--label", "-l"):
            k, v = value.split("=", 1)
            s["labels"][k] = v
        elif w == "--cluster-local":
            s["cluster-local"] = True
            i += 1
            continue
        else:
            i += 1
            continue
        i += 2
    s["env"], s["order"] = env, order
    return s


def _resources(spec: str | None) -> dict:
    return dict(kv.split("=", 1) for kv in (spec or "").split(",") if kv)


def kn_manifest_problems(guide_text: str, docs: list[dict]) -> list[str]:
    out = []
    ksvcs = {d["metadata"]["name"]: d for d in docs
             if d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative.dev")}
    for name, argv in kn_creates(guide_text):
        d = ksvcs.get(name)
        if d is None:
            continue
        kn = _kn_settings(argv)
        tmpl = d["spec"]["template"]
        c = tmpl["spec"]["containers"][0]
        want_env = {}
        for e in c.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            want_env[e["name"]] = {"secret": (ref["name"], ref["key"])} if ref else {"value": str(e.get("value"))}
        for k in sorted(set(want_env) | set(kn["env"])):
            if want_env.get(k) != kn["env"].get(k):
                out.append(f"kn {name}: env {k} is {kn['env'].get(k)} in the guide, {want_env.get(k)} in the manifests")
        for k, v in kn["env"].items():
            for dep in re.findall(r"\$\(([A-Z_][A-Z0-9_]*)\)", v.get("value", "")):
                if dep in kn["order"] and kn["order"].index(dep) > kn["order"].index(k):
                    out.append(f"kn {name}: {k} refers to $({dep}) defined after it")
        ann = tmpl["metadata"].get("annotations") or {}
        for flag, key in (("--scale-min", "min-scale"), ("--scale-max", "max-scale"), ("--scale-target", "target")):
            if kn.get(flag) != ann.get(f"autoscaling.knative.dev/{key}"):
                out.append(f"kn {name}: {flag} {kn.get(flag)}, manifests {ann.get(f'autoscaling.knative.dev/{key}')}")
        # kn's --timeout defaults to 300 (knative/client docs/cmd/kn_service_create.md), and so
        # does Serving's timeoutSeconds (config-defaults revision-timeout-seconds)
        timeout = str(tmpl["spec"].get("timeoutSeconds", 300))
        if (kn.get("--timeout") or "300") != timeout:
            out.append(f"kn {name}: --timeout {kn.get('--timeout')}, manifests timeoutSeconds {timeout}")
        cc = tmpl["spec"].get("containerConcurrency")
        if (kn.get("--concurrency-limit") is None) != (cc is None) or \
                (cc is not None and kn.get("--concurrency-limit") != str(cc)):
            out.append(f"kn {name}: --concurrency-limit {kn.get('--concurrency-limit')}, manifests {cc}")
        res = c.get("resources") or {}
        for flag, key in (("--request", "requests"), ("--limit", "limits")):
            want = {k: str(v) for k, v in (res.get(key) or {}).items()}
            if _resources(kn.get(flag)) != want:
                out.append(f"kn {name}: {flag} {kn.get(flag)}, manifests {want}")
        local = (d["metadata"].get("labels") or {}).get("networking.knative.dev/visibility") == "cluster-local"
        if bool(kn.get("cluster-local")) != local:
            out.append(f"kn {name}: --cluster-local {bool(kn.get('cluster-local'))}, manifests cluster-local {local}")
        if kn.get("--image") != c["image"]:
            out.append(f"kn {name}: image {kn.get('--image')}, manifests {c['image']}")
        user = (c.get("securityContext") or {}).get("runAsUser")
        if user is not None and kn.get("--user") != str(user):
            out.append(f"kn {name}: --user {kn.get('--user')}, manifests runAsUser {user}")
        pod_labels = tmpl["metadata"].get("labels") or {}
        for k in ("pact.dev/function", "app.kubernetes.io/part-of"):
            if pod_labels.get(k) != kn["labels"].get(k):
                out.append(f"kn {name}: label {k}={kn['labels'].get(k)}, manifests {pod_labels.get(k)}")
    return out


# ------------------------------------------------------ (j) Docker or podman

def engine_problems(guide_text: str, script_text: str) -> list[str]:
    out = []
    for where, text in (("kind-up.sh", script_text), ("deploy.md", guide_text)):
        code_text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        if not re.search(r"\bexport KIND_EXPERIMENTAL_PROVIDER=podman\b", code_text):
            out.append(f"{where}: kind is not told to use podman")
        if not re.search(r"podman save [^\n]*docker-archive", text) or "kind load image-archive" not in text:
            out.append(f"{where}: podman images do not reach kind (podman save + kind load image-archive)")
        # `kind load docker-image` runs the docker binary: only on Docker's branch.
        code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        for n, line in enumerate(code):
            if "kind load docker-image" in line and "`" not in line:
                opened = [c for c in code[:n] if re.match(r"\s*(if|elif|else)\b", c)]
                if not opened or not re.match(r'\s*if \[ "\$ENGINE" = docker \]', opened[-1]):
                    out.append(f"{where}: `kind load docker-image` outside an ENGINE = docker branch")
        if re.search(r"^\s*docker (build|exec|run|network)", text, flags=re.M):
            out.append(f"{where}: a bare `docker` command (use the engine variable)")
    return out


# ------------------------------------------- (k) kind platform requests patch

PLATFORM_PATCH = "knative/platform/kind-requests.yaml"


def platform_patch_problems(guide_text: str, script_text: str) -> list[str]:
    """knative/platform/kind-requests.yaml is applied server-side after the
    Kafka source is installed and before the overlay."""
    out = []
    for where, cmds in (("kind-up.sh", commands(script_text)), ("deploy.md", guide_commands(guide_text))):
        def at(pred):
            return next((i for i, c in enumerate(cmds) if pred(c)), None)
        # the guide applies eventing-kafka-source.yaml by URL; the script in a
        # loop over the release files, one of which it is
        source = at(lambda c: c.startswith("kubectl apply") and "eventing-kafka-broker" in c
                    and ("eventing-kafka-source.yaml" in c or where == "kind-up.sh"
                         and re.search(r"for f in [^;]*eventing-kafka-source\.yaml", script_text) is not None))
        patch = at(lambda c: c.startswith("kubectl apply") and PLATFORM_PATCH in c)
        overlay = at(lambda c: re.match(r'kubectl apply -k "?(\$ROOT/)?knative/overlays/', c) is not None)
        if patch is None:
            out.append(f"{where}: {PLATFORM_PATCH} is never applied")
            continue
        argv = words(cmds[patch])
        if "--server-side" not in argv:
            out.append(f"{where}: {PLATFORM_PATCH} is a partial object: it needs --server-side")
        if source is None or patch < source:
            out.append(f"{where}: {PLATFORM_PATCH} is applied before the Kafka source it patches exists")
        if overlay is not None and patch > overlay:
            out.append(f"{where}: {PLATFORM_PATCH} is applied after PACT itself")
    return out


# ------------------------------------------------- (l) OpenShift image pushes

def openshift_push_problems(guide_text: str, docs: list[dict]) -> list[str]:
    """The guide pushes each image the openshift overlay deploys, under the
    same repository path and tag, through the registry's route."""
    deployed = set()
    for d in docs:
        if d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative.dev"):
            image = d["spec"]["template"]["spec"]["containers"][0]["image"]
            deployed.add(image.split("/", 1)[1])
    pushed = set()
    for block in code_blocks(guide_text):
        m = re.search(r"for f in ([a-z ]+); do(.*?)done", block, flags=re.S)
        if not m or "podman push" not in m.group(2):
            continue
        push = re.search(r'podman push "\$HOST/([^"]+)"', m.group(2))
        for f in m.group(1).split():
            pushed.add(push.group(1).replace("$f", f))
    if not pushed:
        return ["deploy.md: no image push for OpenShift"]
    return [f"openshift overlay deploys {i}, which the guide does not push" for i in sorted(deployed - pushed)] + \
           [f"deploy.md pushes {i}, which the openshift overlay does not deploy" for i in sorted(pushed - deployed)]


# ---------------------------------------- (m) kind-up.sh's broker topology

TOPOLOGIES = ROOT / "docs/topologies.md"
# The overlay each argument of kind-up.sh must apply (docs/deploy.md, "kind,
# step by step"; docs/topologies.md, "A new cluster").
KIND_UP_OVERLAYS = {"kind": "overlays/kind", "demo": "overlays/demo", "broker": "overlays/broker/kind"}
DATA_PLANE = "eventing-kafka-broker.yaml"   # the Kafka Broker's data plane, a release file
BROKER_PLATFORM_PATCH = "knative/platform/kind-requests-broker.yaml"


def topologies():
    return TOPOLOGIES.read_text()


def script_arguments(script_text: str) -> dict[str, dict]:
    """{argument: the variables its arm of kind-up.sh's `case "${1:-...}" in`
    sets}, `${1:-...}` replaced by the argument."""
    m = re.search(r'^case "\$\{1:-([a-z]+)\}" in\n(.*?)^esac', script_text, flags=re.M | re.S)
    if not m:
        return {}
    out = {}
    for arm in re.finditer(r"^\s*([a-z|]+)\)(.*?);;", m.group(2), flags=re.M):
        for arg in arm.group(1).split("|"):
            out[arg] = {k: v.strip('"').replace("${1:-%s}" % m.group(1), arg)
                        for k, v in re.findall(r'\b([A-Z_]+)=("[^"]*"|[^\s;]+)', arm.group(2))}
    return out


def script_path(script_text: str, arg: str) -> list[str]:
    """The logical commands kind-up.sh runs for `arg`: outside any `if [
    "$VAR" = value ]` on a variable the argument sets, or inside one whose
    test holds (other conditions are kept, both branches); the argument's
    variables and "$ROOT/ substituted."""
    values = script_arguments(script_text).get(arg)
    if values is None:
        return []
    out, stack = [], []  # True/False: a test on the argument's variables; None: any other
    for c in commands(script_text):
        m = re.fullmatch(r'if \[ "\$(\w+)" (!?=) ([\w/.-]+) \]; then(?: (.*); fi)?', c)
        if m and m.group(1) in values:
            holds = (values[m.group(1)] == m.group(3)) == (m.group(2) == "=")
            if m.group(4) is None:
                stack.append(holds)
            elif holds and False not in stack:
                out.append(m.group(4))
            continue
        if re.match(r"if\b", c) and c.endswith("then"):
            stack.append(None)
        elif c.startswith("elif "):
            stack[-1] = None if stack[-1] is None else (False if stack[-1] else None)
        elif c == "else":
            stack[-1] = None if stack[-1] is None else not stack[-1]
        elif c == "fi":
            stack.pop()
        elif False not in stack:
            out.append(c)
    subst = {k: v for k, v in values.items()}
    return [re.sub(r"\$\{?([A-Z_]+)\}?", lambda v: subst.get(v.group(1), v.group(0)), c).replace('"$ROOT/', '"')
            for c in out]


def _index(path: list[str], pred) -> int | None:
    return next((i for i, c in enumerate(path) if pred(c)), None)


def output_names(docs: list[dict]) -> str:
    """What `kubectl get -o name` prints for these objects: <kind>.<group>/<name>,
    the kind lower-cased, no group for the core API (kubernetes
    staging/src/k8s.io/cli-runtime/pkg/printers/name.go)."""
    out = []
    for d in docs:
        group = d["apiVersion"].rpartition("/")[0]
        out.append(f"{d['kind'].lower()}{'.' + group if group else ''}/{d['metadata']['name']}\n")
    return "".join(out)


def applied_overlay_problems(script_text: str, arg: str) -> list[str]:
    path = script_path(script_text, arg)
    applied = [words(c)[3] for c in path if c.startswith("kubectl apply -k ")]
    want = f"knative/{KIND_UP_OVERLAYS[arg]}"
    if applied != [want]:
        return [f"kind-up.sh {arg}: applies {applied}, not {want}"]
    return []


def kafka_users_problems(script_text: str, arg: str, docs: list[dict], want: list[str]) -> list[str]:
    """The users whose knative-<user> Secrets `kind-up.sh arg` makes are the
    KafkaUsers of the overlay it applies (docs, its render) and pipeline.toml's
    (`want`): its `users="$(kubectl get -k <dir> -o name | <filter>)"` reads
    the directory it applied, and <filter>, run by bash on what kubectl would
    print for the render, keeps exactly the KafkaUsers."""
    path = script_path(script_text, arg)
    found = [m for c in path for m in [re.fullmatch(r'users="\$\(kubectl get -k "([^"]+)" -o name \| (.*)\)"', c)] if m]
    if len(found) != 1:
        return [f"kind-up.sh {arg}: no users=\"$(kubectl get -k <overlay> -o name | ...)\" (found {len(found)})"]
    out = []
    read, kept = found[0].groups()
    applied = [words(c)[3] for c in path if c.startswith("kubectl apply -k ")]
    if applied != [read]:
        out.append(f"kind-up.sh {arg}: reads the KafkaUsers of {read}, applies {applied}")
    run = subprocess.run(["bash", "-c", kept], input=output_names(docs), capture_output=True, text=True, timeout=30)
    got = sorted(run.stdout.split())
    rendered = sorted(d["metadata"]["name"] for d in docs if d["kind"] == "KafkaUser")
    if run.returncode != 0 or got != rendered:
        out.append(f"kind-up.sh {arg}: `{kept}` keeps {got} of the render, whose KafkaUsers are {rendered}")
    if got != sorted(want):
        out.append(f"kind-up.sh {arg}: makes Kafka auth Secrets for {got}, pipeline.toml makes {sorted(want)}")
    loop = _index(path, lambda c: c == "for user in $users; do")
    if loop is None or _index(path[loop:], lambda c: 'create secret generic "knative-$user"' in c) is None:
        out.append(f"kind-up.sh {arg}: no `for user in $users; do ... create secret generic \"knative-$user\"`")
    return out


def pinned_version(guide_text: str) -> str | None:
    row = re.search(r"^\| Knative Serving, net-kourier, Eventing, eventing-kafka-broker \| (\S+) \|", guide_text, re.M)
    return row.group(1) if row else None


def data_plane_problems(script_text: str, guide_text: str, topologies_text: str, arg: str) -> list[str]:
    """`kind-up.sh broker` applies the Kafka Broker's data plane, the release
    file of the version deploy.md pins and topologies.md installs, after the
    Kafka controller, then kind-requests-broker.yaml server-side, then the
    overlay; the explicit arguments apply neither (the patch alone would
    create half a StatefulSet)."""
    out = []
    pinned = pinned_version(guide_text)
    default = re.search(r'^KNATIVE_VERSION="\$\{KNATIVE_VERSION:-(\S+)\}"$', script_text, re.M)
    gh = re.search(r'^gh\(\) \{ echo "https://github\.com/\$1/releases/download/\$KNATIVE_VERSION/\$2"; \}$', script_text, re.M)
    if pinned is None or default is None or default.group(1) != pinned:
        out.append(f"kind-up.sh: KNATIVE_VERSION defaults to {default and default.group(1)}, deploy.md pins {pinned}")
    if gh is None:
        out.append("kind-up.sh: gh() does not make release URLs of $KNATIVE_VERSION")
    url = f"https://github.com/knative-extensions/eventing-kafka-broker/releases/download/{pinned}/{DATA_PLANE}"
    if f"kubectl apply -f {url}" not in guide_commands(topologies_text):
        out.append(f"topologies.md: does not install {url}")
    path = script_path(script_text, arg)
    plane = _index(path, lambda c: c == f'kubectl apply -f "$(gh knative-extensions/eventing-kafka-broker {DATA_PLANE})"')
    patch = _index(path, lambda c: c.startswith("kubectl apply") and BROKER_PLATFORM_PATCH in c)
    overlay = _index(path, lambda c: c.startswith("kubectl apply -k "))
    if arg != "broker":
        if plane is not None or patch is not None:
            out.append(f"kind-up.sh {arg}: applies the broker data plane or its patch in the explicit topology")
        return out
    controller = _index(path, lambda c: re.match(r"for f in eventing-kafka-controller\.yaml", c) is not None)
    if plane is None:
        out.append(f"kind-up.sh broker: never applies {DATA_PLANE}")
    elif controller is None or plane < controller:
        out.append(f"kind-up.sh broker: applies {DATA_PLANE} before eventing-kafka-controller.yaml")
    if patch is None:
        out.append(f"kind-up.sh broker: never applies {BROKER_PLATFORM_PATCH}")
    else:
        if "--server-side" not in words(path[patch]):
            out.append(f"kind-up.sh broker: {BROKER_PLATFORM_PATCH} is a partial object: it needs --server-side")
        if plane is None or patch < plane:
            out.append(f"kind-up.sh broker: {BROKER_PLATFORM_PATCH} is applied before the data plane it patches")
        if overlay is None or patch > overlay:
            out.append(f"kind-up.sh broker: {BROKER_PLATFORM_PATCH} is applied after PACT itself")
    return out


def _kind_words(kind: str) -> set[str]:
    k = kind.lower()
    return {k, k + "s", k[:-1] + "ies" if k.endswith("y") else k + "es"}


def broker_wait_problems(script_text: str, arg: str, broker_docs: list[dict], explicit_docs: list[dict]) -> list[str]:
    """`kind-up.sh broker` waits (condition Ready, after the Kafka auth
    Secrets the Broker needs) for every kind the broker render has and the
    explicit one has not (ConfigMaps aside: no conditions); an explicit
    argument waits for none of them (`kubectl wait --all` finding nothing fails)."""
    only = sorted({d["kind"] for d in broker_docs if "/" in d["apiVersion"]}
                  - {d["kind"] for d in explicit_docs})
    path = script_path(script_text, arg)
    secrets = _index(path, lambda c: c == "for user in $users; do")
    waited = set()
    for i, c in enumerate(path):
        argv = words(c)
        if argv[:1] == ["kubectl"] and "wait" in argv and "--all" in argv and "--for=condition=Ready" in argv:
            kinds = set(argv[argv.index("wait") + 1].split(","))
            if arg == "broker" and secrets is not None and i < secrets:
                continue
            waited |= {k for k in only if _kind_words(k) & kinds}
    want = set(only) if arg == "broker" else set()
    if not only:
        return ["the broker render has no kind of its own (the check would prove nothing)"]
    if waited != want:
        return [f"kind-up.sh {arg}: waits for {sorted(waited)} of the broker topology's own kinds, "
                f"should wait for {sorted(want)}"]
    return []


def closing_hint(script_text: str, arg: str) -> str:
    """What kind-up.sh prints at the end for `arg` (the text from `check=(`
    to the heredoc's end, run by bash)."""
    m = re.search(r"^check=\(.*?^EOF$", script_text, flags=re.M | re.S)
    if not m:
        return ""
    setup = "".join(f"{k}={shlex.quote(v)}\n" for k, v in script_arguments(script_text).get(arg, {}).items())
    run = subprocess.run(["bash", "-c", "set -eu\nNS=pact ROOT=/repo state_dir=/state\n" + setup + m.group(0)],
                         capture_output=True, text=True, timeout=30)
    return run.stdout if run.returncode == 0 else ""


def hint_problems(script_text: str, arg: str) -> list[str]:
    hint = [line.split("#")[0].strip() for line in closing_hint(script_text, arg).splitlines()
            if line.strip().startswith("pact check-cluster")]
    want = "pact check-cluster --topology broker" if arg == "broker" else "pact check-cluster"
    if hint != [want]:
        return [f"kind-up.sh {arg}: ends by suggesting {hint}, not {want!r}"]
    return []


def usage_problems(script_text: str, guide_text: str, topologies_text: str) -> list[str]:
    """Every argument kind-up.sh accepts is in its usage line and its error,
    and deploy.md names each but the default; topologies.md names broker."""
    out = []
    args = list(script_arguments(script_text))
    if sorted(args) != sorted(KIND_UP_OVERLAYS):
        out.append(f"kind-up.sh: accepts {args}, not {sorted(KIND_UP_OVERLAYS)}")
    usage = re.search(r"^# Usage: scripts/kind-up\.sh \[([a-z|]+)\]", script_text, re.M)
    if not usage or usage.group(1).split("|") != args:
        out.append(f"kind-up.sh: its usage line says {usage and usage.group(1)}, it accepts {args}")
    if f'echo "usage: $0 [{"|".join(args)}]"' not in script_text:
        out.append(f"kind-up.sh: its usage error does not say [{'|'.join(args)}]")
    for arg in args[1:]:
        if f"scripts/kind-up.sh {arg}" not in guide_text:
            out.append(f"deploy.md: never says `scripts/kind-up.sh {arg}`")
    if "scripts/kind-up.sh broker" not in topologies_text:
        out.append("topologies.md: never says `scripts/kind-up.sh broker`")
    return out


# =================================================================== tests

def test_webhook_waits_precede_configmap_patches():
    assert script_webhook_problems(script()) == []
    assert guide_webhook_problems(guide()) == []


def _drop_waits(text):
    return "\n".join(line for line in text.splitlines()
                     if "rollout status" not in line and not re.match(r"\s*wait_for_webhook ", line))


def _swap_first_patch_and_wait(text):
    """The script with its first wait_for_webhook moved after the patch."""
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("wait_for_webhook knative-eventing"))
    wait = lines.pop(i)
    j = next(n for n in range(i, len(lines)) if lines[n].startswith("kubectl -n knative-eventing patch"))
    lines.insert(j + 2, wait)
    return "\n".join(lines)


@pytest.mark.parametrize("broken", [
    lambda: script_webhook_problems(_drop_waits(script())),
    lambda: script_webhook_problems(_swap_first_patch_and_wait(script())),
    lambda: script_webhook_problems(script().replace("wait_for_webhook knative-eventing eventing-webhook",
                                                     "wait_for_webhook knative-serving webhook")),
    lambda: guide_webhook_problems(_drop_waits(guide())),
    lambda: guide_webhook_problems(guide().replace("rollout status deployment/eventing-webhook",
                                                   "rollout status deployment/eventing-controller")),
    lambda: script_webhook_problems(script().replace('"deployment/$2"', '"deployment/$1"')),
], ids=["script-no-waits", "script-patch-before-wait", "script-wrong-namespace", "guide-no-waits",
        "guide-wrong-deployment", "script-helper-waits-for-nothing"])
def test_webhook_check_bites(broken):
    assert broken() != []


def test_kn_creates_carry_strict_security_context():
    assert len(kn_creates(guide())) == len(topology.services())
    assert kn_security_problems(guide()) == []


@pytest.mark.parametrize("broken", [
    lambda g: g.replace(" --security-context strict", "", 1),
    lambda g: g.replace("--security-context strict --timeout 60 \\\n  --image localhost/pact-query:dev",
                        "--security-context strict --security-context none --timeout 60 \\\n  --image localhost/pact-query:dev"),
], ids=["flag-missing", "flag-overridden"])
def test_kn_security_check_bites(broken):
    g = broken(guide())
    assert g != guide()
    assert kn_security_problems(g) != []


def test_host_port_reaches_kourier_and_urls_use_it():
    assert port_problems(guide(), script(), kind_config()) == []


@pytest.mark.parametrize("broken", [
    lambda g, s, k: (g.replace("pact-query.pact.127.0.0.1.sslip.io/contacts", "pact-query.pact.127.0.0.1.sslip.io:8080/contacts"), s, k),
    lambda g, s, k: (g, s, k.replace("containerPort: 31080", "containerPort: 30080")),
    lambda g, s, k: (g, s.replace("INGRESS_NODE_PORT=31080", "INGRESS_NODE_PORT=31081"), k),
    lambda g, s, k: (g.replace('"nodePort":31080', '"nodePort":31081'), s, k),
    lambda g, s, k: (g, s, k.replace("hostPort: 80", "hostPort: 8080")),
    lambda g, s, k: (g.replace("kubectl -n kourier-system patch service kourier", "kubectl -n kourier-system get service kourier"), s, k),
], ids=["url-wrong-port", "kind-maps-other-port", "script-other-nodeport", "guide-other-nodeport",
        "host-port-changed", "no-kourier-patch"])
def test_port_check_bites(broken):
    assert port_problems(*broken(guide(), script(), kind_config())) != []


def test_sslip_urls_name_public_services():
    assert url_service_problems(guide(), script(), render()) == []


def test_sslip_url_check_bites():
    docs = render()
    query = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "pact-query"
                 and d["apiVersion"].startswith("serving"))
    query["metadata"].setdefault("labels", {})["networking.knative.dev/visibility"] = "cluster-local"
    assert url_service_problems(guide(), script(), docs) != []
    assert url_service_problems(guide().replace("pact-query.pact.127", "pact-querry.pact.127"), script(), render()) != []


def test_containerd_maps_every_local_registry_name():
    assert script_registry_hosts(script()) == ["localhost:5001", "kind-registry:5000"]
    assert guide_registry_hosts(guide()) == ["localhost:5001", "kind-registry:5000"]
    assert registry_problems(guide(), script(), kind_config(), PIPELINERUN.read_text()) == []


@pytest.mark.parametrize("broken", [
    lambda g, s, k, p: (g, s.replace("REGISTRY_HOSTS=(localhost:5001 kind-registry:5000)", "REGISTRY_HOSTS=(localhost:5001)"), k, p),
    lambda g, s, k, p: (g.replace("for host in localhost:5001 kind-registry:5000;", "for host in localhost:5001;"), s, k, p),
    lambda g, s, k, p: (g, s, k, re.sub(r"(name: registry\n\s+value: )\S+", r"\1registry.pact-ci.svc.cluster.local:5000/pact", p)),
    lambda g, s, k, p: (g, s, k.replace("config_path", "config_dir"), p),
    lambda g, s, k, p: (g, s.replace(",localhost:5001,kind-registry:5000", ""), k, p),
], ids=["script-one-name", "guide-one-name", "pipeline-cluster-dns-name", "no-certs-d", "tag-resolution"])
def test_registry_check_bites(broken):
    args = broken(guide(), script(), kind_config(), PIPELINERUN.read_text())
    assert args != (guide(), script(), kind_config(), PIPELINERUN.read_text())
    assert registry_problems(*args) != []


def test_lag_command_matches_the_listener():
    assert lag_problems(guide(), render()) == []


@pytest.mark.parametrize("broken", [
    lambda g: g.replace("pact-cluster-kafka-bootstrap.pact.svc:9093", "pact-cluster-kafka-bootstrap.pact.svc:9092"),
    lambda g: g.replace("kubectl -n knative-eventing run kafka-lag", "kubectl -n pact run kafka-lag"),
    lambda g: g.replace("KUSER=pact-source-translation GROUP=pact-translation", "KUSER=pact-sink-translated GROUP=pact-translation"),
    lambda g: g.replace("security.protocol=SASL_SSL", "security.protocol=SASL_PLAINTEXT"),
    lambda g: g.replace("pact-cluster-kafka-bootstrap.pact.svc:9093", "localhost:9093"),
], ids=["port-9092", "namespace-not-a-peer", "user-without-group-acl", "plaintext", "not-the-bootstrap"])
def test_lag_check_bites(broken):
    g = broken(guide())
    assert g != guide()
    assert lag_problems(g, render()) != []


def test_created_secrets_are_used():
    rendered = [render(o) for o in ("overlays/kind", "overlays/openshift", "overlays/demo")]
    assert secret_problems(guide(), rendered) == []


def test_secret_check_bites():
    rendered = [render("overlays/kind")]
    g = guide().replace("create secret generic pact-postgres \\", "create secret generic pact-postgress \\", 1)
    assert g != guide()
    assert secret_problems(g, rendered) != []


def test_kubectl_versions_follow_the_skew_policy():
    assert skew_problems(guide(), script(), kind_config()) == []


@pytest.mark.parametrize("broken", [
    lambda g, s, k: (g.replace("| v1.33 – v1.35 ", "| v1.32 or newer "), s, k),
    lambda g, s, k: (g, s.replace("kubectl (v1.33-v1.35", "kubectl (>= 1.27"), k),
    lambda g, s, k: (g, s, k.replace("kindest/node:v1.34.0", "kindest/node:v1.36.0")),
], ids=["guide-open-ended", "script-old-advice", "node-image-bumped"])
def test_skew_check_bites(broken):
    assert skew_problems(*broken(guide(), script(), kind_config())) != []


def test_teardown_selector_and_text():
    assert teardown_problems(guide(), render()) == []


@pytest.mark.parametrize("broken", [
    lambda g: g.replace("-l '!pod-security.kubernetes.io/enforce'", "-l '!app.kubernetes.io/part-of'"),
    lambda g: g.replace("-l '!pod-security.kubernetes.io/enforce'", "-l 'app.kubernetes.io/part-of=pact'"),
    lambda g: g.replace("kind delete cluster --name pact\n",
                        "kubectl delete -k knative/overlays/kind   # PVCs of Kafka and PostgreSQL remain\n"),
], ids=["keeps-everything", "deletes-the-namespace", "claims-pvcs-remain"])
def test_teardown_check_bites(broken):
    g = broken(guide())
    assert g != guide()
    assert teardown_problems(g, render()) != []


def test_kn_path_leaves_out_exactly_the_services():
    assert kn_apply_problems(guide(), render()) == []


def test_kn_apply_check_bites():
    g = guide().replace("notin (pact-producer,pact-translation,pact-contactlog,pact-query,pact-notify)",
                        "notin (pact-producer,pact-translation,pact-contactlog,pact-query,pact-notify,pact-postgres)")
    assert g != guide()
    assert kn_apply_problems(g, render()) != []


def test_kn_commands_match_the_manifests():
    assert kn_manifest_problems(guide(), render()) == []


@pytest.mark.parametrize("broken", [
    lambda g: g.replace("--env PACT_GEOCODER=offline ", "--env PACT_GEOCODER=nominatim "),
    lambda g: g.replace(" --env PACT_REQUIRE_SINK=true \\\n  --request cpu=25m,memory=64Mi --limit cpu=1,memory=256Mi", " \\\n  --request cpu=25m,memory=64Mi --limit cpu=1,memory=256Mi", 1),
    lambda g: g.replace("--scale-max 3 --scale-target 200", "--scale-max 5 --scale-target 200"),
    lambda g: g.replace("--scale-max 10 --scale-target 50 --cluster-local", "--scale-max 10 --scale-target 50"),
    lambda g: g.replace("--concurrency-limit 20", "--concurrency-limit 10"),
    lambda g: g.replace("--timeout 90", "--timeout 60"),
    lambda g: g.replace("--limit cpu=1,memory=512Mi", "--limit cpu=1,memory=256Mi"),
    lambda g: g.replace("DB=(--env-value-from PGUSER=secret:pact-postgres:username\n  --env-value-from PGPASSWORD=secret:pact-postgres:password\n  --env 'DATABASE_URL",
                        "DB=(--env 'DATABASE_URL").replace(
        "@pact-postgres.pact.svc.cluster.local:5432/pact'\n",
        "@pact-postgres.pact.svc.cluster.local:5432/pact'\n  --env-value-from PGUSER=secret:pact-postgres:username\n  --env-value-from PGPASSWORD=secret:pact-postgres:password\n", 1),
], ids=["env-value", "env-missing", "scale", "visibility", "concurrency", "timeout", "limits", "env-order"])
def test_kn_manifest_check_bites(broken):
    g = broken(guide())
    assert g != guide()
    assert kn_manifest_problems(g, render()) != []


def test_docker_or_podman():
    assert engine_problems(guide(), script()) == []


@pytest.mark.parametrize("broken", [
    lambda g, s: (g, s.replace("export KIND_EXPERIMENTAL_PROVIDER=podman", "true")),
    lambda g, s: (g.replace('"$ENGINE" build -t', "docker build -t"), s),
    lambda g, s: (g, s.replace('kind load image-archive "$archives/$image.tar"', 'kind load docker-image "localhost/$image:dev"')),
], ids=["kind-not-told", "bare-docker", "docker-load-for-podman"])
def test_engine_check_bites(broken):
    args = broken(guide(), script())
    assert args != (guide(), script())
    assert engine_problems(*args) != []


def test_kind_up_passes_shellcheck():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    out = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_kind_up_uses_the_kind_config():
    s = script()
    assert 'KIND_CONFIG="$ROOT/scripts/kind-cluster.yaml"' in s and '--config "$KIND_CONFIG"' in s
    assert "kind create cluster --name pact --config scripts/kind-cluster.yaml" in guide()
    assert yaml.safe_load(kind_config())["apiVersion"] == "kind.x-k8s.io/v1alpha4"


def test_kind_platform_requests_are_lowered():
    assert platform_patch_problems(guide(), script()) == []


@pytest.mark.parametrize("broken", [
    lambda g, s: (g, "\n".join(line for line in s.splitlines() if "kind-requests.yaml" not in line)),
    lambda g, s: (g.replace("kubectl apply --server-side --force-conflicts --field-manager=pact-kind \\\n  -f knative/platform",
                            "kubectl apply -f knative/platform"), s),
], ids=["script-never-applies", "guide-client-side"])
def test_platform_patch_check_bites(broken):
    args = broken(guide(), script())
    assert args != (guide(), script())
    assert platform_patch_problems(*args) != []


def test_openshift_pushes_what_the_overlay_deploys():
    assert openshift_push_problems(guide(), render("overlays/openshift")) == []


def test_openshift_push_check_bites():
    g = guide().replace('podman push "$HOST/pact/pact-$f:dev"', 'podman push "$HOST/pact/pact-$f:latest"')
    assert g != guide()
    assert openshift_push_problems(g, render("overlays/openshift")) != []


# ------------------------------------------- kind-up.sh: the broker topology

def _want_users(arg):
    return topology.broker_kafka_users() if arg == "broker" else topology.kafka_users()


@pytest.mark.parametrize("arg", sorted(KIND_UP_OVERLAYS))
def test_kind_up_applies_the_overlay_and_makes_its_users_secrets(arg):
    assert applied_overlay_problems(script(), arg) == []
    assert kafka_users_problems(script(), arg, render(KIND_UP_OVERLAYS[arg]), _want_users(arg)) == []


def test_kind_up_broker_users_are_the_broker_topologys():
    # the same filter, on two renders: eight users for the one, four for the other
    assert sorted(_want_users("broker")) == ["pact-broker", "pact-sink-deadletter", "pact-sink-notifications",
                                             "pact-source-translation"]
    assert len(_want_users("kind")) == 8


@pytest.mark.parametrize("broken", [
    lambda s: s.replace("s|^kafkauser\\.kafka\\.strimzi\\.io/||p", "s|^kafkatopic\\.kafka\\.strimzi\\.io/||p"),
    lambda s: s.replace("s|^kafkauser\\.kafka\\.strimzi\\.io/||p", "s|^kafkauser/||p"),
    lambda s: s.replace('users="$(kubectl get -k "$ROOT/knative/overlays/$OVERLAY"',
                        'users="$(kubectl get -k "$ROOT/knative/overlays/kind"'),
    lambda s: s.replace("broker) OVERLAY=broker/kind;", "broker) OVERLAY=kind;"),
    lambda s: s.replace("for user in $users; do", "for user in pact-sink-deadletter pact-broker; do"),
], ids=["other-kind", "core-group-form", "reads-the-explicit-overlay", "applies-the-explicit-overlay", "own-list"])
def test_kind_up_users_check_bites(broken):
    s = broken(script())
    assert s != script()
    found = applied_overlay_problems(s, "broker") + \
        kafka_users_problems(s, "broker", render(KIND_UP_OVERLAYS["broker"]), _want_users("broker"))
    assert found != []


@pytest.mark.parametrize("arg", sorted(KIND_UP_OVERLAYS))
def test_kind_up_broker_data_plane_is_the_pinned_release(arg):
    assert pinned_version(guide()) == "knative-v1.23.0"
    assert data_plane_problems(script(), guide(), topologies(), arg) == []


def _unguard_data_plane(s):
    old = ('if [ "$TOPOLOGY" = broker ]; then\n'
           '  kubectl apply -f "$(gh knative-extensions/eventing-kafka-broker eventing-kafka-broker.yaml)"\nfi\n')
    assert old in s
    return s.replace(old, 'kubectl apply -f "$(gh knative-extensions/eventing-kafka-broker eventing-kafka-broker.yaml)"\n')


def _patch_before_data_plane(s):
    plane = ('if [ "$TOPOLOGY" = broker ]; then\n'
             '  kubectl apply -f "$(gh knative-extensions/eventing-kafka-broker eventing-kafka-broker.yaml)"\nfi\n')
    assert plane in s
    s = s.replace(plane, "")
    anchor = "kubectl -n knative-eventing wait deploy --all --for=condition=Available --timeout=10m\n"
    return s.replace(anchor, anchor + plane, 1)


@pytest.mark.parametrize("broken", [
    lambda s, g, t: (s.replace('KNATIVE_VERSION="${KNATIVE_VERSION:-knative-v1.23.0}"',
                               'KNATIVE_VERSION="${KNATIVE_VERSION:-knative-v1.22.0}"'), g, t, "broker"),
    lambda s, g, t: (s, g, t.replace("download/knative-v1.23.0/eventing-kafka-broker.yaml",
                                     "download/knative-v1.22.0/eventing-kafka-broker.yaml"), "broker"),
    lambda s, g, t: (s.replace("eventing-kafka-broker eventing-kafka-broker.yaml)", "eventing-kafka-broker eventing-kafka-broker-v2.yaml)"), g, t, "broker"),
    lambda s, g, t: (_unguard_data_plane(s), g, t, "kind"),
    lambda s, g, t: (_patch_before_data_plane(s), g, t, "broker"),
    lambda s, g, t: (s.replace("  kubectl apply --server-side --force-conflicts --field-manager=pact-kind \\\n"
                               '    -f "$ROOT/knative/platform/kind-requests-broker.yaml"',
                               '  kubectl apply -f "$ROOT/knative/platform/kind-requests-broker.yaml"'), g, t, "broker"),
], ids=["script-other-version", "guide-other-version", "other-file", "explicit-gets-it", "patch-first", "client-side"])
def test_data_plane_check_bites(broken):
    s, g, t, arg = broken(script(), guide(), topologies())
    assert (s, g, t) != (script(), guide(), topologies())
    assert data_plane_problems(s, g, t, arg) != []


@pytest.mark.parametrize("arg", sorted(KIND_UP_OVERLAYS))
def test_kind_up_broker_waits_for_the_broker_topologys_own_objects(arg):
    assert broker_wait_problems(script(), arg, render(KIND_UP_OVERLAYS["broker"]), render()) == []


_BROKER_WAIT = ('if [ "$TOPOLOGY" = broker ]; then\n'
                '  kubectl -n "$NS" wait broker,trigger,eventpolicy --all --for=condition=Ready --timeout=5m\nfi\n')


@pytest.mark.parametrize("broken", [
    lambda s: (s.replace("wait broker,trigger,eventpolicy --all", "wait broker,trigger --all"), "broker"),
    lambda s: (s.replace(_BROKER_WAIT, ""), "broker"),
    lambda s: (s.replace(_BROKER_WAIT, '  kubectl -n "$NS" wait broker,trigger,eventpolicy --all --for=condition=Ready --timeout=5m\n'), "demo"),
    lambda s: (s.replace(_BROKER_WAIT, "").replace('step "Kafka auth Secrets', _BROKER_WAIT + 'step "Kafka auth Secrets'), "broker"),
], ids=["policy-not-waited", "no-wait", "explicit-waits-too", "before-the-secrets"])
def test_broker_wait_check_bites(broken):
    s, arg = broken(script())
    assert s != script()
    assert broker_wait_problems(s, arg, render(KIND_UP_OVERLAYS["broker"]), render()) != []


@pytest.mark.parametrize("arg", sorted(KIND_UP_OVERLAYS))
def test_kind_up_ends_with_the_topologys_check_cluster(arg):
    assert hint_problems(script(), arg) == []
    # the CLI has the flag (src/check_cluster/mod.rs, its usage text)
    assert "pact check-cluster --topology broker" in (ROOT / "src/check_cluster/mod.rs").read_text()


@pytest.mark.parametrize("broken", [
    lambda s: (s.replace("if [ \"$TOPOLOGY\" = broker ]; then check+=(--topology broker); fi\n", ""), "broker"),
    lambda s: (s.replace("if [ \"$TOPOLOGY\" = broker ]; then check+=(--topology broker); fi\n",
                         "check+=(--topology broker)\n"), "kind"),
], ids=["broker-without-topology", "explicit-with-broker"])
def test_hint_check_bites(broken):
    s, arg = broken(script())
    assert s != script()
    assert hint_problems(s, arg) != []


def test_kind_up_arguments_are_documented():
    assert usage_problems(script(), guide(), topologies()) == []


@pytest.mark.parametrize("broken", [
    lambda s, g, t: (s.replace("[kind|demo|broker]", "[kind|demo]"), g, t),
    lambda s, g, t: (s, g.replace("scripts/kind-up.sh broker", "scripts/kind-up.sh"), t),
    lambda s, g, t: (s, g, t.replace("scripts/kind-up.sh broker", "scripts/kind-up.sh")),
    lambda s, g, t: (s.replace("  broker) OVERLAY=broker/kind; TOPOLOGY=broker ;;\n", ""), g, t),
], ids=["usage-line", "deploy-md", "topologies-md", "not-accepted"])
def test_usage_check_bites(broken):
    args = broken(script(), guide(), topologies())
    assert args != (script(), guide(), topologies())
    assert usage_problems(*args) != []
