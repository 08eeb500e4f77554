"""Kubernetes manifest helpers shared by tests/manifests and tests/tekton:
the schema checker (tests/manifests/schemas/validate.py, from the project's
offline schema set) and rendering with `kubectl kustomize`."""

from __future__ import annotations

import functools
import importlib.util
import os
import pathlib
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests/manifests/schemas"
KUBECTL = os.environ.get("KUBECTL", "kubectl")

_spec = importlib.util.spec_from_file_location("k8s_validate", SCHEMAS / "validate.py")
validate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(validate)


def load_all(text: str) -> list[dict]:
    """Documents as the API server reads them (timestamps stay strings)."""
    return [validate.normalize(d) for d in yaml.load_all(text, Loader=validate.K8sLoader) if d is not None]


@functools.lru_cache(maxsize=None)
def kustomize_text(path: pathlib.Path) -> str:
    if shutil.which(KUBECTL) is None:
        pytest.fail(f"{KUBECTL} not found: kubectl (with kustomize) is required to render {path}")
    out = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"kubectl kustomize {path} failed:\n{out.stderr}"
    return out.stdout


def kustomize(path: pathlib.Path) -> list[dict]:
    """A fresh (mutable) list of the documents `kubectl kustomize path` renders."""
    return load_all(kustomize_text(path))


def schema_errors(docs: list[dict]) -> int:
    """Strict validation against SCHEMAS; the number of bad documents (each printed)."""
    checker = validate.Checker(str(SCHEMAS), allow_unknown=False)
    for i, doc in enumerate(docs):
        checker.check_doc(doc, f"doc#{i} {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}")
    return checker.counts["invalid"]
