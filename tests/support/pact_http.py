"""HTTP helpers shared by the Python test suites (tests/interop, tests/images):
a plain request function and a capture sink that stands in for K_SINK.

Each suite's pytest.ini puts this folder on sys.path (`pythonpath`).
"""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
from dataclasses import dataclass, field


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


