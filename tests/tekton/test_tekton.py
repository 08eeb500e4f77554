"""Checks of the build pipeline in tekton/ (issue 7, DESIGN.md section 7).

Run:  python3 -m pytest tests/tekton     (needs kubectl, PyYAML, jsonschema, and
      tekton-lint: `npm ci --prefix tests/tekton`)

1. every file validates strictly against the Tekton, Triggers and Kubernetes
   schemas in tests/manifests/schemas; the PipelineRun inside the
   TriggerTemplate too (the Triggers CRDs themselves carry no schema);
2. tekton-lint passes with no warning;
3. consistency (see `problems()`): every task referenced exists, every param,
   result and workspace used is declared and every required one is given, the
   images built are the ones knative/ deploys and pipeline.toml lists (as are
   the Dockerfile's and scripts/images.sh's, `test_build_files_follow_the_topology`), the deploy RBAC covers every
   kind the overlays contain, every Secret bound is created by tekton/ or a
   command in the guides (docs/ci-cd.md, docs/deploy.md);
4. rules of the cluster a schema cannot express (issue 16), each a small
   function returning problems: every image the pipeline runs is pullable by
   name (`image_rule_problems`), every TaskRun pod, and the pods that run at
   once, fit in half a kind node (`budget_problems`), the example run pushes
   where both its pods and kind's containerd find the registry
   (`registry_problems`), pact-deploy pins the images it is given, registry
   port and all (`deploy_substitution_problems`);
5. negative cases: broken variants must be caught.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess

import pytest
import topology
import yaml
from cluster_rules import KIND_NODE, PUBLIC_REGISTRIES, fits, image_problems, pod_requests
from k8s import KUBECTL, ROOT, kustomize, load_all, schema_errors

TEKTON = ROOT / "tekton"
HERE = ROOT / "tests/tekton"
LINT = HERE / "node_modules/.bin/tekton-lint"
FILES = sorted(TEKTON.rglob("*.yaml"))
PIPELINE_FILES = [p for p in FILES if p.name != "kustomization.yaml"]

# The interface of the Tekton catalog's git-clone 0.9 (tektoncd/catalog,
# task/git-clone/0.9/git-clone.yaml), which pact-ci fetches with the git
# resolver: names only, to check pact-ci's use of it offline.
GIT_CLONE = {
    "pathInRepo": "task/git-clone/0.9/git-clone.yaml",
    "params": {"url": False, "revision": True, "refspec": True, "submodules": True, "depth": True,
               "sslVerify": True, "crtFileName": True, "subdirectory": True,
               "sparseCheckoutDirectories": True, "deleteExisting": True, "httpProxy": True,
               "httpsProxy": True, "noProxy": True, "verbose": True, "gitInitImage": True,
               "userHome": True},  # name -> has a default
    "workspaces": {"output": False, "ssh-directory": True, "basic-auth": True,
                   "ssl-ca-directory": True},  # name -> optional
    "results": {"commit", "url", "committer-date"},
    # Its one step, `clone`, runs image $(params.gitInitImage) and declares
    # no computeResources; no stepTemplate, no sidecar (same file, at both
    # commits below).
    "spec": {"steps": [{"name": "clone", "image": "$(params.gitInitImage)", "script": "#!/usr/bin/env sh"}]},
    # Its params that name an image, with their defaults, at each catalog
    # commit this test knows (task/git-clone/0.9/git-clone.yaml, spec.params).
    # 02e1498e: the gcr.io image, 403 since Tekton left gcr.io
    # (tektoncd/pipeline#8870); c9818f3d ("Switch container images from gcr.io
    # to ghcr.io"): the ghcr.io copy of the same image (tektoncd/plumbing
    # tekton/resources/images/copy-all-skopeo.yaml made the copies).
    "image_params": {
        "02e1498e31296ba0e5c00fcb48b07cc5e5fe3113": {
            "gitInitImage": "gcr.io/tekton-releases/github.com/tektoncd/pipeline/cmd/git-init:v0.40.2"},
        "c9818f3dcecde0bc48b88749675eb13f0d314707": {
            "gitInitImage": "ghcr.io/tektoncd/github.com/tektoncd/pipeline/cmd/git-init:v0.40.2"},
    },
}

# What one TaskRun pod may ask for: half a kind node (cluster_rules.KIND_NODE).
# The other half is PACT's own while the pipeline runs: Kafka and its
# controllers, Knative, PostgreSQL, the functions scaled up. TaskRuns that
# run at once share this half, as they share the node: Tekton's affinity
# assistant puts every pod that mounts the run's workspace PVC on one node
# (coschedule: workspaces, the default). This is a ceiling, not what is
# free: tests/manifests counts the platform and the kind overlay at about
# 3.6 CPUs and 4.4 GiB of requests, Tekton's webhook and resolvers add
# 200m / 200Mi (config/webhook.yaml, config/resolvers/resolvers-deployment.yaml),
# so the Tasks keep CPU requests to a token and reserve memory only.
TASKRUN_BUDGET = {k: v // 2 for k, v in KIND_NODE.items()}

# Tekton Pipelines v1.15.0 builds a TaskRun pod as follows (pkg/pod/pod.go
# Builder.Build): each step becomes a container with the computeResources it
# declares, merged with the stepTemplate (a strategic merge: the step's keys
# win); sidecars are containers too (enable-kubernetes-sidecar is off by
# default). No request is zeroed or moved any more (removed in v0.28,
# tektoncd/pipeline ff860dfa), so the scheduler reserves the sum over the
# steps although they run one at a time. Task-level computeResources exist
# only on a TaskRun or a PipelineRun's taskRunSpecs (pkg/internal/
# computeresources/tasklevel), not on a Task.
# Tekton adds init containers that declare no resources: prepare (always),
# place-scripts (a step or sidecar with a script), working-dir-initializer
# (a workingDir under /workspace); config-defaults'
# default-container-resource-requirements could give them some, and is
# unset by default (config/config-defaults.yaml).
TEKTON_INIT_CONTAINERS = [{"name": "prepare"}, {"name": "place-scripts"}, {"name": "working-dir-initializer"}]
# The affinity assistant: one placeholder pod per PipelineRun and workspace,
# on the node where the run's pods go (pkg/reconciler/pipelinerun/
# affinity_assistant.go: requests = limits = 50m CPU, 100Mi).
AFFINITY_ASSISTANT = {"name": "affinity-assistant", "resources": {"requests": {"cpu": "50m", "memory": "100Mi"}}}

# Registry hosts that both a pod (buildah pushing) and a kind node's
# containerd (pulling) reach as kind's local registry (scripts/kind-up.sh,
# kind's "Local Registry" guide): inside a pod localhost:5001 is the pod
# itself, and containerd resolves names with the node's resolver, so a
# cluster DNS name (*.svc.cluster.local) does not resolve for a pull.
KIND_PUSH_AND_PULL = ("kind-registry:5000",)


def load() -> list[dict]:
    docs = []
    for path in PIPELINE_FILES:
        docs += load_all(path.read_text())
    return docs


def _name(doc):
    return (doc.get("metadata") or {}).get("name")


def _of(docs, kind):
    return {_name(d): d for d in docs if d.get("kind") == kind}


def _refs(node, prefix):
    """Names X in every `$(<prefix>.X...)` in the strings below node."""
    found = set()
    if isinstance(node, dict):
        for v in node.values():
            found |= _refs(v, prefix)
    elif isinstance(node, list):
        for v in node:
            found |= _refs(v, prefix)
    elif isinstance(node, str):
        found |= set(re.findall(r"\$\(" + re.escape(prefix) + r"\.([A-Za-z0-9_-]+)", node))
    return found


def _task_interface(task_spec):
    """(params name->has default, param types, workspaces name->optional, results) of a Task spec."""
    params = {p["name"]: "default" in p for p in task_spec.get("params") or []}
    types = {p["name"]: p.get("type", "string") for p in task_spec.get("params") or []}
    workspaces = {w["name"]: bool(w.get("optional")) for w in task_spec.get("workspaces") or []}
    results = {r["name"] for r in task_spec.get("results") or []}
    return params, types, workspaces, results


# ------------------------------------------------------------ consistency

def _task_problems(me, spec):
    out = []
    params, _, workspaces, results = _task_interface(spec)
    body = {k: v for k, v in spec.items() if k not in ("params", "workspaces", "results", "description")}
    used = _refs(body, "params")
    for p in sorted(used - set(params)):
        out.append(f"{me}: uses $(params.{p}) but declares no such param")
    for p in sorted(set(params) - used):
        out.append(f"{me}: param {p} is declared but never used")
    for w in sorted(_refs(body, "workspaces") - set(workspaces)):
        out.append(f"{me}: uses workspace {w} but declares no such workspace")
    for r in sorted(_refs(body, "results") - results):
        out.append(f"{me}: writes result {r} but declares no such result")
    for r in sorted(results - _refs(body, "results")):
        out.append(f"{me}: result {r} is declared but never written")
    return out


def _run_problems(me, run, pipelines, service_accounts, documented):
    """A PipelineRun (the example or the TriggerTemplate's) against its Pipeline."""
    out = []
    name = run["spec"]["pipelineRef"]["name"]
    pipeline = pipelines.get(name)
    if pipeline is None:
        return [f"{me}: pipelineRef {name} is not in tekton/"]
    declared = {p["name"]: "default" in p for p in pipeline["spec"].get("params") or []}
    given = {p["name"] for p in run["spec"].get("params") or []}
    out += [f"{me}: param {p} is not a param of Pipeline {name}" for p in sorted(given - set(declared))]
    out += [f"{me}: required param {p} of Pipeline {name} is not given"
            for p, has_default in declared.items() if not has_default and p not in given]
    pws = {w["name"]: bool(w.get("optional")) for w in pipeline["spec"].get("workspaces") or []}
    bound = {w["name"]: w for w in run["spec"].get("workspaces") or []}
    out += [f"{me}: workspace {w} is not a workspace of Pipeline {name}" for w in sorted(set(bound) - set(pws))]
    out += [f"{me}: required workspace {w} of Pipeline {name} is not bound"
            for w, optional in pws.items() if not optional and w not in bound]
    for w in bound.values():
        secret = (w.get("secret") or {}).get("secretName")
        if secret and secret not in documented:
            out.append(f"{me}: binds Secret {secret}, which nothing in tekton/ or the guides creates")
    sa = ((run["spec"].get("taskRunTemplate") or {}).get("serviceAccountName"))
    if sa not in service_accounts:
        out.append(f"{me}: serviceAccountName {sa} is not a ServiceAccount in tekton/")
    return out + registry_problems(me, run)


def registry_problems(me, run):
    """A run deploying the kind overlay pushes where its pods and kind's
    containerd both reach the registry by the same name: kind's local
    registry as kind-registry:5000 (plain HTTP, so without TLS verification)
    or a public registry."""
    params = {p["name"]: p["value"] for p in run["spec"].get("params") or []}
    if params.get("overlay", "kind") != "kind":
        return []
    registry = params.get("registry", "")
    host = registry.split("/", 1)[0]
    if host in KIND_PUSH_AND_PULL:
        if params.get("registry-tls-verify") != "false":
            return [f'{me}: {host} serves plain HTTP; registry-tls-verify must be "false"']
        return []
    if host in PUBLIC_REGISTRIES:
        return []
    return [f"{me}: registry {registry}: a kind node's containerd cannot pull from {host} "
            f"(it resolves names with the node's resolver, not cluster DNS); use {KIND_PUSH_AND_PULL[0]}"]


def _pipeline_problems(pipeline, tasks):
    out = []
    me = f"Pipeline/{_name(pipeline)}"
    spec = pipeline["spec"]
    declared = {p["name"] for p in spec.get("params") or []}
    pws = {w["name"]: bool(w.get("optional")) for w in spec.get("workspaces") or []}
    pipeline_tasks = (spec.get("tasks") or []) + (spec.get("finally") or [])
    interfaces = {}
    for pt in pipeline_tasks:
        ref = pt.get("taskRef") or {}
        if "taskSpec" in pt:
            interfaces[pt["name"]] = _task_interface(pt["taskSpec"])
            out += _task_problems(f"{me} task {pt['name']} (inline)", pt["taskSpec"])
        elif ref.get("resolver") == "git":
            rparams = {p["name"]: p["value"] for p in ref.get("params") or []}
            if rparams.get("pathInRepo") != GIT_CLONE["pathInRepo"] or "tektoncd/catalog" not in rparams.get("url", ""):
                out.append(f"{me} task {pt['name']}: resolver ref {rparams} is not the catalog git-clone this test knows")
                continue
            if not re.fullmatch(r"[0-9a-f]{40}", rparams.get("revision", "")):
                out.append(f"{me} task {pt['name']}: the catalog is not pinned to a commit")
            interfaces[pt["name"]] = (GIT_CLONE["params"], {}, GIT_CLONE["workspaces"], GIT_CLONE["results"])
        elif ref.get("name") in tasks:
            interfaces[pt["name"]] = _task_interface(tasks[ref["name"]]["spec"])
        else:
            out.append(f"{me} task {pt['name']}: taskRef {ref.get('name')} is not a Task in tekton/")
    names = {pt["name"] for pt in pipeline_tasks}
    for pt in pipeline_tasks:
        where = f"{me} task {pt['name']}"
        for after in pt.get("runAfter") or []:
            if after not in names:
                out.append(f"{where}: runAfter {after} is not a task of the pipeline")
        outer = {k: v for k, v in pt.items() if k != "taskSpec"}
        for p in sorted(_refs(outer, "params") - declared):
            out.append(f"{where}: uses $(params.{p}) but the pipeline declares no such param")
        for ref in re.findall(r"\$\(tasks\.([A-Za-z0-9-]+)\.results\.([A-Za-z0-9_-]+)", str(outer)):
            task, result = ref
            if task not in interfaces or result not in interfaces[task][3]:
                out.append(f"{where}: uses result {result} of {task}, which does not declare it")
        if pt["name"] not in interfaces:
            continue
        tparams, ttypes, tws, _ = interfaces[pt["name"]]
        given = {p["name"]: p["value"] for p in pt.get("params") or []}
        out += [f"{where}: param {p} is not a param of its task" for p in sorted(set(given) - set(tparams))]
        out += [f"{where}: required param {p} of its task is not given"
                for p, has_default in tparams.items() if not has_default and p not in given]
        for p, value in given.items():
            if ttypes.get(p) == "array" and not isinstance(value, list):
                out.append(f"{where}: param {p} is an array but is given a string")
        bound = {w["name"]: w["workspace"] for w in pt.get("workspaces") or []}
        out += [f"{where}: workspace {w} is not a workspace of its task" for w in sorted(set(bound) - set(tws))]
        out += [f"{where}: required workspace {w} of its task is not bound"
                for w, optional in tws.items() if not optional and w not in bound]
        for w, pw in bound.items():
            if pw not in pws:
                out.append(f"{where}: workspace {w} is bound to {pw}, which the pipeline does not declare")
            elif pws[pw] and not tws.get(w, True):
                out.append(f"{where}: required workspace {w} is bound to the optional pipeline workspace {pw}")
    return out


def _built_images(pipeline):
    """{image name: Dockerfile FUNCTION} of every pact-build task in the pipeline."""
    out = {}
    for pt in pipeline["spec"]["tasks"]:
        if (pt.get("taskRef") or {}).get("name") == "pact-build":
            given = {p["name"]: p["value"] for p in pt["params"]}
            out[given["image"].rsplit("/", 1)[-1]] = given["function"]
    return out


def _deployed_images():
    """The image names of the Knative Services in knative/base (overlays rename them)."""
    return {c["image"] for d in kustomize(ROOT / "knative/base")
            if d["kind"] == "Service" and d["apiVersion"] == "serving.knative.dev/v1"
            for c in d["spec"]["template"]["spec"]["containers"]}


def _dockerfile_functions():
    # The Dockerfile itself is checked against pipeline.toml (test_build_files_follow_the_topology).
    return set(topology.names())


def _plural(kind):
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


# The overlays the pipeline may deploy (its `overlay` parameter): both
# topologies on both platforms (docs/topologies.md).
OVERLAYS = ("kind", "openshift", "broker/kind", "broker/openshift")


def _rbac_problems(docs):
    """The deploy ServiceAccount may get, create and patch every kind the overlays contain."""
    out = []
    role_rules = {}
    for d in docs:
        if d["kind"] in ("RoleBinding", "ClusterRoleBinding") and any(
                s["name"] == "pact-ci" for s in d["subjects"]):
            role = _of(docs, d["roleRef"]["kind"]).get(d["roleRef"]["name"])
            if role is None:
                out.append(f"{d['kind']}/{_name(d)}: roleRef {d['roleRef']['name']} is not in tekton/")
                continue
            scope = "cluster" if d["kind"] == "ClusterRoleBinding" else d["metadata"]["namespace"]
            role_rules.setdefault(scope, []).extend(role["rules"])
    for overlay in OVERLAYS:
        for doc in kustomize(ROOT / "knative/overlays" / overlay):
            group = doc["apiVersion"].rpartition("/")[0]
            resource = _plural(doc["kind"])
            ns = doc["metadata"].get("namespace")
            rules = role_rules.get("cluster", []) + (role_rules.get(ns, []) if ns else [])
            for verb in ("get", "create", "patch"):
                if not any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
                           and (verb == "create" or not r.get("resourceNames") or _name(doc) in r["resourceNames"])
                           for r in rules):
                    out.append(f"pact-deploy may not {verb} {resource}.{group or 'core'} "
                               f"{_name(doc)} ({overlay} overlay)")
    return sorted(set(out))


