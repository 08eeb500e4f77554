#!/usr/bin/env python3
"""Cold start of an HTTP function: exec -> first `200` answered on `POST /`.

Method (see docs/performance.md):
  t0 = monotonic clock, then the binary is spawned (fork + exec, stdout and
  stderr to /dev/null). A tight loop connects to 127.0.0.1:PORT (no sleep:
  a refused connect on loopback returns in microseconds); the first accepted
  connection gives `ready` (the socket is listening). One binary-mode
  CloudEvent is sent at once on that connection (`Connection: close`), and
  the reply is read to its end; `first 200` is when the whole response has
  arrived. The process is then stopped (SIGTERM, SIGKILL after 2 s) and the
  next run starts on a fresh port. Median and p90 over the runs are printed;
  `--json` prints every sample as well.

`--csv` sends the contact as a `text/csv` line (benches/peers.sh);
`--method`, `--path`, `--header`, `--data` send another request instead
(benches/peers.sh's producer, contactlog and query jobs), `{seq}` in a header
or the data becoming a value unique to the run, `--expect` the status that
counts as the first answer (200), and `--retry-503` keeps asking while the
server answers 503 (not ready yet: a function migrating its database);
`{port}` in an argument or an `--env` value becomes the run's port (for
servers that take it other than from `PORT`); `--server-cpus` pins the
server (the affinity is inherited at fork, so no extra exec is timed).

Only the standard library; talks to 127.0.0.1 only; bounded by --timeout
per run.
"""

