"""Rules of the cluster that a schema cannot express, shared by
tests/manifests and tests/tekton: what a pod asks the scheduler for, and
whether an image reference can be pulled by name today.

Each rule returns a list of problems (strings); an empty list is a pass.
The facts behind each rule, and where upstream says so, are in
docs/deploy.md ("What the deployment relies on")."""

from __future__ import annotations

import re

# The smallest node the guides promise to fit: a kind node on a machine
# giving Docker/podman 4 vCPUs and 8 GiB, or a 4-vCPU worker.
KIND_NODE = {"cpu": 4000, "memory": 8 * 1024}  # millicores, MiB

# Registries that serve public images by name without credentials. gcr.io is
# absent on purpose: Tekton's gcr.io/tekton-releases images can no longer be
# pulled (tektoncd/pipeline#8870); Tekton publishes on ghcr.io since 2025.
PUBLIC_REGISTRIES = ("docker.io", "quay.io", "ghcr.io", "registry.k8s.io", "cgr.dev", "mcr.microsoft.com")

# Names that never leave the machine: images loaded with `kind load` or
# pushed to kind's local registry (docs/deploy.md).
LOCAL_REGISTRIES = ("localhost", "localhost:5001", "kind-registry:5000")

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def cpu_millis(quantity) -> int:
    """A Kubernetes CPU quantity ("250m", "2", 0.5) in millicores."""
    text = str(quantity)
    if text.endswith("m"):
        return int(text[:-1])
    return round(float(text) * 1000)


_MEMORY_UNITS = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024,
                 "k": 1000 / 1024 / 1024, "M": 1000 * 1000 / 1024 / 1024, "G": 1000**3 / 1024 / 1024}


def memory_mib(quantity) -> float:
    """A Kubernetes memory quantity ("128Mi", "4Gi", "1G", bytes) in MiB."""
    text = str(quantity)
    for unit, factor in _MEMORY_UNITS.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text) / 1024 / 1024


def pod_requests(containers: list[dict], init_containers: list[dict] = ()) -> dict:
    """What the scheduler reserves for a pod: the sum over its containers,
    or the largest init container if that is more (init containers run one
    at a time). Returns {"cpu": millicores, "memory": MiB}."""

    def requests(c):
        r = ((c.get("resources") or c.get("computeResources") or {}).get("requests")) or {}
        return cpu_millis(r.get("cpu", 0)), memory_mib(r.get("memory", 0))

    cpu = sum(requests(c)[0] for c in containers)
    memory = sum(requests(c)[1] for c in containers)
    for c in init_containers:
        cpu = max(cpu, requests(c)[0])
        memory = max(memory, requests(c)[1])
    return {"cpu": cpu, "memory": memory}


def fits(requests: dict, free: dict, what: str) -> list[str]:
    """Problems when `requests` exceeds `free` (both as pod_requests returns)."""
    out = []
    if requests["cpu"] > free["cpu"]:
        out.append(f"{what} requests {requests['cpu']}m CPU; only {free['cpu']}m is free on the node")
    if requests["memory"] > free["memory"]:
        out.append(f"{what} requests {requests['memory']:.0f}Mi memory; only {free['memory']:.0f}Mi is free on the node")
    return out


def image_problems(ref: str, local_ok: bool = False, local_registries: tuple = LOCAL_REGISTRIES) -> list[str]:
    """Problems with an image reference a cluster must pull by name: a fully
    qualified public registry (or, with local_ok, one of local_registries:
    the cluster's own, e.g. OpenShift's internal registry), and a tag or
    digest that is not `latest`."""
    if "$(" in ref:
        return []  # a Tekton parameter: its default is checked where it is declared
    name, digest = (ref.split("@", 1) + [""])[:2]
    registry = name.split("/", 1)[0] if "/" in name else ""
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    out = []
    if registry in local_registries:
        if not local_ok:
            out.append(f"{ref}: a local registry name; a cluster elsewhere cannot pull it")
    elif registry not in PUBLIC_REGISTRIES:
        out.append(f"{ref}: registry {registry or '(none: implicit docker.io)'} is not one that serves public images "
                   f"today ({', '.join(PUBLIC_REGISTRIES)}); name it fully")
    if digest:
        if not _DIGEST.search(ref):
            out.append(f"{ref}: malformed digest")
    elif not tag:
        out.append(f"{ref}: no tag or digest (means latest, which moves)")
    elif tag == "latest":
        out.append(f"{ref}: `latest` moves; pin a version tag or a digest")
    return out