GUIDES = ("docs/ci-cd.md", "docs/deploy.md")


def created_secrets(docs):
    """Secrets that tekton/ holds or a `kubectl create secret` in the guides
    creates by a fixed name (a placeholder such as <name> is the reader's
    choice, not a Secret anything can bind)."""
    text = "\n".join((ROOT / g).read_text() for g in GUIDES)
    return set(_of(docs, "Secret")) | set(re.findall(r"create secret [a-z-]+ ([a-z0-9][a-z0-9.-]*)", text))


def problems(docs):
    out = []
    tasks = _of(docs, "Task")
    pipelines = _of(docs, "Pipeline")
    service_accounts = set(_of(docs, "ServiceAccount"))
    documented = created_secrets(docs)
    for name, task in tasks.items():
        out += _task_problems(f"Task/{name}", task["spec"])
    for pipeline in pipelines.values():
        out += _pipeline_problems(pipeline, tasks)
        built = _built_images(pipeline)
        if set(built) != _deployed_images():
            out.append(f"Pipeline/{_name(pipeline)} builds {sorted(built)}, knative/ deploys {sorted(_deployed_images())}")
        out += topology.tekton_problems(pipeline)
        for image, function in built.items():
            if function not in _dockerfile_functions() or image != f"pact-{function}":
                out.append(f"Pipeline/{_name(pipeline)}: image {image} is built from FUNCTION {function}")
    for run in (d for d in docs if d["kind"] == "PipelineRun"):
        out += _run_problems("PipelineRun (example)", run, pipelines, service_accounts, documented)
    bindings = _of(docs, "TriggerBinding")
    templates = _of(docs, "TriggerTemplate")
    for name, template in templates.items():
        me = f"TriggerTemplate/{name}"
        declared = {p["name"]: "default" in p for p in template["spec"]["params"]}
        used = _refs(template["spec"]["resourcetemplates"], "tt.params")
        out += [f"{me}: uses $(tt.params.{p}) but declares no such param" for p in sorted(used - set(declared))]
        out += [f"{me}: param {p} is never used" for p in sorted(set(declared) - used)]
        for run in template["spec"]["resourcetemplates"]:
            out += _run_problems(f"{me} PipelineRun", _with_defaults(run, template), pipelines,
                                 service_accounts, documented)
    for name, listener in _of(docs, "EventListener").items():
        me = f"EventListener/{name}"
        if listener["spec"]["serviceAccountName"] not in service_accounts:
            out.append(f"{me}: serviceAccountName {listener['spec']['serviceAccountName']} is not in tekton/")
        for trigger in listener["spec"]["triggers"]:
            template = templates.get(trigger["template"]["ref"])
            if template is None:
                out.append(f"{me}: template {trigger['template']['ref']} is not in tekton/")
                continue
            given = set()
            for b in trigger["bindings"]:
                if b["ref"] not in bindings:
                    out.append(f"{me}: binding {b['ref']} is not in tekton/")
                    continue
                given |= {p["name"] for p in bindings[b["ref"]]["spec"]["params"]}
            declared = {p["name"]: "default" in p for p in template["spec"]["params"]}
            out += [f"{me}: binding param {p} is not a param of {_name(template)}" for p in sorted(given - set(declared))]
            out += [f"{me}: {_name(template)} param {p} has no default and no binding gives it"
                    for p, has_default in declared.items() if not has_default and p not in given]
            for ic in trigger.get("interceptors") or []:
                for p in ic.get("params") or []:
                    if p["name"] == "secretRef" and p["value"]["secretName"] not in documented:
                        out.append(f"{me}: uses Secret {p['value']['secretName']}, which nothing in tekton/ or the guides creates")
    out += _rbac_problems(docs)
    out += image_rule_problems(docs)
    out += budget_problems(docs)
    return out