import argparse
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def request_bytes(observed_at: str, csv: bool = False) -> bytes:
    if csv:
        # The original demo's line as the event's data (benches/peers.sh).
        body = f"1,2,44.9778,-93.265,{observed_at}".encode()
        content_type = "text/csv"
    else:
        body = (
            '{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265,'
            f'"observed_at":"{observed_at}"}}'
        ).encode()
        content_type = "application/json"
    head = (
        "POST / HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        "Connection: close\r\n"
        f"Content-Type: {content_type}\r\n"
        "ce-specversion: 1.0\r\n"
        "ce-id: 0195a3c2-7d1e-7000-8000-000000000001\r\n"
        "ce-source: /pact/producer\r\n"
        "ce-type: dev.pact.contact.untranslated\r\n"
        f"ce-time: {observed_at}\r\n"
        "ce-partitionkey: 1-2\r\n"
        f"ce-traceparent: {TRACEPARENT}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    ).encode()
    return head + body


def custom_request(method: str, path: str, headers: list[str], data: str) -> bytes:
    """The request of --method/--path/--header/--data; `{seq}` stays for one_run."""
    body = data.encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    head += "".join(f"{h}\r\n" for h in headers)
    if body or method not in ("GET", "HEAD"):
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Reads until the server closes (Connection: close); returns the status."""
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    data = b"".join(chunks)
    status_line = data.split(b"\r\n", 1)[0]
    parts = status_line.split()
    status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
    return status, data


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def one_run(cmd, env, port, payload, timeout_s, cwd=None, cpus=None, expect=200, retry_503=False):
    # `{port}` in an argument or an --env value becomes this run's port.
    env = {k: v.replace("{port}", str(port)) for k, v in env.items()}
    env["PORT"] = str(port)
    cmd = [arg.replace("{port}", str(port)) for arg in cmd]
    if b"{seq}" in payload:
        # Unique per run: a store that is idempotent by event id writes each.
        seq = f"{time.time_ns():x}".encode()
        payload = payload.replace(b"{seq}", seq)
        head, _, body = payload.partition(b"\r\n\r\n")
        head = b"\r\n".join(
            line if not line.startswith(b"Content-Length:") else b"Content-Length: %d" % len(body)
            for line in head.split(b"\r\n"))
        payload = head + b"\r\n\r\n" + body
    own_cpus = os.sched_getaffinity(0)
    if cpus:
        # The child inherits the affinity at fork: pin it without an extra
        # exec (taskset), then take ours back once it has been spawned.
        os.sched_setaffinity(0, cpus)
    t0 = time.perf_counter_ns()
    try:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    finally:
        if cpus:
            os.sched_setaffinity(0, own_cpus)
    deadline = t0 + int(timeout_s * 1e9)
    try:
        attempts = 0
        while True:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.connect(("127.0.0.1", port))
                break
            except (ConnectionRefusedError, ConnectionResetError):
                sock.close()
                attempts += 1
                if time.perf_counter_ns() > deadline:
                    raise RuntimeError(f"not listening after {timeout_s} s")
                if attempts % 64 == 0 and proc.poll() is not None:
                    raise RuntimeError(f"exited with {proc.returncode} before listening")
        t_ready = time.perf_counter_ns()
        while True:
            with sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(timeout_s)
                sock.sendall(payload)
                status, data = read_response(sock)
            if not (retry_503 and status == 503) or time.perf_counter_ns() > deadline:
                break
            sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
        t_done = time.perf_counter_ns()
        if status != expect:
            raise RuntimeError(f"first answer was {status}: {data[:300]!r}")
        return (t_ready - t0) / 1e6, (t_done - t0) / 1e6, attempts
    finally:
        stop(proc)


def percentile(values, p):
    ordered = sorted(values)
    # Nearest rank: the smallest value with at least p % of the samples at or below it.
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--port", type=int, default=18090, help="first port; each run uses the next one")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--observed-at", default=None, help="RFC 3339; default: one minute ago")
    parser.add_argument("--label", default=None)
    parser.add_argument("--json", action="store_true", help="print every sample as JSON")
    parser.add_argument("--csv", action="store_true",
                        help="send the contact as a text/csv line instead of JSON data")
    parser.add_argument("--method", default=None, help="send this request instead of the event")
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[], metavar="NAME: VALUE")
    parser.add_argument("--data", default="")
    parser.add_argument("--expect", type=int, default=200, help="the status of the first answer")
    parser.add_argument("--retry-503", action="store_true",
                        help="ask again while the answer is 503 (not ready)")
    parser.add_argument("--cwd", default=None, help="working directory of the server")
    parser.add_argument("--server-cpus", default=None, metavar="LIST",
                        help="CPUs to pin the server to, e.g. 0 or 0,1 (this process keeps its own)")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="-- binary [args]")
    args = parser.parse_args()
    # Stopped from outside (timeout, kill): still stop the server we spawned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        parser.error("give the binary after --")
    env = dict(os.environ)
    for pair in args.env:
        name, _, value = pair.partition("=")
        env[name] = value
    observed_at = args.observed_at or time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    payload = (custom_request(args.method, args.path, args.header, args.data) if args.method
               else request_bytes(observed_at, csv=args.csv))
    cpus = {int(c) for c in args.server_cpus.split(",")} if args.server_cpus else None

    ready, first = [], []
    for i in range(args.runs):
        r, f, _ = one_run(cmd, env, args.port + i, payload, args.timeout, args.cwd, cpus,
                          args.expect, args.retry_503)
        ready.append(r)
        first.append(f)
    label = args.label or os.path.basename(cmd[0])
    summary = {
        "label": label,
        "runs": args.runs,
        "ready_ms_median": statistics.median(ready),
        "ready_ms_p90": percentile(ready, 90),
        "first_200_ms_median": statistics.median(first),
        "first_200_ms_p90": percentile(first, 90),
        "first_200_ms_min": min(first),
        "first_200_ms_max": max(first),
    }
    if args.json:
        summary["ready_ms"] = [round(x, 3) for x in ready]
        summary["first_200_ms"] = [round(x, 3) for x in first]
        print(json.dumps(summary))
    else:
        print(
            f"{label}: exec->listening median {summary['ready_ms_median']:.2f} ms "
            f"p90 {summary['ready_ms_p90']:.2f} ms; exec->first 200 median "
            f"{summary['first_200_ms_median']:.2f} ms p90 {summary['first_200_ms_p90']:.2f} ms "
            f"(min {summary['first_200_ms_min']:.2f}, max {summary['first_200_ms_max']:.2f}, {args.runs} runs)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
