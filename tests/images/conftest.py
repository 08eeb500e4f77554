"""Fixtures for the image tests: PACT's images built by scripts/images.sh
(buildah, the Dockerfile's `prebuilt` target) and run with podman as the
cluster runs them: non-root, read-only root filesystem, every capability
dropped, no privilege escalation.

This machine has no container daemon and no registry; podman and buildah run
daemonless with the vfs storage driver and the settings in containers.conf
beside this file. Containers share the host network (no CNI here), so each
one gets a free port of its own through PORT.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import topology
from pact_http import CaptureSink, Response, free_port, request

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TAG = "dev"
# image name -> the Dockerfile's FUNCTION value: every function of
# pipeline.toml, and the `pact` tool
IMAGES = {**{f"pact-{name}": name for name in topology.names()}, "pact": "cli"}
# Knative's default grace: terminationGracePeriodSeconds 30 s; the runtime's
# drain is capped at 25 s (PACT_SHUTDOWN_GRACE_S).
GRACE_S = 25.0
STARTUP_DEADLINE_S = 15.0

PODMAN_ENV = {
    **os.environ,
    "CONTAINERS_CONF": str(HERE / "containers.conf"),
    "STORAGE_DRIVER": "vfs",
}


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    out = subprocess.run(
        ["podman", *args], env=PODMAN_ENV, capture_output=True, text=True, timeout=timeout
    )
    if check and out.returncode != 0:
        pytest.fail(f"podman {' '.join(args)} failed ({out.returncode}):\n{out.stderr}", pytrace=False)
    return out


def image_ref(name: str) -> str:
    return f"localhost/{name}:{TAG}"


@pytest.fixture(scope="session")
def images() -> dict[str, dict]:
    """Builds every image once; returns `podman image inspect` of each."""
    for tool in ("buildah", "podman", "runc"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            pytest.fail(f"{tool} is not installed (.ci/setup installs it)", pytrace=False)
    build = subprocess.run(
        [str(REPO / "scripts/images.sh")], env=PODMAN_ENV, capture_output=True, text=True, timeout=1800
    )
    if build.returncode != 0:
        pytest.fail(f"scripts/images.sh failed:\n{build.stdout}\n{build.stderr}", pytrace=False)
    built = build.stdout.split()
    assert built == [image_ref(n) for n in IMAGES], built
    return {n: json.loads(podman("image", "inspect", image_ref(n)).stdout)[0] for n in IMAGES}


@dataclass
class Container:
    """A running container of one of the images."""

    name: str
    image: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Response:
        return request("POST", self.url + path, headers, body)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return request("GET", self.url + path, headers)

    def logs(self) -> str:
        out = podman("logs", self.name, check=False)
        return out.stdout + out.stderr

    def host_pid(self) -> int:
        return int(podman("inspect", "--format", "{{.State.Pid}}", self.name).stdout)

    def wait_ready(self, path: str = "/healthz") -> None:
        deadline = time.monotonic() + STARTUP_DEADLINE_S
        last = "no attempt yet"
        while time.monotonic() < deadline:
            state = podman("inspect", "--format", "{{.State.Status}}", self.name).stdout.strip()
            if state == "exited":
                pytest.fail(f"{self.name} exited before {path} answered 200:\n{self.logs()}", pytrace=False)
            try:
                resp = self.get(path)
                if resp.status == 200:
                    return
                last = f"{resp.status} {resp.body[:200]!r}"
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        pytest.fail(f"{self.name}: GET {path} not 200 within {STARTUP_DEADLINE_S} s ({last}):\n{self.logs()}",
                    pytrace=False)

    def terminate(self) -> tuple[int, float]:
        """SIGTERM, as the kubelet sends it; returns (exit code, seconds to exit)."""
        started = time.monotonic()
        podman("kill", "--signal", "TERM", self.name)
        code = int(podman("wait", self.name, timeout=GRACE_S + 10).stdout.strip())
        return code, time.monotonic() - started


@pytest.fixture
def run(images):
    """Starts a container as the cluster would: `run("pact-translation", K_SINK=url)`.
    Every container is removed at teardown."""
    started: list[Container] = []

    def start(name: str, ready_path: str = "/healthz", **env: str) -> Container:
        port = free_port()
        container = Container(name=f"pact-test-{uuid.uuid4().hex[:12]}", image=image_ref(name), port=port)
        args = [
            "run", "--detach", "--name", container.name,
            "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--env", f"PORT={port}", "--env", "PACT_LISTEN_ADDRESS=127.0.0.1",
        ]
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        podman(*args, container.image)
        started.append(container)
        container.wait_ready(ready_path)
        return container

    yield start

    for container in started:
        podman("rm", "--force", "--time", "0", container.name, check=False)


@pytest.fixture
def sink():
    capture = CaptureSink()
    yield capture
    capture.close()


@pytest.fixture
def database():
    """A fresh PostgreSQL database on 127.0.0.1:5432; its URL."""
    name = f"pact_images_{uuid.uuid4().hex[:12]}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc"]
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True, capture_output=True)
    yield f"postgres://postgres@127.0.0.1:5432/{name}"
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False, capture_output=True)