def _with_defaults(run, template):
    """The template's PipelineRun with each $(tt.params.X) that has a default replaced by it."""
    text = json.dumps(run)
    for p in template["spec"]["params"]:
        if "default" in p:
            text = text.replace(f"$(tt.params.{p['name']})", p["default"])
    return json.loads(text)


# ------------------------------------------------ images (issue 16)

def _task_images(spec):
    """(literal images, {param: default} of the params used as images) of a
    Task spec's steps and sidecars."""
    defaults = {p["name"]: p.get("default") for p in spec.get("params") or []}
    literal, params = [], {}
    for c in (spec.get("steps") or []) + (spec.get("sidecars") or []):
        names = _refs(c.get("image", ""), "params")
        params.update({n: defaults.get(n) for n in names})
        if not names:
            literal.append(c.get("image", ""))
    return literal, params


def image_rule_problems(docs):
    """Every image the pipeline will run is pullable by name
    (cluster_rules.image_problems): the step and sidecar images of every Task
    and inline taskSpec, the defaults of params used as images, and each
    image param a pipeline task passes or leaves to its default, for the
    catalog's git-clone too (GIT_CLONE["image_params"], at the pinned commit)."""
    refs = []
    tasks = _of(docs, "Task")
    for name, task in tasks.items():
        literal, params = _task_images(task["spec"])
        refs += [(f"Task/{name}", image) for image in literal]
        refs += [(f"Task/{name} param {p} default", d) for p, d in params.items() if d is not None]
    for pipeline in _of(docs, "Pipeline").values():
        pdefaults = {p["name"]: p.get("default") for p in pipeline["spec"].get("params") or []}
        for pt in (pipeline["spec"].get("tasks") or []) + (pipeline["spec"].get("finally") or []):
            where = f"Pipeline/{_name(pipeline)} task {pt['name']}"
            ref = pt.get("taskRef") or {}
            if "taskSpec" in pt:
                literal, params = _task_images(pt["taskSpec"])
                refs += [(where, image) for image in literal]
            elif ref.get("resolver") == "git":
                commit = {p["name"]: p["value"] for p in ref.get("params") or []}.get("revision")
                params = GIT_CLONE["image_params"].get(commit)
                if params is None:
                    refs.append((where, f"(git-clone at {commit}: record its image params in GIT_CLONE)"))
                    continue
            elif ref.get("name") in tasks:
                params = _task_images(tasks[ref["name"]]["spec"])[1]
            else:
                continue
            given = {p["name"]: p["value"] for p in pt.get("params") or []}
            for p, default in params.items():
                value = given.get(p, default) or ""
                outer = re.fullmatch(r"\$\(params\.([A-Za-z0-9_-]+)\)", value)
                refs.append((f"{where} param {p}", pdefaults.get(outer.group(1)) or "" if outer else value))
    return sorted({f"{where}: {problem}" for where, ref in refs for problem in image_problems(ref)})


