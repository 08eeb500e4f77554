"""Interoperability with the official Python CloudEvents SDK.

Events the functions emit (reply mode and K_SINK) are parsed with the SDK,
and events the SDK builds, in binary and structured mode, are sent to the
functions. The SDK's current API (cloudevents 2.x, `cloudevents.core`) is
used throughout; one test also goes through the 1.x API that 2.x still ships
as `cloudevents.v1`, which many deployed consumers use.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import (
    HTTPMessage,
    from_http,
    to_binary,
    to_structured,
)
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v03.event import CloudEvent as CloudEventV03
from cloudevents.core.v1.event import CloudEvent
from pact_ids import case_id, contact_id, event_key

if TYPE_CHECKING:
    from conftest import Captured, CaptureSink, Function, Response

UNTRANSLATED = "dev.pact.contact.untranslated"
TRANSLATED = "dev.pact.contact.translated"
PRODUCER_SOURCE = "/pact/producer"
TRANSLATION_SOURCE = "/pact/translation"

# Downtown Minneapolis, reported as (2, 1): the partition key orders the pair.
CONTACT = {
    "mmid1": 2,
    "mmid2": 1,
    "lat": 44.9778,
    "lon": -93.265,
    "observed_at": "2026-11-24T10:00:00Z",
}
OBSERVED = datetime(2026, 11, 24, 10, 0, 0, tzinfo=timezone.utc)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
PROBLEM_JSON = "application/problem+json"
SDK_SOURCE = "/sdk/interop"

FORMAT = JSONFormat()
MODES: dict[str, Callable[[BaseCloudEvent, JSONFormat], HTTPMessage]] = {
    "binary": to_binary,
    "structured": to_structured,
}
mode_param = pytest.mark.parametrize("mode", list(MODES))


# ----------------------------------------------------------------- helpers


def sdk_event(
    event_id: str,
    data: Any = None,
    *,
    event_type: str = UNTRANSLATED,
    source: str = SDK_SOURCE,
    datacontenttype: str | None = "application/json",
    factory=CloudEvent,
    **extensions: Any,
) -> BaseCloudEvent:
    attributes: dict[str, Any] = {"type": event_type, "source": source, "id": event_id}
    if datacontenttype is not None:
        attributes["datacontenttype"] = datacontenttype
    attributes.update(extensions)
    return factory(attributes, dict(CONTACT) if data is None else data)


def send(function: Function, event: BaseCloudEvent, mode: str, path: str = "/") -> Response:
    message = MODES[mode](event, FORMAT)
    return function.post(path, dict(message.headers), message.body)


def parse(headers: dict[str, str], body: bytes) -> BaseCloudEvent:
    """What any SDK consumer does with an HTTP request or response."""
    return from_http(HTTPMessage(headers=dict(headers), body=body), FORMAT)


def parse_reply(resp: Response) -> BaseCloudEvent:
    assert "ce-specversion" in resp.headers, (
        f"the reply is not a binary-mode CloudEvent: {resp.status} {resp.headers} {resp.body[:300]!r}"
    )
    return parse(resp.headers, resp.body)


def parse_captured(captured: Captured) -> BaseCloudEvent:
    # K_SINK deliveries are binary mode: ce- headers, the data as the body.
    assert captured.headers.get("ce-specversion") == "1.0", captured.headers
    assert captured.headers.get("content-type", "").startswith("application/json"), captured.headers
    names = [k.lower() for k, _ in captured.raw_headers if k.lower().startswith("ce-")]
    assert len(names) == len(set(names)), f"repeated ce- headers: {captured.raw_headers}"
    return parse(captured.headers, captured.body)


def assert_translated(
    event: BaseCloudEvent, input_id: str, contact: dict = CONTACT, source: str = SDK_SOURCE
) -> None:
    """`event` is the translation of the input `source` + `input_id`."""
    assert event.get_specversion() == "1.0"
    assert event.get_type() == TRANSLATED
    assert event.get_source() == TRANSLATION_SOURCE
    assert event.get_id() == event_key(source, input_id)
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("partitionkey") == "1-2"
    assert event.get_time() == OBSERVED
    data = event.get_data()
    assert isinstance(data, dict), data
    for key in ("mmid1", "mmid2", "lat", "lon"):
        assert data[key] == contact[key], (key, data)
    assert datetime.fromisoformat(data["observed_at"].replace("Z", "+00:00")) == OBSERVED
    assert data["city"] == "Minneapolis"
    assert data["state"] == "MN"
    assert data["country"] == "US"
    assert data["geocoder"] == "offline"
    assert re.fullmatch(r"554\d\d", data["zipcode"]), data["zipcode"]
    assert "street" in data


def assert_untranslated(event: BaseCloudEvent, event_id: str, contact: dict) -> None:
    assert event.get_specversion() == "1.0"
    assert event.get_type() == UNTRANSLATED
    assert event.get_source() == PRODUCER_SOURCE
    assert event.get_id() == event_id
    assert event.get_datacontenttype() == "application/json"
    low, high = sorted((contact["mmid1"], contact["mmid2"]))
    assert event.get_extension("partitionkey") == f"{low}-{high}"
    data = event.get_data()
    assert isinstance(data, dict), data
    assert {k: data[k] for k in ("mmid1", "mmid2", "lat", "lon")} == {
        k: contact[k] for k in ("mmid1", "mmid2", "lat", "lon")
    }
    observed = datetime.fromisoformat(data["observed_at"].replace("Z", "+00:00"))
    assert event.get_time() == observed
    if "observed_at" in contact:
        assert observed == datetime.fromisoformat(contact["observed_at"].replace("Z", "+00:00"))


def assert_problem(resp: Response, statuses: tuple[int, ...], field: str | None = None) -> dict:
    assert resp.status in statuses, (resp.status, resp.body[:500])
    assert resp.content_type.split(";")[0].strip() == PROBLEM_JSON, resp.headers
    problem = json.loads(resp.body)
    assert problem["status"] == resp.status
    assert problem["type"].startswith("/problems/")
    assert problem["detail"]
    if field is not None:
        assert problem.get("field") == field, problem
    assert "ce-specversion" not in resp.headers
    return problem


# ------------------------------------------------- pact-translation, reply


@mode_param
def test_translation_replies_with_an_event_the_sdk_parses(translation: Function, mode: str):
    resp = send(translation, sdk_event(f"sdk-{mode}-1"), mode)
    assert resp.status == 200, resp.body
    assert_translated(parse_reply(resp), f"sdk-{mode}-1")


@mode_param
def test_translation_carries_the_traceparent_extension(translation: Function, mode: str):
    event = sdk_event(f"sdk-trace-{mode}", traceparent=TRACEPARENT)
    resp = send(translation, event, mode)
    assert resp.status == 200, resp.body
    reply = parse_reply(resp)
    assert reply.get_extension("traceparent") == TRACEPARENT
    assert reply.get_id() == event_key(SDK_SOURCE, f"sdk-trace-{mode}")


def test_translation_takes_the_traceparent_http_header(translation: Function):
    message = to_binary(sdk_event("sdk-trace-header"), FORMAT)
    resp = translation.post("/", {**message.headers, "traceparent": TRACEPARENT}, message.body)
    assert resp.status == 200, resp.body
    assert parse_reply(resp).get_extension("traceparent") == TRACEPARENT


@mode_param
def test_translation_reads_an_sdk_event_without_datacontenttype(translation: Function, mode: str):
    # The SDK sends no Content-Type in binary mode when datacontenttype is unset.
    event = sdk_event(f"sdk-nodct-{mode}", datacontenttype=None)
    message = MODES[mode](event, FORMAT)
    if mode == "binary":
        assert "content-type" not in message.headers
    resp = translation.post("/", dict(message.headers), message.body)
    assert resp.status == 200, resp.body
    assert_translated(parse_reply(resp), f"sdk-nodct-{mode}")


@mode_param
def test_translation_reads_an_sdk_csv_event(translation: Function, mode: str):
    # bytes data: the raw body in binary mode, data_base64 in structured mode.
    event = sdk_event(
        f"sdk-csv-{mode}", b"2,1,44.9778,-93.2650,2026-11-24T10:00:00Z", datacontenttype="text/csv"
    )
    resp = send(translation, event, mode)
    assert resp.status == 200, resp.body
    assert_translated(parse_reply(resp), f"sdk-csv-{mode}")


@mode_param
def test_translation_accepts_a_specversion_0_3_event(translation: Function, mode: str):
    event = sdk_event(f"sdk-v03-{mode}", factory=CloudEventV03)
    assert event.get_specversion() == "0.3"
    resp = send(translation, event, mode)
    assert resp.status == 200, resp.body
    reply = parse_reply(resp)
    assert_translated(reply, f"sdk-v03-{mode}")  # answered as 1.0


def test_translation_falls_back_to_the_sdk_event_time(translation: Function):
    # Without observed_at, the input's `time` (with microseconds) is used.
    sent_time = datetime(2026, 11, 24, 9, 30, 15, 123456, tzinfo=timezone.utc)
    data = {k: v for k, v in CONTACT.items() if k != "observed_at"}
    event = sdk_event("sdk-time", data, time=sent_time)
    resp = send(translation, event, "binary")
    assert resp.status == 200, resp.body
    reply = parse_reply(resp)
    assert reply.get_time() == sent_time
    observed = reply.get_data()["observed_at"]
    assert datetime.fromisoformat(observed.replace("Z", "+00:00")) == sent_time


def test_translation_answers_a_structured_batch_with_a_batch(translation: Function):
    # The SDK has no batch helper; a batch is a JSON array of structured events.
    events = [sdk_event("sdk-batch-1"), sdk_event("sdk-batch-2", {**CONTACT, "mmid1": 3})]
    body = b"[" + b",".join(FORMAT.write(e) for e in events) + b"]"
    resp = translation.post("/", {"content-type": "application/cloudevents-batch+json"}, body)
    assert resp.status == 200, resp.body
    assert resp.content_type.startswith("application/cloudevents-batch+json")
    items = json.loads(resp.body)
    assert isinstance(items, list) and len(items) == 2
    parsed = [FORMAT.read(None, json.dumps(item)) for item in items]
    assert [e.get_id() for e in parsed] == [
        event_key(SDK_SOURCE, "sdk-batch-1"),
        event_key(SDK_SOURCE, "sdk-batch-2"),
    ]
    assert_translated(parsed[0], "sdk-batch-1")
    assert parsed[1].get_extension("partitionkey") == "1-3"
    assert parsed[1].get_data()["mmid1"] == 3


def test_translation_reply_parses_with_the_legacy_v1_api(translation: Function):
    # cloudevents 1.x's API, still shipped in 2.x as cloudevents.v1.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from cloudevents.v1.conversion import to_binary as v1_to_binary
        from cloudevents.v1.http import CloudEvent as V1CloudEvent
        from cloudevents.v1.http import from_http as v1_from_http

    event = V1CloudEvent(
        {"type": UNTRANSLATED, "source": "/sdk/legacy", "id": "sdk-legacy-1",
         "traceparent": TRACEPARENT},
        dict(CONTACT),
    )
    headers, body = v1_to_binary(event)
    resp = translation.post("/", dict(headers), body)
    assert resp.status == 200, resp.body
    reply = v1_from_http(resp.headers, resp.body)
    assert reply["type"] == TRANSLATED
    assert reply["source"] == TRANSLATION_SOURCE
    assert reply["id"] == event_key("/sdk/legacy", "sdk-legacy-1")
    assert reply["partitionkey"] == "1-2"
    assert reply["traceparent"] == TRACEPARENT
    assert datetime.fromisoformat(reply["time"].replace("Z", "+00:00")) == OBSERVED
    assert reply.data["city"] == "Minneapolis"
    assert reply.data["country"] == "US"


# -------------------------------------------------- pact-translation, sink


@mode_param
def test_translation_delivers_to_k_sink_in_binary_mode(start_function, sink: CaptureSink, mode: str):
    function = start_function("pact-translation", K_SINK=sink.url, PACT_EMIT_ATTEMPTS="1")
    event = sdk_event(f"sdk-sink-{mode}", traceparent=TRACEPARENT)
    resp = send(function, event, mode)
    assert resp.status == 202, resp.body
    assert resp.body == b""
    (captured,) = sink.wait_for(1)
    delivered = parse_captured(captured)
    assert_translated(delivered, f"sdk-sink-{mode}")
    assert delivered.get_extension("traceparent") == TRACEPARENT
    # W3C propagation: the delivery itself carries the trace context too.
    assert captured.headers.get("traceparent") == TRACEPARENT
    assert len(sink.requests) == 1


# ------------------------------------------------------------ pact-producer


@pytest.fixture
def producer_to_sink(start_function, sink: CaptureSink) -> Function:
    return start_function("pact-producer", K_SINK=sink.url, PACT_EMIT_ATTEMPTS="1")


def test_producer_message_reaches_the_sink_as_an_sdk_event(producer_to_sink: Function, sink: CaptureSink):
    resp = producer_to_sink.post("/pact/producer?message=2,1,44.98,-93.25")
    assert resp.status == 202, resp.body
    (captured,) = sink.wait_for(1)
    event = parse_captured(captured)
    assert_untranslated(event, event.get_id(), {"mmid1": 2, "mmid2": 1, "lat": 44.98, "lon": -93.25})
    assert event.get_id() in resp.body.decode(), resp.body
    assert abs((datetime.now(timezone.utc) - event.get_time()).total_seconds()) < 60


def test_producer_message_takes_the_idempotency_key(producer_to_sink: Function, sink: CaptureSink):
    resp = producer_to_sink.post(
        "/pact/producer?message=1,2,44.98,-93.25", {"Idempotency-Key": "phone-42-0001"}
    )
    assert resp.status == 202, resp.body
    (captured,) = sink.wait_for(1)
    contact = {"mmid1": 1, "mmid2": 2, "lat": 44.98, "lon": -93.25}
    assert_untranslated(parse_captured(captured), contact_id("phone-42-0001", contact), contact)


def test_producer_contacts_object_uses_the_idempotency_key(producer_to_sink: Function, sink: CaptureSink):
    resp = producer_to_sink.post(
        "/contacts",
        {"Content-Type": "application/json", "Idempotency-Key": "phone-7-0042"},
        json.dumps(CONTACT).encode(),
    )
    assert resp.status == 202, resp.body
    expected = contact_id("phone-7-0042", CONTACT)
    assert json.loads(resp.body) == {"accepted": [expected]}
    (captured,) = sink.wait_for(1)
    assert_untranslated(parse_captured(captured), expected, CONTACT)


def test_producer_contacts_array_emits_one_event_each(producer_to_sink: Function, sink: CaptureSink):
    contacts = [
        {**CONTACT, "id": "batch-a"},
        {"mmid1": 5, "mmid2": 9, "lat": 44.98, "lon": -93.27, "id": "batch-b"},
    ]
    resp = producer_to_sink.post(
        "/contacts", {"Content-Type": "application/json"}, json.dumps(contacts).encode()
    )
    assert resp.status == 202, resp.body
    a, b = contact_id("batch-a", CONTACT), contact_id("batch-b", contacts[1])
    assert json.loads(resp.body) == {"accepted": [a, b]}
    captured = sink.wait_for(2)
    events = {e.get_id(): e for e in map(parse_captured, captured)}
    assert set(events) == {a, b}
    assert_untranslated(events[a], a, CONTACT)
    assert_untranslated(events[b], b, contacts[1])
    assert events[b].get_extension("partitionkey") == "5-9"


@mode_param
def test_producer_forwards_an_sdk_event_under_its_derived_id(producer_to_sink: Function, sink: CaptureSink, mode: str):
    event = sdk_event(f"phone-event-{mode}", source="/phone/42", traceparent=TRACEPARENT)
    resp = send(producer_to_sink, event, mode)
    assert resp.status == 202, resp.body
    (captured,) = sink.wait_for(1)
    forwarded = parse_captured(captured)
    key = event_key("/phone/42", f"phone-event-{mode}")
    assert_untranslated(forwarded, contact_id(key, CONTACT), CONTACT)
    assert forwarded.get_time() == OBSERVED
    assert forwarded.get_extension("traceparent") == TRACEPARENT


def test_producer_output_feeds_translation(start_function, sink: CaptureSink):
    # The whole chain as the SDK sees it: producer (reply mode) -> translation.
    producer = start_function("pact-producer")
    translation = start_function("pact-translation", K_SINK=sink.url, PACT_EMIT_ATTEMPTS="1")
    resp = send(producer, sdk_event("chain-1"), "structured")
    assert resp.status == 200, resp.body
    untranslated = parse_reply(resp)
    assert_untranslated(untranslated, contact_id(event_key(SDK_SOURCE, "chain-1"), CONTACT), CONTACT)
    # Re-encode with the SDK, as a Python relay between the two would.
    resp = send(translation, untranslated, "structured")
    assert resp.status == 202, resp.body
    (captured,) = sink.wait_for(1)
    assert_translated(parse_captured(captured), untranslated.get_id(), source=PRODUCER_SOURCE)


# ------------------------------------------------------------ K_CE_OVERRIDES

OVERRIDES = json.dumps({"extensions": {"team": "pact", "tier": 2}})


def test_ce_overrides_appear_on_the_translation_reply(start_function):
    function = start_function("pact-translation", K_CE_OVERRIDES=OVERRIDES)
    resp = send(function, sdk_event("sdk-overrides"), "structured")
    assert resp.status == 200, resp.body
    reply = parse_reply(resp)
    assert reply.get_extension("team") == "pact"
    assert reply.get_extension("tier") == "2"
    assert reply.get_extension("partitionkey") == "1-2"


def test_ce_overrides_appear_on_producer_deliveries(start_function, sink: CaptureSink):
    function = start_function(
        "pact-producer", K_SINK=sink.url, K_CE_OVERRIDES=OVERRIDES, PACT_EMIT_ATTEMPTS="1"
    )
    resp = function.post("/pact/producer?message=1,2,44.98,-93.25")
    assert resp.status == 202, resp.body
    (captured,) = sink.wait_for(1)
    event = parse_captured(captured)
    assert event.get_extension("team") == "pact"
    assert event.get_extension("tier") == "2"
    assert event.get_type() == UNTRANSLATED


# ------------------------------------------------------------ bad SDK events

BAD_EVENTS = {
    # name: (data, type, expected statuses, field at fault)
    "foreign-type": (None, "com.example.other", (422,), "type"),
    "same-person": ({**CONTACT, "mmid2": CONTACT["mmid1"]}, UNTRANSLATED, (422,), "mmid2"),
    "latitude-out-of-range": ({**CONTACT, "lat": 91.5}, UNTRANSLATED, (422,), "lat"),
    "negative-id": ({**CONTACT, "mmid1": -4}, UNTRANSLATED, (422,), "mmid1"),
    "future-observed-at": ({**CONTACT, "observed_at": "2999-01-01T00:00:00Z"}, UNTRANSLATED, (422,), "observed_at"),
    "missing-lon": ({k: v for k, v in CONTACT.items() if k != "lon"}, UNTRANSLATED, (400,), None),
    "not-a-contact": ("hello", UNTRANSLATED, (400,), None),
}


@pytest.mark.parametrize("function_name", ["pact-translation", "pact-producer"])
@pytest.mark.parametrize("bad", list(BAD_EVENTS))
@mode_param
def test_a_bad_sdk_event_is_a_problem_and_reaches_no_sink(
    start_function, sink: CaptureSink, function_name: str, bad: str, mode: str
):
    data, event_type, statuses, field = BAD_EVENTS[bad]
    datacontenttype = "text/plain" if isinstance(data, str) else "application/json"
    function = start_function(function_name, K_SINK=sink.url, PACT_EMIT_ATTEMPTS="1")
    event = sdk_event(f"bad-{bad}", data, event_type=event_type, datacontenttype=datacontenttype)
    resp = send(function, event, mode)
    assert_problem(resp, statuses, field)
    # A good event afterwards goes through: the sink works, the bad one was dropped.
    good = send(function, sdk_event("good-after-bad"), mode)
    assert good.status == 202, good.body
    (captured,) = sink.wait_for(1)
    key = event_key(SDK_SOURCE, "good-after-bad")
    expected = key if function_name == "pact-translation" else contact_id(key, CONTACT)
    assert parse_captured(captured).get_id() == expected
    assert len(sink.requests) == 1


def test_a_batch_with_one_bad_sdk_event_sends_nothing(start_function, sink: CaptureSink):
    function = start_function("pact-translation", K_SINK=sink.url, PACT_EMIT_ATTEMPTS="1")
    events = [sdk_event("batch-ok"), sdk_event("batch-bad", {**CONTACT, "mmid2": 2})]
    body = b"[" + b",".join(FORMAT.write(e) for e in events) + b"]"
    resp = function.post("/", {"content-type": "application/cloudevents-batch+json"}, body)
    problem = assert_problem(resp, (422,))
    assert [e["index"] for e in problem["errors"]] == [1]
    assert problem["errors"][0]["field"] == "mmid2"
    assert sink.requests == []


# ---------------------------------------------------- header percent-encoding
#
# CloudEvents HTTP binding 1.0.2, section 3.1.3.2: in binary mode, ce- header
# values are percent-encoded (space, '"', '%' and anything outside printable
# ASCII) by the sender and decoded by the receiver. The Rust SDK does neither;
# pact-runtime does both (functions/runtime/src/binary.rs), so a value means
# the same in binary and structured mode and to every spec-following SDK.


@mode_param
def test_an_id_with_a_percent_sign_means_the_same_in_both_modes(translation: Function, mode: str):
    # The SDK sends id "order%201" as ce-id: order%25201 in binary mode; the
    # function decodes it, so both modes derive the output id from "order%201".
    resp = send(translation, sdk_event("order%201"), mode)
    assert resp.status == 200, resp.body
    assert parse_reply(resp).get_id() == event_key(SDK_SOURCE, "order%201")


def test_idempotency_key_with_a_percent_sign_survives(producer_to_sink: Function, sink: CaptureSink):
    resp = producer_to_sink.post(
        "/contacts",
        {"Content-Type": "application/json", "Idempotency-Key": "order%201"},
        json.dumps(CONTACT).encode(),
    )
    assert resp.status == 202, resp.body
    expected = contact_id("order%201", CONTACT)
    assert json.loads(resp.body) == {"accepted": [expected]}
    (captured,) = sink.wait_for(1)
    assert parse_captured(captured).get_id() == expected


def test_binary_and_structured_ids_are_validated_alike(translation: Function):
    # 119 characters, 59 of them spaces: within the 128-character limit, but
    # 237 characters once the SDK percent-encodes it for a ce-id header.
    event_id = " ".join(["ab"] * 40)[:119]
    assert len(event_id) <= 128
    structured = send(translation, sdk_event(event_id), "structured")
    binary = send(translation, sdk_event(event_id), "binary")
    assert structured.status == 200, structured.body
    assert binary.status == structured.status, binary.body
    assert parse_reply(binary).get_id() == parse_reply(structured).get_id() == event_key(SDK_SOURCE, event_id)


def test_non_ascii_override_value_reaches_the_sdk_intact(start_function):
    # K_CE_OVERRIDES accepts "Zürich" (HeaderValue allows obs-text) and sends the
    # raw UTF-8 bytes in ce-team; HTTP clients read header bytes as Latin-1.
    function = start_function(
        "pact-translation", K_CE_OVERRIDES=json.dumps({"extensions": {"team": "Zürich"}})
    )
    resp = send(function, sdk_event("sdk-utf8"), "binary")
    assert resp.status == 200, resp.body
    assert parse_reply(resp).get_extension("team") == "Zürich"


# ------------------------------------------------- cases and notifications

REPORTED = "dev.pact.case.reported"
WITHDRAWN = "dev.pact.case.withdrawn"
NOTIFIED = "dev.pact.exposure.notified"
EXPOSURE_WITHDRAWN = "dev.pact.exposure.withdrawn"
TOKEN = "interop-token-0123456789abcdef"


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def test_a_case_reported_on_pact_query_parses_with_the_sdk(start_function, sink: CaptureSink, tmp_path):
    query = start_function(
        "pact-query",
        DATABASE_URL=f"sqlite://{tmp_path}/pact.db",
        PACT_QUERY_TOKENS=TOKEN,
        K_SINK=sink.url,
        PACT_EMIT_ATTEMPTS="1",
    )
    body = json.dumps({"mmid": 1477, "onset": today(), "reference": "lab-114"}).encode()
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    resp = query.post("/cases", headers, body)
    assert resp.status == 202, resp.body
    expected = case_id(1477, today())
    assert json.loads(resp.body) == {"case_id": expected, "status": "reported"}
    (captured,) = sink.wait_for(1)
    event = parse_captured(captured)
    assert event.get_type() == REPORTED
    assert event.get_source() == "/pact/query"
    assert event.get_id() == expected
    assert event.get_extension("partitionkey") == expected
    assert event.get_data() == {"case_id": expected, "mmid": 1477, "onset": today(), "reference": "lab-114"}


def seed_contact(database: Path, a: int, b: int) -> None:
    """A stored contact between `a` and `b` at noon today, in the schema's
    SQLite form (times as fixed-width UTC text)."""
    observed = f"{today()}T12:00:00.000000Z"
    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO contactlist (mmid1, mmid2, city, state, zipcode, country, observed_at, "
            "event_source, event_id) VALUES (?, ?, 'Minneapolis', 'MN', '55415', 'US', ?, '/interop', ?)",
            (a, b, observed, f"seed-{a}-{b}"),
        )


@mode_param
def test_pact_notify_reads_sdk_cases_and_its_notifications_parse(
    start_function, sink: CaptureSink, tmp_path, mode: str
):
    database = tmp_path / "pact.db"
    notify = start_function("pact-notify", DATABASE_URL=f"sqlite://{database}", K_SINK=sink.url)
    deadline = time.monotonic() + 15
    while notify.get("/readyz").status != 200:
        assert time.monotonic() < deadline, notify.log()
        time.sleep(0.05)
    seed_contact(database, 1477, 2)
    case = {"case_id": case_id(1477, today()), "mmid": 1477, "onset": today()}
    event = sdk_event(case["case_id"], case, event_type=REPORTED, source="/pact/query", traceparent=TRACEPARENT)
    resp = send(notify, event, mode)
    assert resp.status == 200, resp.body
    assert json.loads(resp.body) == {"notified": 1, "withdrawn": 0}
    (captured,) = sink.wait_for(1)
    notification = parse_captured(captured)
    assert notification.get_type() == NOTIFIED
    assert notification.get_source() == "/pact/notify"
    assert notification.get_extension("partitionkey") == "2"
    # Nothing that ties it to the case: not its trace either.
    assert notification.get_extension("traceparent") is None
    assert "traceparent" not in captured.headers
    assert notification.get_data() == {
        "mmid": 2,
        "hops": 1,
        "exposures": [{"day": today(), "city": "Minneapolis", "state": "MN", "zipcode": "55415", "country": "US"}],
    }
    assert case["case_id"] not in captured.body.decode() + json.dumps(dict(captured.headers))
    withdrawal = sdk_event(f"w-{mode}", {"case_id": case["case_id"]}, event_type=WITHDRAWN, source="/pact/query")
    resp = send(notify, withdrawal, mode)
    assert resp.status == 200, resp.body
    _, captured = sink.wait_for(2)
    withdrawn = parse_captured(captured)
    assert withdrawn.get_type() == EXPOSURE_WITHDRAWN
    assert withdrawn.get_data() == {"mmid": 2, "notification": notification.get_id()}
