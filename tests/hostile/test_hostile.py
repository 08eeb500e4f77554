"""Hostile input against the five functions as an event source or an attacker
would send it: malformed and oversized bodies, every input form at and past
its limit, bad and hostile headers, ids with control characters, numbers that
are not numbers, deep JSON, forged cursors, bad tokens, slow and half-closed
clients. Each must get the right 4xx (a problem document) or a clean close;
at the end nothing was stored or sent, every process still serves, and its
memory stayed bounded."""

from __future__ import annotations

import http.client
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import datetime

import pytest
import topology
from conftest import TOKEN, Pipeline
from pact_functions import Dev
from pact_http import request
from pact_ids import case_id

UNTRANSLATED = "dev.pact.contact.untranslated"
TRANSLATED = "dev.pact.contact.translated"
PROBLEM_JSON = "application/problem+json"
LIMIT = 1000

CONTACT = {"mmid1": 1, "mmid2": 2, "lat": 44.9778, "lon": -93.265, "observed_at": "2026-11-24T10:00:00Z"}
ADDRESS = {"street": "", "city": "Minneapolis", "state": "MN", "zipcode": "55401", "country": "US",
           "geocoder": "offline"}
TRANSLATED_DATA = {**CONTACT, **ADDRESS}


def ce(event_type: str = UNTRANSLATED, event_id: str = "h-1", content_type: str | None = "application/json",
       **extra: str) -> dict[str, str]:
    """Binary-mode CloudEvent headers."""
    headers = {"ce-specversion": "1.0", "ce-id": event_id, "ce-source": "/hostile", "ce-type": event_type}
    if content_type is not None:
        headers["content-type"] = content_type
    headers.update(extra)
    return headers


def js(value) -> bytes:
    return json.dumps(value).encode()


def structured(data, event_id="s-1", event_type=UNTRANSLATED, **attributes) -> bytes:
    return js({"specversion": "1.0", "id": event_id, "source": "/hostile", "type": event_type,
               "datacontenttype": "application/json", "data": data, **attributes})


def batch(n: int, data=CONTACT) -> bytes:
    events = [{"specversion": "1.0", "id": f"b-{i}", "source": "/hostile", "type": UNTRANSLATED,
               "data": {**data, "mmid1": i + 1, "mmid2": i + 2}} for i in range(n)]
    return js(events)


TODAY = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
REPORTED = "dev.pact.case.reported"
CASE = {"case_id": case_id(1, TODAY), "mmid": 1, "onset": TODAY}


def csv_lines(n: int) -> bytes:
    return "".join(f"{i + 1},{i + 2},44.9,-93.2\n" for i in range(n)).encode()


JSON = {"content-type": "application/json"}
CE_JSON = {"content-type": "application/cloudevents+json"}
CE_BATCH = {"content-type": "application/cloudevents-batch+json"}
CSV = {"content-type": "text/csv"}
BEARER = {"authorization": f"Bearer {TOKEN}"}
DEEP = b"[" * 100_000 + b"]" * 100_000
MIB = 1024 * 1024