# ------------------------------------------------ requests (issue 16)

def _pod_containers(spec):
    """The containers Tekton makes of a Task spec, with the requests the
    scheduler sees: each step merged with the stepTemplate, then the
    sidecars; a limit without a request is the request (Kubernetes defaulting)."""
    template = (spec.get("stepTemplate") or {}).get("computeResources") or {}

    def defaulted(res, base):
        limits = {**(base.get("limits") or {}), **(res.get("limits") or {})}
        requests = {**(base.get("requests") or {}), **(res.get("requests") or {})}
        return {"requests": {**limits, **requests}, "limits": limits}

    steps = [{"name": s["name"], "resources": defaulted(s.get("computeResources") or {}, template)}
             for s in spec.get("steps") or []]
    return steps + [{"name": s["name"], "resources": defaulted(s.get("computeResources") or {}, {})}
                    for s in spec.get("sidecars") or []]


def _task_pod_requests(spec):
    return pod_requests(_pod_containers(spec), TEKTON_INIT_CONTAINERS)


def _waves(pipeline):
    """The pipeline's tasks in the order they may run: a task starts when
    every task it runs after or takes a result from is done, so the tasks of
    one wave may run at once; the finally tasks are the last wave."""
    tasks = pipeline["spec"].get("tasks") or []
    after = {pt["name"]: set(pt.get("runAfter") or [])
             | set(re.findall(r"\$\(tasks\.([A-Za-z0-9-]+)\.results", str(pt.get("params"))))
             for pt in tasks}
    depth = {}

    def wave(name):
        if name not in depth:
            depth[name] = 1 + max((wave(a) for a in after[name] if a in after), default=-1)
        return depth[name]

    waves = {}
    for pt in tasks:
        waves.setdefault(wave(pt["name"]), []).append(pt)
    if pipeline["spec"].get("finally"):
        waves[len(waves)] = pipeline["spec"]["finally"]
    return [waves[k] for k in sorted(waves)]


