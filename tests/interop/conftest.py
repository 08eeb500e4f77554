"""Fixtures for the interoperability tests: the real function binaries, each
on a free port with its own environment (tests/support/pact_functions.py),
and a capture sink for K_SINK."""

from __future__ import annotations

import pact_functions
import pytest
from pact_functions import Function
from pact_http import Captured, CaptureSink, Response, free_port, request  # noqa: F401 - re-exported


@pytest.fixture
def start_function(tmp_path_factory):
    """Starts a function binary: `start_function("pact-translation", K_SINK=url)`.
    Each function gets a free port; all are stopped with SIGTERM at teardown,
    which checks that each exits 0 within 10 s."""
    started: list[Function] = []
    log_dir = tmp_path_factory.mktemp("logs")

    def start(name: str, **env: str) -> Function:
        function = pact_functions.start(name, env, log_dir)
        started.append(function)
        return function

    yield start

    errors = []
    for function in reversed(started):
        try:
            pact_functions.stop(function)
        except BaseException as e:  # noqa: BLE001 - stop the others first
            errors.append(e)
    if errors:
        raise errors[0]


@pytest.fixture
def translation(start_function) -> Function:
    """pact-translation in reply mode."""
    return start_function("pact-translation")


@pytest.fixture
def sink():
    capture = CaptureSink()
    yield capture
    capture.close()
