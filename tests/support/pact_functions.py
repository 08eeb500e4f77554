"""The real function binaries as processes, shared by the Python test suites
(tests/interop, tests/hostile): each on a free port with its own environment,
checked to answer /healthz on start and to exit 0 on SIGTERM.

The binaries come from $PACT_BIN_DIR (default <repo>/target/debug); build
them first with `cargo build --workspace --bins`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pact_http import Response, free_port, request

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("PACT_BIN_DIR") or REPO / "target" / "debug")

# How long a function may take to answer /healthz after it was started.
STARTUP_DEADLINE_S = float(os.environ.get("PACT_INTEROP_STARTUP_S", "15"))
# How long a function may take to exit after SIGTERM.
SHUTDOWN_DEADLINE_S = 10.0


@dataclass
class Function:
    """A running function binary."""

    name: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> Response:
        return request("POST", self.url + path, headers, body)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Response:
        return request("GET", self.url + path, headers)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError as e:
            return f"<could not read the log: {e}>"


# Variables of the test runner's environment that would change how the
# functions behave; each test states what it wants instead.
_SCRUBBED_PREFIXES = ("K_", "PACT_")


def start(name: str, env: dict[str, str], log_dir: Path) -> Function:
    binary = BIN_DIR / name
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(
            f"{binary} is missing: run `cargo build --workspace --bins` first "
            f"(or point PACT_BIN_DIR at the binaries)",
            pytrace=False,
        )
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    full_env.update({"PORT": str(port), "PACT_LOG_FORMAT": "text", "NO_COLOR": "1"})
    full_env.update(env)
    log_path = log_dir / f"{name}-{port}.log"
    log = open(log_path, "wb")
    try:
        proc = subprocess.Popen(
            [str(binary)],
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()
    function = Function(name=name, port=port, proc=proc, log_path=log_path)

    deadline = time.monotonic() + STARTUP_DEADLINE_S
    last_error = "no attempt yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"{name} exited with code {proc.returncode} before answering /healthz "
                f"(env {env}); its output:\n{function.log()}",
                pytrace=False,
            )
        try:
            resp = request("GET", function.url + "/healthz", timeout=1.0)
            if resp.status == 200 and resp.body.strip() == b"ok":
                return function
            last_error = f"answered {resp.status} {resp.body[:200]!r}"
        except OSError as e:
            last_error = repr(e)
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    pytest.fail(
        f"{name} did not answer GET /healthz with 200 ok within {STARTUP_DEADLINE_S} s "
        f"(last: {last_error}); its output:\n{function.log()}",
        pytrace=False,
    )


def stop(function: Function) -> None:
    proc = function.proc
    if proc.poll() is not None:
        pytest.fail(
            f"{function.name} died during the test with code {proc.returncode}; "
            f"its output:\n{function.log()}",
            pytrace=False,
        )
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=SHUTDOWN_DEADLINE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(
            f"{function.name} did not exit within {SHUTDOWN_DEADLINE_S} s of SIGTERM; "
            f"its output:\n{function.log()}",
            pytrace=False,
        )
    assert code == 0, (
        f"{function.name} exited with code {code} after SIGTERM (expected 0); "
        f"its output:\n{function.log()}"
    )


def wait_ready(function: Function) -> None:
    """Waits up to 15 s for `/readyz` to answer 200 (the database is usable)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if request("GET", function.url + "/readyz", timeout=1.0).status == 200:
            return
        time.sleep(0.05)
    pytest.fail(f"{function.name} is not ready; its output:\n{function.log()}", pytrace=False)


@dataclass
class Dev:
    """A running `pact dev`: its URLs by function (and `eventing`)."""

    urls: dict[str, str]
    proc: subprocess.Popen


@contextlib.contextmanager
def dev(directory: Path):
    """`pact dev --port 0 --json` with its state in `directory`: the whole
    pipeline with the eventing stand-in, stopped with SIGTERM at the end.
    Its database is the SQLite file in `directory`, whatever the runner's
    DATABASE_URL (CI's points at a PostgreSQL database other runs share)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_SCRUBBED_PREFIXES) and k != "DATABASE_URL"}
    with open(directory / "dev.log", "wb") as log:
        proc = subprocess.Popen(
            [str(BIN_DIR / "pact"), "dev", "--dir", str(directory), "--port", "0", "--json"],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
        )
    try:
        line = proc.stdout.readline()
        ready = json.loads(line) if line else {}
        if ready.get("event") != "ready":
            pytest.fail(f"pact dev did not start: {line!r}\n{(directory / 'dev.log').read_text()}", pytrace=False)
        yield Dev(urls=ready["urls"], proc=proc)
        assert proc.poll() is None, "pact dev died while in use"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stdin.close()