def budget_problems(docs):
    """Every Task's pod, and the pods a pipeline runs at once beside the
    affinity assistant, fit in TASKRUN_BUDGET (half a kind node)."""
    out = []
    tasks = _of(docs, "Task")
    for name, task in tasks.items():
        out += fits(_task_pod_requests(task["spec"]), TASKRUN_BUDGET, f"Task/{name}'s pod")
    assistant = pod_requests([AFFINITY_ASSISTANT])
    for pipeline in _of(docs, "Pipeline").values():
        for wave in _waves(pipeline):
            specs = [pt.get("taskSpec") or (tasks.get((pt.get("taskRef") or {}).get("name")) or {}).get("spec")
                     or GIT_CLONE["spec"] for pt in wave]
            pods = [_task_pod_requests(spec) for spec in specs]
            total = {k: assistant[k] + sum(pod[k] for pod in pods) for k in ("cpu", "memory")}
            names = ", ".join(pt["name"] for pt in wave)
            out += fits(total, TASKRUN_BUDGET, f"Pipeline/{_name(pipeline)} ({names} at once, with the affinity assistant)")
    return out


# ------------------------------------------------------------ tests

def test_files_validate_strictly():
    docs = load()
    assert len(docs) >= 15, [d["kind"] for d in docs]
    nested = [run for d in docs if d["kind"] == "TriggerTemplate" for run in d["spec"]["resourcetemplates"]]
    assert nested, "the TriggerTemplate creates no PipelineRun"
    assert schema_errors(docs + nested) == 0, "schema errors (printed above)"


def test_kustomization_renders_everything_but_the_example_run():
    rendered = {(d["kind"], _name(d)) for d in kustomize(TEKTON)}
    files = {(d["kind"], _name(d)) for d in load() if _name(d)}
    assert rendered == files, rendered ^ files