# name: (function, method, path, headers, body, accepted statuses, field at fault)
CASES: dict[str, tuple] = {
    # ------------------------------------------------ pact-producer, /contacts
    "contacts-not-json": ("producer", "POST", "/contacts", JSON, b"{nope", (400,), None),
    "contacts-empty-array": ("producer", "POST", "/contacts", JSON, b"[]", (400,), None),
    "contacts-a-number": ("producer", "POST", "/contacts", JSON, b"42", (400,), None),
    "contacts-over-the-limit": ("producer", "POST", "/contacts", JSON,
                                js([CONTACT] * (LIMIT + 1)), (413,), None),
    "contacts-over-a-mebibyte": ("producer", "POST", "/contacts", JSON, b" " * (MIB + 1), (413,), None),
    "contacts-deep-json": ("producer", "POST", "/contacts", JSON, DEEP, (400,), None),
    "contacts-nan": ("producer", "POST", "/contacts", JSON, b'{"mmid1":1,"mmid2":2,"lat":NaN,"lon":1}', (400,), None),
    "contacts-infinity": ("producer", "POST", "/contacts", JSON, b'{"mmid1":1,"mmid2":2,"lat":1e400,"lon":1}',
                          (400,), None),
    "contacts-latitude-91": ("producer", "POST", "/contacts", JSON, js({**CONTACT, "lat": 91}), (422,), "lat"),
    "contacts-longitude-minus-181": ("producer", "POST", "/contacts", JSON, js({**CONTACT, "lon": -181}),
                                     (422,), "lon"),
    "contacts-id-past-i64": ("producer", "POST", "/contacts", JSON,
                             b'{"mmid1":9223372036854775808,"mmid2":2,"lat":1,"lon":1}', (400,), None),
    "contacts-negative-id": ("producer", "POST", "/contacts", JSON, js({**CONTACT, "mmid1": -1}), (422,), "mmid1"),
    "contacts-zero-id": ("producer", "POST", "/contacts", JSON, js({**CONTACT, "mmid1": 0}), (422,), "mmid1"),
    "contacts-same-person": ("producer", "POST", "/contacts", JSON, js({**CONTACT, "mmid2": 1}), (422,), "mmid2"),
    "contacts-fractional-id": ("producer", "POST", "/contacts", JSON, js({**CONTACT, "mmid1": 1.5}), (400,), None),
    "contacts-id-as-text": ("producer", "POST", "/contacts", JSON, js({**CONTACT, "mmid1": "1"}), (400,), None),
    "contacts-future": ("producer", "POST", "/contacts", JSON,
                        js({**CONTACT, "observed_at": "2999-01-01T00:00:00Z"}), (422,), "observed_at"),
    "contacts-not-a-time": ("producer", "POST", "/contacts", JSON,
                            js({**CONTACT, "observed_at": "yesterday"}), (422,), "observed_at"),
    "contacts-year-zero": ("producer", "POST", "/contacts", JSON,
                           js({**CONTACT, "observed_at": "0000-01-01T00:00:00Z"}), (422,), "observed_at"),
    "contacts-year-10000": ("producer", "POST", "/contacts", JSON,
                            js({**CONTACT, "observed_at": "+10000-01-01T00:00:00Z"}), (422,), "observed_at"),
    "contacts-id-control-char": ("producer", "POST", "/contacts", JSON, js({**CONTACT, "id": "a\u0007b"}),
                                 (422,), "id"),
    "contacts-id-bidi": ("producer", "POST", "/contacts", JSON, js({**CONTACT, "id": "a\u202eb"}), (422,), "id"),
    "contacts-id-padded": ("producer", "POST", "/contacts", JSON, js({**CONTACT, "id": " 1"}), (422,), "id"),
    "contacts-id-too-long": ("producer", "POST", "/contacts", JSON, js({**CONTACT, "id": "x" * 129}),
                             (422,), "id"),
    "contacts-key-non-ascii": ("producer", "POST", "/contacts", {**JSON, "idempotency-key": "caf\u00e9"},
                               js(CONTACT), (422,), "Idempotency-Key"),
    "contacts-key-on-an-array": ("producer", "POST", "/contacts", {**JSON, "idempotency-key": "k"},
                                 js([CONTACT]), (422,), "Idempotency-Key"),
    "contacts-xml": ("producer", "POST", "/contacts", {"content-type": "application/xml"}, b"<x/>", (415,), None),
    "contacts-one-bad-of-many": ("producer", "POST", "/contacts", JSON,
                                 js([CONTACT, {**CONTACT, "lat": 500}]), (422,), None),
    "contacts-get": ("producer", "GET", "/contacts", {}, b"", (405,), None),
    # --------------------------------------------- pact-producer, original + /
    "message-three-fields": ("producer", "POST", "/pact/producer?message=1,2,3", {}, b"", (400,), None),
    "message-missing": ("producer", "POST", "/pact/producer", {}, b"", (400,), None),
    "message-two-lines": ("producer", "POST", "/pact/producer?message=1,2,3,4%0A5,6,7,8", {}, b"", (400,), None),
    "message-bad-percent": ("producer", "POST", "/pact/producer?message=%ZZ", {}, b"", (400,), None),
    "message-not-numbers": ("producer", "POST", "/pact/producer?message=a,b,c,d", {}, b"", (400,), None),
    "producer-plain-json": ("producer", "POST", "/", JSON, js(CONTACT), (415,), None),
    "producer-sniffed-json": ("producer", "POST", "/", {}, js(CONTACT), (400,), None),
    "producer-batch-over-the-limit": ("producer", "POST", "/", CE_BATCH, batch(LIMIT + 1), (413,), None),
    "producer-csv-over-the-limit": ("producer", "POST", "/", CSV, csv_lines(LIMIT + 1), (413,), None),
    "producer-csv-only-commas": ("producer", "POST", "/", CSV, b",,,\n,", (400,), None),
    "producer-tiny-lines-filling-a-mebibyte": ("producer", "POST", "/", CSV, b"1,2,3,4\n" * 131_000, (413,), None),
    "producer-missing-ce-id": ("producer", "POST", "/",
                               {k: v for k, v in ce().items() if k != "ce-id"}, js(CONTACT), (400,), None),
    "producer-foreign-type": ("producer", "POST", "/", ce("com.example.other"), js(CONTACT), (422,), "type"),
    "producer-specversion-0.2": ("producer", "POST", "/", {**ce(), "ce-specversion": "0.2"}, js(CONTACT),
                                 (400,), None),
    "producer-ce-id-bidi": ("producer", "POST", "/", ce(event_id="a%E2%80%AEb"), js(CONTACT), (422,), "id"),
    "producer-ce-id-encoded-nul": ("producer", "POST", "/", ce(event_id="a%00b"), js(CONTACT), (422,), "id"),
    "producer-ce-time-year-0": ("producer", "POST", "/", ce(**{"ce-time": "0000-01-01T00:00:00Z"}),
                                js({k: v for k, v in CONTACT.items() if k != "observed_at"}), (400, 422), None),
    "producer-structured-garbage": ("producer", "POST", "/", CE_JSON, b"{not json", (400,), None),
    "producer-structured-base64": ("producer", "POST", "/", CE_JSON,
                                   js({"specversion": "1.0", "id": "x", "source": "/h", "type": UNTRANSLATED,
                                       "data_base64": "!!!not base64"}), (400,), None),
    "producer-batch-of-numbers": ("producer", "POST", "/", CE_BATCH, b"[1,2,3]", (400,), None),
    "producer-empty-batch": ("producer", "POST", "/", CE_BATCH, b"[]", (400,), None),
    "producer-no-body": ("producer", "POST", "/", ce(), b"", (400,), None),
    "producer-unknown-path": ("producer", "POST", "/admin", {}, b"", (404,), None),
    # ------------------------------------------------------ pact-translation
    "translation-csv-three-fields": ("translation", "POST", "/", CSV, b"1,2,44.9", (400,), None),
    "translation-csv-six-fields": ("translation", "POST", "/", CSV, b"1,2,3,4,2026-11-24T10:00:00Z,x", (400,), None),
    "translation-csv-latitude-text": ("translation", "POST", "/", CSV, b"1,2,north,4", (400,), None),
    "translation-csv-nan": ("translation", "POST", "/", CSV, b"1,2,NaN,4", (400, 422), None),
    "translation-csv-inf": ("translation", "POST", "/", CSV, b"1,2,inf,4", (400, 422), None),
    "translation-csv-unclosed-quote": ("translation", "POST", "/", CSV, b'1,2,"44.9,4', (400,), None),
    "translation-csv-not-utf8": ("translation", "POST", "/", CSV, b"1,2,\xff\xfe,4", (400,), None),
    "translation-csv-over-the-limit": ("translation", "POST", "/", CSV, csv_lines(LIMIT + 1), (413,), None),
    "translation-bare-json": ("translation", "POST", "/", JSON, js(CONTACT), (415,), None),
    "translation-json-null-data": ("translation", "POST", "/", ce(), b"null", (400,), None),
    "translation-event-two-csv-lines": ("translation", "POST", "/", ce(content_type="text/csv"),
                                        b"1,2,3,4\n5,6,7,8", (400,), None),
    "translation-event-image": ("translation", "POST", "/", ce(content_type="image/png"), b"\x89PNG", (415,), None),
    "translation-batch-over-the-limit": ("translation", "POST", "/", CE_BATCH, batch(LIMIT + 1), (413,), None),
    "translation-structured-deep": ("translation", "POST", "/", CE_JSON, DEEP, (400,), None),
    "translation-declared-length-too-big": ("translation", "POST", "/", {**CSV, "content-length": str(MIB + 1)},
                                            None, (413,), None),
    "translation-latitude-out-of-range": ("translation", "POST", "/", ce(), js({**CONTACT, "lat": -90.5}),
                                          (422,), "lat"),
    "translation-envelope-in-envelope": ("translation", "POST", "/", ce("dev.knative.kafka.event", content_type=None),
                                         structured(CONTACT, event_type="dev.knative.kafka.event"), (400,), None),
    # -------------------------------------------------------- pact-contactlog
    "contactlog-untranslated-type": ("contactlog", "POST", "/", ce(UNTRANSLATED), js(TRANSLATED_DATA),
                                     (422,), "type"),
    "contactlog-country-three-letters": ("contactlog", "POST", "/", ce(TRANSLATED),
                                         js({**TRANSLATED_DATA, "country": "USA"}), (422,), "country"),
    "contactlog-street-too-long": ("contactlog", "POST", "/", ce(TRANSLATED),
                                   js({**TRANSLATED_DATA, "street": "x" * 201}), (422,), "street"),
    "contactlog-zipcode-too-long": ("contactlog", "POST", "/", ce(TRANSLATED),
                                    js({**TRANSLATED_DATA, "zipcode": "1" * 17}), (422,), "zipcode"),
    "contactlog-lat-without-lon": ("contactlog", "POST", "/", ce(TRANSLATED),
                                   js({k: v for k, v in TRANSLATED_DATA.items() if k != "lon"}), (422,), "lon"),
    "contactlog-bare-json": ("contactlog", "POST", "/", JSON, js(TRANSLATED_DATA), (415,), None),
    "contactlog-batch-one-bad": ("contactlog", "POST", "/", CE_BATCH,
                                 js([{"specversion": "1.0", "id": f"c-{i}", "source": "/h", "type": TRANSLATED,
                                      "data": {**TRANSLATED_DATA, "mmid2": 1 if i == 1 else 2}}
                                     for i in range(3)]), (422,), None),
    "contactlog-source-too-long": ("contactlog", "POST", "/", {**ce(TRANSLATED), "ce-source": "/" + "s" * 600},
                                   js(TRANSLATED_DATA), (422,), "source"),
    "contactlog-csv-over-the-limit": ("contactlog", "POST", "/", CSV,
                                      b"1,2,,Minneapolis,MN,55401,US\n" * (LIMIT + 1), (413,), None),
    # ------------------------------------------------------------ pact-query
    "query-no-token": ("query", "GET", "/contacts/1", {}, b"", (401,), None),
    "query-wrong-token": ("query", "GET", "/contacts/1", {"authorization": "Bearer wrong-token-0123456789"},
                          b"", (401,), None),
    "query-basic-auth": ("query", "GET", "/contacts/1", {"authorization": "Basic dXNlcjpwYXNz"}, b"", (401,), None),
    "query-empty-bearer": ("query", "GET", "/stats", {"authorization": "Bearer "}, b"", (401,), None),
    "query-huge-token": ("query", "GET", "/stats", {"authorization": "Bearer " + "x" * 4000}, b"", (401,), None),
    "query-ui-unknown-file": ("query", "GET", "/ui/" + "a" * 4000 + ".js", {}, b"", (404,), None),
    "query-ui-dot-dot": ("query", "GET", "/ui/%2e%2e/%2e%2e/Cargo.toml", {}, b"", (404,), None),
    "query-ui-nul": ("query", "GET", "/ui/app.js%00", {}, b"", (404,), None),
    "query-ui-post": ("query", "POST", "/ui/app.js", JSON, b"{}", (405,), None),
    "query-mmid-text": ("query", "GET", "/contacts/abc", BEARER, b"", (400,), None),
    "query-mmid-past-i64": ("query", "GET", "/contacts/99999999999999999999", BEARER, b"", (400,), None),
    "query-days-huge": ("query", "GET", "/exposures/1?days=18446744073709551615", BEARER, b"", (400,), None),
    "query-depth-huge": ("query", "GET", "/exposures/1?depth=1000", BEARER, b"", (400,), None),
    "query-limit-zero": ("query", "GET", "/contacts/1?limit=0", BEARER, b"", (400,), None),
    "query-limit-huge": ("query", "GET", "/contacts/1?limit=100000000", BEARER, b"", (400,), None),
    "query-since-garbage": ("query", "GET", "/contacts/1?since=soon", BEARER, b"", (400,), None),
    "query-since-year-99999": ("query", "GET", "/contacts/1?since=99999-01-01T00:00:00Z", BEARER, b"", (400,), None),
    "query-forged-cursor": ("query", "GET", "/contacts/1?cursor=eyJkYXlzIjo5OTk5fQ", BEARER, b"", (400,), None),
    "query-huge-cursor": ("query", "GET", "/contacts/1?cursor=" + "A" * 8000, BEARER, b"", (400, 414, 431), None),
    "query-state-too-long": ("query", "GET", "/findcontactbystate?state=" + "M" * 500, BEARER, b"", (400,), None),
    "query-post": ("query", "POST", "/stats", BEARER, b"", (405,), None),
    # --------------------------------------------------- pact-query, /cases
    "cases-no-token": ("query", "POST", "/cases", JSON, js({"mmid": 1, "onset": TODAY}), (401,), None),
    "cases-not-json": ("query", "POST", "/cases", {**BEARER, **CSV}, b"1,2026-12-01", (415,), None),
    "cases-broken-json": ("query", "POST", "/cases", {**BEARER, **JSON}, b'{"mmid":', (400,), None),
    "cases-deep-json": ("query", "POST", "/cases", {**BEARER, **JSON}, DEEP, (400,), None),
    "cases-over-a-mebibyte": ("query", "POST", "/cases", {**BEARER, **JSON}, b" " * (MIB + 1), (413,), None),
    "cases-id-past-i64": ("query", "POST", "/cases", {**BEARER, **JSON},
                          b'{"mmid":9223372036854775808,"onset":"2026-12-01"}', (400,), None),
    "cases-zero-id": ("query", "POST", "/cases", {**BEARER, **JSON}, js({"mmid": 0, "onset": TODAY}),
                      (422,), "mmid"),
    "cases-onset-year-99999": ("query", "POST", "/cases", {**BEARER, **JSON},
                               js({"mmid": 1, "onset": "99999-01-01"}), (400,), None),
    "cases-onset-future": ("query", "POST", "/cases", {**BEARER, **JSON},
                           js({"mmid": 1, "onset": "2999-01-01"}), (422,), "onset"),
    "cases-reference-control": ("query", "POST", "/cases", {**BEARER, **JSON},
                                js({"mmid": 1, "onset": TODAY, "reference": "a\u001bb"}), (422,), "reference"),
    "cases-unknown-field": ("query", "POST", "/cases", {**BEARER, **JSON},
                            js({"mmid": 1, "onset": TODAY, "name": "Jo"}), (400,), None),
    "cases-withdraw-not-a-uuid": ("query", "DELETE", "/cases/1", BEARER, b"", (400,), "case_id"),
    "cases-unknown-case": ("query", "GET", "/cases/" + case_id(1, "2026-01-01"), BEARER, b"", (404,), None),
    # ------------------------------------------------------------ pact-notify
    "notify-case-of-another-person": ("notify", "POST", "/", ce(REPORTED), js({**CASE, "mmid": 2}),
                                      (422,), "case_id"),
    "notify-id-past-i64": ("notify", "POST", "/", ce(REPORTED),
                           b'{"case_id":"' + CASE["case_id"].encode() + b'","mmid":9223372036854775808,'
                           b'"onset":"2026-12-01"}', (400,), None),
    "notify-onset-future": ("notify", "POST", "/", ce(REPORTED), js({**CASE, "onset": "2999-01-01"}),
                            (422,), "onset"),
    "notify-reference-too-long": ("notify", "POST", "/", ce(REPORTED), js({**CASE, "reference": "x" * 101}),
                                  (422,), "reference"),
    "notify-case-id-not-a-uuid": ("notify", "POST", "/", ce(REPORTED), js({**CASE, "case_id": "1"}), (400,), None),
    "notify-withdrawal-without-case": ("notify", "POST", "/", ce("dev.pact.case.withdrawn"), js({}), (400,), None),
    "notify-contact-type": ("notify", "POST", "/", ce(TRANSLATED), js(TRANSLATED_DATA), (422,), "type"),
    "notify-csv": ("notify", "POST", "/", CSV, b"1,2,44.9,-93.2", (400,), None),
    "notify-batch-over-the-limit": ("notify", "POST", "/", CE_BATCH,
                                    js([{"specversion": "1.0", "id": f"n-{i}", "source": "/h", "type": REPORTED,
                                         "data": CASE} for i in range(LIMIT + 1)]), (413,), None),
    "notify-bare-json": ("notify", "POST", "/", JSON, js(CASE), (415,), None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_request_gets_a_clear_4xx(pipeline: Pipeline, name: str):
    function, method, path, headers, body, statuses, field = CASES[name]
    resp = send_raw(pipeline.functions[function].url + path, method, headers, body)
    assert resp.status in statuses, (name, resp.status, resp.body[:400])
    if resp.status in (414, 431):
        return
    assert resp.headers.get("content-type", "").split(";")[0].strip() == PROBLEM_JSON, (name, resp.headers)
    problem = json.loads(resp.body)
    assert problem["status"] == resp.status
    assert problem["detail"], problem
    # A bounded answer, whatever was sent.
    assert len(resp.body) < 8_192, (name, len(resp.body))
    if field is not None:
        assert problem.get("field") == field, (name, problem)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def send_raw(url: str, method: str, headers: dict[str, str], body: bytes | None) -> Answer:
    """One request on its own connection. A server may answer an oversized
    body early and close; the answer is still read. `body=None` declares
    the given Content-Length and sends nothing."""
    host, port, path = split(url)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    with socket.create_connection((host, port), timeout=10) as s:
        try:
            s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (body or b""))
        except (BrokenPipeError, ConnectionResetError):
            pass
        raw = read_response(s)
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head, f"no answer to {method} {path}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
    return Answer(status=int(status_line.split()[1]), headers=parsed, body=rest)


def split(url: str) -> tuple[str, int, str]:
    hostport, _, path = url[len("http://"):].partition("/")
    host, _, port = hostport.partition(":")
    return host, int(port), "/" + path


def read_response(s: socket.socket) -> bytes:
    """One response: its head and a Content-Length body (PACT answers no
    chunked errors)."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    except ConnectionResetError:
        head, _, body = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n" + body


# ------------------------------------------------------------ slow clients

# Every function of pipeline.toml (conftest's `pipeline` fixture starts each).
FUNCTIONS = topology.names()


def closed_within(s: socket.socket, limit: float) -> float:
    """Seconds until the server closes `s` (reading and dropping what it
    sends, such as a 408); fails past `limit`."""
    started = time.monotonic()
    s.settimeout(limit)
    try:
        while s.recv(4096):
            pass
    except TimeoutError:
        pytest.fail(f"the connection was still open after {limit} s")
    except ConnectionResetError:
        pass
    return time.monotonic() - started


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_client_that_never_finishes_its_headers_is_cut_off(pipeline: Pipeline, function: str):
    host, port, _ = split(pipeline.functions[function].url)
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n")
        # PACT_HEADER_READ_TIMEOUT_MS is 500 here.
        assert closed_within(s, 5.0) < 5.0


@pytest.mark.parametrize("function", FUNCTIONS)
def test_an_idle_keep_alive_connection_is_closed(pipeline: Pipeline, function: str):
    host, port, _ = split(pipeline.functions[function].url)
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b" 200 " in read_response(s)
        # PACT_IDLE_TIMEOUT_S is 1 here.
        assert closed_within(s, 5.0) < 5.0


@pytest.mark.parametrize("function", ["producer", "translation", "contactlog"])
def test_a_half_closed_body_is_refused_or_closed_not_stored(pipeline: Pipeline, function: str):
    host, port, _ = split(pipeline.functions[function].url)
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 1000\r\n\r\n1,2,3")
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5.0)
        answer = b""
        try:
            while chunk := s.recv(4096):
                answer += chunk
        except ConnectionResetError:
            pass
    # Either a 400 for the cut body, or the connection closed with no answer.
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:200]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("function", ["producer", "translation", "contactlog"])
def test_an_oversized_body_gets_its_413_not_a_reset(pipeline: Pipeline, function: str, chunked: bool):
    """A body of 3 MiB, well over the 1 MiB limit: the client is still sending
    when the 413 is ready. Every time, the client reads the 413 (not a broken
    pipe or a reset, which an event source would retry), and the same
    connection then serves the next request."""
    host, port, _ = split(pipeline.functions[function].url)
    body = b" " * (3 * MIB)
    event_type = TRANSLATED if function == "contactlog" else UNTRANSLATED
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        for i in range(10):
            headers = ce(event_type, event_id=f"big-{i}")
            if chunked:
                chunks = (body[at:at + 64 * 1024] for at in range(0, len(body), 64 * 1024))
                connection.request("POST", "/", body=chunks, headers=headers, encode_chunked=True)
            else:
                connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            assert response.status == 413, (i, response.status, answer[:200])
            assert response.getheader("content-type") == PROBLEM_JSON
            connection.request("GET", "/healthz")
            health = connection.getresponse()
            health.read()
            assert health.status == 200, (i, "the connection still serves")
    finally:
        connection.close()


# -------------------------------------------- pact dev's eventing stand-in

TOPIC = "/topics/pact-untranslated"
STAND_IN: dict[str, tuple] = {
    # name: (method, path, headers, body, accepted statuses)
    "unknown-topic": ("POST", "/topics/no-such-topic", ce(), js(CONTACT), (404,)),
    "topic-path-traversal": ("POST", "/topics/..%2F..%2Fetc", ce(), js(CONTACT), (404,)),
    "not-a-cloudevent": ("POST", TOPIC, JSON, js(CONTACT), (400,)),
    "missing-ce-type": ("POST", TOPIC, {k: v for k, v in ce().items() if k != "ce-type"}, js(CONTACT), (400,)),
    "structured-garbage": ("POST", TOPIC, CE_JSON, b"{not json", (400,)),
    "structured-deep": ("POST", TOPIC, CE_JSON, DEEP, (400,)),
    "over-the-record-limit": ("POST", TOPIC, ce(), b" " * (8 * MIB + 1), (413,)),
    "raw-over-the-record-limit": ("POST", TOPIC + "/records", {}, b" " * (8 * MIB + 1), (413,)),
    "raw-unknown-topic": ("POST", "/topics/nope/records", {}, b"1,2,3,4", (404,)),
    "records-limit-not-a-number": ("GET", TOPIC + "/records?limit=lots", {}, b"", (400,)),
    "records-limit-past-u64": ("GET", TOPIC + "/records?limit=99999999999999999999999", {}, b"", (400,)),
    "records-from-negative": ("GET", TOPIC + "/records?from=-1", {}, b"", (400,)),
    "get-a-topic": ("GET", TOPIC, {}, b"", (405,)),
}


@pytest.mark.parametrize("name", list(STAND_IN))
def test_the_stand_in_refuses_hostile_input(dev: Dev, name: str):
    method, path, headers, body, statuses = STAND_IN[name]
    resp = send_raw(dev.urls["eventing"] + path, method, headers, body)
    assert resp.status in statuses, (name, resp.status, resp.body[:300])


def test_the_stand_in_stored_nothing_hostile_and_still_serves(dev: Dev):
    topics = json.loads(request("GET", dev.urls["eventing"] + "/topics").body)
    records = {t["name"]: t["records"] for t in topics["topics"]}
    assert set(records.values()) == {0}, topics
    assert dev.proc.poll() is None
    resp = request("POST", dev.urls["eventing"] + TOPIC, ce(event_id="good"), js(CONTACT))
    assert resp.status == 202, resp.body


# ------------------------------------------------------------- the outcome


def test_nothing_was_stored_or_sent_and_every_process_still_serves(pipeline: Pipeline):
    # Run last (pytest keeps the file's order): after every hostile request.
    assert pipeline.sink.requests == [], [r.body[:100] for r in pipeline.sink.requests]
    assert pipeline.rows() == 0
    assert pipeline.rows("cases") == 0
    for name, function in pipeline.functions.items():
        assert function.proc.poll() is None, f"{name} died:\n{function.log()}"
        peak = peak_rss_mib(function.proc.pid)
        assert peak < 192, f"{name} peaked at {peak:.0f} MiB"
    # And each still does its job.
    ok = request("POST", pipeline.functions["producer"].url + "/contacts", JSON, js(CONTACT))
    assert ok.status == 202, ok.body
    ok = request("POST", pipeline.functions["translation"].url + "/", ce(), js(CONTACT))
    assert ok.status == 202, ok.body
    assert len(pipeline.sink.wait_for(2)) == 2
    ok = request("POST", pipeline.functions["contactlog"].url + "/", ce(TRANSLATED), js(TRANSLATED_DATA))
    assert ok.status == 200, ok.body
    assert pipeline.rows() == 1
    ok = request("GET", pipeline.functions["query"].url + "/contacts/1", BEARER)
    assert ok.status == 200, ok.body
    assert len(json.loads(ok.body)["items"]) == 1
    ok = request("POST", pipeline.functions["query"].url + "/cases", {**BEARER, **JSON},
                 js({"mmid": 1, "onset": TODAY}))
    assert ok.status == 202, ok.body
    # Person 1's case, with onset on the day of the contact stored above.
    onset = CONTACT["observed_at"][:10]
    case = {"case_id": case_id(1, onset), "mmid": 1, "onset": onset}
    ok = request("POST", pipeline.functions["notify"].url + "/", ce(REPORTED, case["case_id"]), js(case))
    assert ok.status == 200, ok.body
    assert json.loads(ok.body) == {"notified": 1, "withdrawn": 0}
    assert len(pipeline.sink.wait_for(4)) == 4


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
