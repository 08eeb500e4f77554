"""Fixtures for the interoperability tests: the real function binaries, each
on a free port with its own environment, and a capture sink for K_SINK.

The binaries come from $PACT_BIN_DIR (default <repo>/target/debug); build
them first with `cargo build --workspace --bins`.
"""

from __future__ import annotations

import http.client
import http.server
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("PACT_BIN_DIR") or REPO / "target" / "debug")

# How long a function may take to answer /healthz after it was started.
STARTUP_DEADLINE_S = float(os.environ.get("PACT_INTEROP_STARTUP_S", "15"))
# How long a function may take to exit after SIGTERM.
SHUTDOWN_DEADLINE_S = 10.0


@dataclass
class Response:
    """An HTTP response; header names are lower case."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> Response:
    """One HTTP request with http.client, which (unlike urllib) adds no
    Content-Type of its own: a binary-mode event without datacontenttype
    must reach the function without one."""
    assert url.startswith("http://"), url
    hostport, _, path = url[len("http://") :].partition("/")
    host, _, port = hostport.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request(method, "/" + path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Response(
            status=resp.status,
            headers={k.lower(): v for k, v in resp.getheaders()},
            body=resp.read(),
        )
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError as e:
            return f"<could not read the log: {e}>"


# Variables of the test runner's environment that would change how the
# functions behave; each test states what it wants instead.
_SCRUBBED_PREFIXES = ("K_", "PACT_")


def _start(name: str, env: dict[str, str], log_dir: Path) -> Function:
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


def _stop(function: Function) -> None:
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


@pytest.fixture
def start_function(tmp_path_factory):
    """Starts a function binary: `start_function("pact-translation", K_SINK=url)`.
    Each function gets a free port; all are stopped with SIGTERM at teardown,
    which checks that each exits 0 within 10 s."""
    started: list[Function] = []
    log_dir = tmp_path_factory.mktemp("logs")

    def start(name: str, **env: str) -> Function:
        function = _start(name, env, log_dir)
        started.append(function)
        return function

    yield start

    errors = []
    for function in reversed(started):
        try:
            _stop(function)
        except BaseException as e:  # noqa: BLE001 - stop the others first
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.fixture
def translation(start_function) -> Function:
    """pact-translation in reply mode."""
    return start_function("pact-translation")


@dataclass
class Captured:
    """One request the capture sink received; header names are lower case."""

    path: str
    headers: dict[str, str]
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)


class CaptureSink:
    """A threaded HTTP server on 127.0.0.1 that records every POST and answers 202."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self._cond = threading.Condition()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    body = self._read_chunked()
                else:
                    body = self.rfile.read(int(self.headers.get("content-length") or 0))
                raw = list(self.headers.items())
                captured = Captured(
                    path=self.path,
                    headers={k.lower(): v for k, v in raw},
                    body=body,
                    raw_headers=raw,
                )
                with sink._cond:
                    sink.requests.append(captured)
                    sink._cond.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _read_chunked(self) -> bytes:
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()

            def log_message(self, format, *args) -> None:  # noqa: A002
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Captured]:
        """The first `count` requests, waiting up to `timeout` for them."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            assert len(self.requests) >= count, (
                f"the sink received {len(self.requests)} requests, expected {count}"
            )
            return list(self.requests[:count])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def sink():
    capture = CaptureSink()
    yield capture
    capture.close()