def test_tekton_lint_passes(tmp_path):
    if not LINT.exists():
        pytest.fail("tekton-lint is not installed: npm ci --prefix tests/tekton", pytrace=False)
    # tekton-lint resolves taskRefs by name only: lint a copy in which the
    # git-resolver ref to the catalog's git-clone is a name ref, next to a
    # Task with git-clone's interface (params, workspaces, results). Two more
    # edits of the copy, for what tekton-lint 1.1.0 gets wrong: git-clone's
    # camelCase params (gitInitImage: the catalog's name, not ours) are left
    # out of the copy, as prefer-kebab-case would flag them; and the
    # TriggerTemplate's run binds the Pipeline's optional workspaces to an
    # emptyDir, as no-missing-workspace treats every Pipeline workspace as
    # required there (dist/rules/no-missing-workspace.js) while Tekton skips
    # optional ones (v1.15.0 pkg/reconciler/pipelinerun/resources/
    # pipelinerunresolution.go ValidateWorkspaceBindings).
    optional = [w["name"] for w in _of(load(), "Pipeline")["pact-ci"]["spec"]["workspaces"] if w.get("optional")]
    for path in PIPELINE_FILES:
        text = path.read_text()
        if path.name in ("pipeline.yaml", "triggers.yaml"):
            docs = list(yaml.safe_load_all(text))
            for pt in docs[0]["spec"].get("tasks") or []:
                if (pt.get("taskRef") or {}).get("resolver") == "git":
                    pt["taskRef"] = {"name": "git-clone"}
                    pt["params"] = [p for p in pt["params"] if p["name"] == p["name"].lower()]
            for run in [r for d in docs if d["kind"] == "TriggerTemplate" for r in d["spec"]["resourcetemplates"]]:
                run["spec"]["workspaces"] += [{"name": w, "emptyDir": {}} for w in optional]
            text = yaml.safe_dump_all(docs, sort_keys=False)
        (tmp_path / path.name).write_text(text)
    shim = {
        "apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "git-clone"},
        "spec": {
            "params": [{"name": n, **({"default": ""} if d else {})} for n, d in GIT_CLONE["params"].items()],
            "workspaces": [{"name": n, "optional": o} for n, o in GIT_CLONE["workspaces"].items()],
            "results": [{"name": n} for n in sorted(GIT_CLONE["results"])],
            "steps": [{"name": "interface-only", "image": "docker.io/library/busybox:1.37",
                       "script": "#!/bin/sh\n: " + " ".join(f"$(params.{n})" for n in GIT_CLONE["params"])
                       + " " + " ".join(f"$(workspaces.{n}.path)" for n in GIT_CLONE["workspaces"])
                       + " " + " ".join(f"$(results.{n}.path)" for n in GIT_CLONE["results"])}],
        },
    }
    (tmp_path / "zz-git-clone-interface.yaml").write_text(yaml.safe_dump(shim, sort_keys=False))
    out = subprocess.run([str(LINT), "--no-color", "--max-warnings", "0", "--config", str(HERE),
                          str(tmp_path / "*.yaml")],
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_consistency():
    assert problems(load()) == []


def test_pipeline_builds_what_knative_deploys():
    pipeline = _of(load(), "Pipeline")["pact-ci"]
    assert set(_built_images(pipeline)) == set(topology.services())
    deploy = next(t for t in pipeline["spec"]["tasks"] if t["name"] == "deploy")
    images = next(p["value"] for p in deploy["params"] if p["name"] == "images")
    assert len(images) == len(topology.names()) and all("@$(tasks.build-" in i for i in images), images
    overlay = next(p for p in pipeline["spec"]["params"] if p["name"] == "overlay")["default"]
    assert (ROOT / "knative/overlays" / overlay / "kustomization.yaml").is_file()


def test_the_deploy_script_finds_every_image_in_every_overlay():
    """pact-deploy replaces the overlay's image names with a sed expression;
    run that expression over each rendered overlay, as the step does."""
    task = _of(load(), "Task")["pact-deploy"]
    script = task["spec"]["steps"][0]["script"]
    expr = re.search(r'sed -nE "(s#.*#p)"', script).group(1)
    for overlay in OVERLAYS:
        rendered = subprocess.run(["kubectl", "kustomize", str(ROOT / "knative/overlays" / overlay)],
                                  capture_output=True, text=True, check=True).stdout
        for image in topology.services():
            out = subprocess.run(["sed", "-nE", expr.replace("$image", image).replace("\\$", "$")],
                                 input=rendered, capture_output=True, text=True, check=True).stdout.split()
            assert out and out[0].endswith("/" + image), (overlay, image, out)
            assert ":" not in out[0].rsplit("/", 1)[-1] and "@" not in out[0], out


FUNCTIONS = tuple(topology.names())


def deploy_substitution_problems(script, overlay, refs, tmp):
    """Runs pact-deploy's script on `refs` (pact-build's results) against a
    kubectl that renders what it is asked to apply; problems when a Knative
    Service of the overlay does not run exactly its ref's image, by digest."""
    stub = tmp / "bin/kubectl"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text(f"""#!/bin/sh
case "$1" in
  kustomize) exec {shutil.which(KUBECTL)} kustomize "$2" ;;
  apply) exec {shutil.which(KUBECTL)} kustomize "$3" > {tmp}/applied.yaml ;;
esac
""")
    stub.chmod(0o755)
    run = subprocess.run(["bash", "-c", script, "pact-deploy", *refs], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PATH": f"{stub.parent}:{os.environ['PATH']}", "TIMEOUT": "1s",
                              "OVERLAY_DIR": str(ROOT / "knative/overlays" / overlay)})
    if run.returncode != 0:
        return [f"{overlay}: pact-deploy failed: {run.stderr.strip()}"]
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in load_all((tmp / "applied.yaml").read_text())
              if d["kind"] == "Service" and d["apiVersion"] == "serving.knative.dev/v1"}
    out = []
    for ref in refs:
        name, digest = ref.split("@")
        repository = name.rsplit(":", 1)[0]
        service = repository.rsplit("/", 1)[-1]
        if images.get(service) != f"{repository}@{digest}":
            out.append(f"{overlay}: {service} runs {images.get(service)}, not {repository}@{digest}")
    return out


