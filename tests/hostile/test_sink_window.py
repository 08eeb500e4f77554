"""The window before a SinkBinding has injected K_SINK (docs/functions.md,
PACT_REQUIRE_SINK). In the cluster a KafkaSource discards replies, so a
pact-producer or pact-translation revision without K_SINK would answer 200
in reply mode and lose what it was sent. With PACT_REQUIRE_SINK=true (the
manifests set it) such a revision is never ready and answers 503 with
Retry-After, which every event source retries; the same binary without the
setting still replies, so the setting is what makes the difference."""

from __future__ import annotations

import json

import pact_functions
import pytest
from pact_http import CaptureSink, request

CONTACT = json.dumps([{"id": "w-1", "mmid1": 1, "mmid2": 2, "lat": 44.9778, "lon": -93.265,
                       "observed_at": "2026-11-26T12:00:00Z"}]).encode()
UNTRANSLATED = {
    "ce-specversion": "1.0", "ce-id": "w-1", "ce-source": "/tests/sink-window",
    "ce-type": "dev.pact.contact.untranslated", "content-type": "application/json",
}
UNTRANSLATED_DATA = json.dumps({"mmid1": 1, "mmid2": 2, "lat": 44.9778, "lon": -93.265,
                                "observed_at": "2026-11-26T12:00:00Z"}).encode()

# (binary, path, headers, body) of one valid request each function emits for.
EMITTING = {
    "pact-producer": ("/contacts", {"content-type": "application/json"}, CONTACT),
    "pact-translation": ("/", UNTRANSLATED, UNTRANSLATED_DATA),
}


@pytest.fixture
def log_dir(tmp_path):
    return tmp_path


@pytest.mark.parametrize("binary", sorted(EMITTING))
def test_without_k_sink_a_function_that_requires_it_is_not_ready_and_answers_503(binary, log_dir):
    function = pact_functions.start(binary, {"PACT_REQUIRE_SINK": "true"}, log_dir)
    try:
        assert request("GET", function.url + "/healthz").status == 200, "alive all along"
        ready = request("GET", function.url + "/readyz")
        assert ready.status == 503, ready
        assert b"K_SINK" in ready.body and b"PACT_REQUIRE_SINK" in ready.body, ready.body
        path, headers, body = EMITTING[binary]
        for _ in range(3):  # every attempt, not only the first
            answer = function.post(path, headers, body)
            assert answer.status == 503, (answer.status, answer.body)
            assert answer.headers.get("retry-after", "").isdigit(), answer.headers
            assert answer.content_type == "application/problem+json", answer.headers
    finally:
        pact_functions.stop(function)


@pytest.mark.parametrize("binary", sorted(EMITTING))
def test_without_the_setting_the_same_request_is_answered_in_reply_mode(binary, log_dir):
    function = pact_functions.start(binary, {}, log_dir)
    try:
        assert request("GET", function.url + "/readyz").status == 200
        path, headers, body = EMITTING[binary]
        answer = function.post(path, headers, body)
        assert answer.status in (200, 202), (answer.status, answer.body)
    finally:
        pact_functions.stop(function)


@pytest.mark.parametrize("binary", sorted(EMITTING))
def test_once_k_sink_is_set_the_required_sink_gets_the_event(binary, log_dir):
    sink = CaptureSink()
    function = pact_functions.start(binary, {"PACT_REQUIRE_SINK": "true", "K_SINK": sink.url}, log_dir)
    try:
        assert request("GET", function.url + "/readyz").status == 200
        path, headers, body = EMITTING[binary]
        answer = function.post(path, headers, body)
        assert answer.status in (200, 202), (answer.status, answer.body)
        assert len(sink.requests) == 1, sink.requests
    finally:
        pact_functions.stop(function)
        sink.close()


@pytest.mark.parametrize("value", ["yes", "1", "TRUE!", "on"])
def test_a_bad_value_is_refused_at_start(value, log_dir):
    """Only true or false: a typo must not silently mean reply mode."""
    with pytest.raises(pytest.fail.Exception) as failed:
        pact_functions.start("pact-producer", {"PACT_REQUIRE_SINK": value}, log_dir)
    # The function's own report, by name and with what it accepts.
    assert f'PACT_REQUIRE_SINK="{value}": true or false' in str(failed.value), failed.value