def _built_refs(registry):
    """What pact-build returns for each function: <registry>/pact-<f>:<commit>@sha256:<digest>."""
    return [f"{registry}/pact-{f}:0a1b2c3@sha256:{i:064x}" for i, f in enumerate(FUNCTIONS, 1)]


def test_deploy_pins_the_images_built_registry_port_and_all(tmp_path):
    script = _of(load(), "Task")["pact-deploy"]["spec"]["steps"][0]["script"]
    for overlay, registry in (("kind", "kind-registry:5000/pact"),
                              ("openshift", "image-registry.openshift-image-registry.svc:5000/pact"),
                              ("broker/kind", "kind-registry:5000/pact"),
                              ("broker/openshift", "image-registry.openshift-image-registry.svc:5000/pact")):
        assert deploy_substitution_problems(script, overlay, _built_refs(registry), tmp_path) == []
    # broken: the tag cut at the first colon, which is the registry's port
    broken = script.replace('case "${name##*/}" in *:*) name="${name%:*}" ;; esac', 'name="${name%%:*}"')
    assert broken != script
    found = deploy_substitution_problems(broken, "kind", _built_refs("kind-registry:5000/pact"), tmp_path)
    assert any("pact-deploy failed: no image kind-registry" in p for p in found), found


def test_step_scripts_pass_shellcheck(tmp_path):
    """Every step script, with Tekton's $(...) references replaced by the
    placeholder value Tekton would substitute, passes shellcheck."""
    scripts = []
    for doc in load():
        if doc["kind"] == "Task":
            specs = [doc["spec"]]
        elif doc["kind"] == "Pipeline":
            tasks = (doc["spec"].get("tasks") or []) + (doc["spec"].get("finally") or [])
            specs = [pt["taskSpec"] for pt in tasks if "taskSpec" in pt]
        else:
            continue
        for spec in specs:
            for step in spec.get("steps") or []:
                if "script" in step:
                    scripts.append((f"{_name(doc)}-{step['name']}", step["script"]))
    assert len(scripts) >= 6, [n for n, _ in scripts]
    for name, script in scripts:
        path = tmp_path / f"{name}.sh"
        path.write_text(re.sub(r"\$\((params|results|workspaces|context)\.[^)]*\)", "/tekton/placeholder", script))
        out = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, f"{name}:\n{out.stdout}"


# ------------------------------------------------------- negative cases

def _pipeline(docs):
    return _of(docs, "Pipeline")["pact-ci"]


def _task(docs, name):
    return _of(docs, "Task")[name]


def _build_missing(docs):
    pipeline = _pipeline(docs)
    pipeline["spec"]["tasks"] = [t for t in pipeline["spec"]["tasks"] if t["name"] != "build-contactlog"]
    deploy = next(t for t in pipeline["spec"]["tasks"] if t["name"] == "deploy")
    deploy["runAfter"].remove("build-contactlog")
    images = next(p for p in deploy["params"] if p["name"] == "images")
    images["value"] = [i for i in images["value"] if "build-contactlog" not in i]


def _dangling_task_ref(docs):
    _pipeline(docs)["spec"]["tasks"][1]["taskRef"]["name"] = "pact-tests"


def _undeclared_param(docs):
    _task(docs, "pact-test")["spec"]["steps"][2]["script"] += "echo $(params.cargo-flags)\n"


def _unused_param(docs):
    _task(docs, "pact-build")["spec"]["params"].append({"name": "context", "type": "string", "default": "."})


def _wrong_image(docs):
    build = next(t for t in _pipeline(docs)["spec"]["tasks"] if t["name"] == "build-query")
    next(p for p in build["params"] if p["name"] == "image")["value"] = "$(params.registry)/pact-querry"


def _missing_result(docs):
    _task(docs, "pact-build")["spec"]["results"] = [r for r in _task(docs, "pact-build")["spec"]["results"]
                                                    if r["name"] != "IMAGE_DIGEST"]


def _unbound_workspace(docs):
    test = next(t for t in _pipeline(docs)["spec"]["tasks"] if t["name"] == "test")
    del test["workspaces"]


def _template_param_without_binding(docs):
    _of(docs, "TriggerTemplate")["pact-ci"]["spec"]["params"][0]["name"] = "repo-url"


def _rbac_missing_kind(docs):
    role = _of(docs, "Role")["pact-deploy"]
    role["rules"] = [r for r in role["rules"] if "kafka.strimzi.io" not in r["apiGroups"]]


def _undocumented_secret(docs):
    # the binding the example had before issue 16: nothing on kind creates it
    run = next(d for d in docs if d["kind"] == "PipelineRun")
    run["spec"]["workspaces"].append({"name": "dockerconfig", "secret": {"secretName": "pact-registry-credentials"}})


def _fetch(docs):
    return next(t for t in _pipeline(docs)["spec"]["tasks"] if t["name"] == "fetch")


def _gcr_git_init(docs):
    next(p for p in _fetch(docs)["params"] if p["name"] == "gitInitImage")["value"] = \
        "gcr.io/tekton-releases/github.com/tektoncd/pipeline/cmd/git-init:v0.40.2"


def _old_catalog_commit(docs):
    # the pin before issue 16, leaving gitInitImage to the catalog's default
    fetch = _fetch(docs)
    next(p for p in fetch["taskRef"]["params"] if p["name"] == "revision")["value"] = \
        "02e1498e31296ba0e5c00fcb48b07cc5e5fe3113"
    fetch["params"] = [p for p in fetch["params"] if p["name"] != "gitInitImage"]


def _unknown_catalog_commit(docs):
    next(p for p in _fetch(docs)["taskRef"]["params"] if p["name"] == "revision")["value"] = "f" * 40


def _latest_image_default(docs):
    next(p for p in _task(docs, "pact-build")["spec"]["params"] if p["name"] == "buildah-image")["default"] = \
        "quay.io/buildah/stable:latest"


def _test_step_template(docs):
    # pact-test before issue 16: 2 CPU / 4 Gi on each of its three steps
    spec = _task(docs, "pact-test")["spec"]
    spec["stepTemplate"]["computeResources"] = {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"memory": "8Gi"}}
    for container in spec["steps"] + spec["sidecars"]:
        del container["computeResources"]


def _limit_without_request(docs):
    del _task(docs, "pact-test")["spec"]["steps"][1]["computeResources"]["requests"]  # clippy: 4Gi limit


def _builds_at_old_requests(docs):
    _task(docs, "pact-build")["spec"]["steps"][0]["computeResources"]["requests"] = {"cpu": "2", "memory": "4Gi"}


def _cluster_dns_registry(docs):
    run = next(d for d in docs if d["kind"] == "PipelineRun")
    next(p for p in run["spec"]["params"] if p["name"] == "registry")["value"] = \
        "registry.pact-ci.svc.cluster.local:5000/pact"


def _kind_registry_with_tls(docs):
    run = next(d for d in docs if d["kind"] == "PipelineRun")
    next(p for p in run["spec"]["params"] if p["name"] == "registry-tls-verify")["value"] = "true"


def _unpinned_catalog(docs):
    fetch = _pipeline(docs)["spec"]["tasks"][0]
    next(p for p in fetch["taskRef"]["params"] if p["name"] == "revision")["value"] = "main"


BREAKS = {
    "a function of pipeline.toml not built": (_build_missing, "pipeline.toml makes ['build-contactlog'"),
    "dangling taskRef": (_dangling_task_ref, "taskRef pact-tests is not a Task"),
    "undeclared param": (_undeclared_param, "uses $(params.cargo-flags) but declares no such param"),
    "unused param": (_unused_param, "param context is declared but never used"),
    "image knative does not deploy": (_wrong_image, "pact-querry"),
    "result used but not declared": (_missing_result, "uses result IMAGE_DIGEST of build-producer"),
    "required workspace unbound": (_unbound_workspace, "required workspace source of its task is not bound"),
    "template param no binding gives": (_template_param_without_binding, "param repo-url has no default"),
    "RBAC without the Strimzi kinds": (_rbac_missing_kind, "may not create kafkatopics.kafka.strimzi.io"),
    "undocumented Secret": (_undocumented_secret,
                            "binds Secret pact-registry-credentials, which nothing in tekton/ or the guides creates"),
    "catalog not pinned": (_unpinned_catalog, "not pinned to a commit"),
    "git-init from gcr.io": (_gcr_git_init, "task fetch param gitInitImage: gcr.io/tekton-releases"),
    "old catalog commit's default": (_old_catalog_commit, "task fetch param gitInitImage: gcr.io/tekton-releases"),
    "catalog commit with unknown images": (_unknown_catalog_commit, "record its image params"),
    "image default latest": (_latest_image_default, "param buildah-image default: quay.io/buildah/stable:latest"),
    "pact-test stepTemplate 2 CPU / 4 Gi": (_test_step_template, "Task/pact-test's pod requests 6000m CPU"),
    "limit without request": (_limit_without_request, "Task/pact-test's pod requests 7040Mi memory"),
    "builds at 2 CPU / 4 Gi": (_builds_at_old_requests, "build-producer, build-translation, build-contactlog, build-query, build-notify at once"),
    "registry by cluster DNS": (_cluster_dns_registry, "a kind node's containerd cannot pull"),
    "kind registry with TLS": (_kind_registry_with_tls, "serves plain HTTP"),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_consistency_check_bites(case):
    mutate, expected = BREAKS[case]
    docs = load()
    assert problems(copy.deepcopy(docs)) == []
    mutate(docs)
    found = problems(docs)
    assert any(expected in p for p in found), found


def test_schema_check_bites():
    docs = load()
    _task(docs, "pact-build")["spec"]["steps"][0]["securitycontext"] = {"privileged": True}
    assert schema_errors(docs) > 0




def test_build_files_follow_the_topology():
    dockerfile = (ROOT / "Dockerfile").read_text()
    script = (ROOT / "scripts/images.sh").read_text()
    assert topology.dockerfile_problems(dockerfile) == []
    assert topology.images_script_problems(script) == []
    # broken: a function left out of each
    found = topology.dockerfile_problems(dockerfile.replace("query|notify)", "query)"))
    assert any("FUNCTION builds pact-<name> for ['producer', 'translation', 'contactlog', 'query']" in p for p in found), found
    found = topology.images_script_problems(script.replace("functions=(producer translation contactlog query notify cli)",
                                                            "functions=(producer translation contactlog query cli)"))
    assert any("builds ['producer', 'translation', 'contactlog', 'query', 'cli'] by default" in p for p in found), found


def test_a_stage_added_to_pipeline_toml_alone_is_noticed():
    table = topology.with_a_new_stage()
    pipeline = _of(load(), "Pipeline")["pact-ci"]
    assert any("build-gateway" in p for p in topology.tekton_problems(pipeline, table))
    assert any("'gateway'" in p for p in topology.dockerfile_problems((ROOT / "Dockerfile").read_text(), table))
    assert any("'gateway'" in p for p in topology.images_script_problems((ROOT / "scripts/images.sh").read_text(), table))
