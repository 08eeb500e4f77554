"""The five functions as real processes for the hostile-input suite, started
once per module: pact-producer, pact-translation, pact-query (cases) and
pact-notify delivering to a capture sink, pact-contactlog, pact-query and
pact-notify on one SQLite file, every server with short header-read and idle
timeouts so slow clients are cut off quickly."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pact_functions
import pytest
from pact_functions import Function, wait_ready
from pact_http import CaptureSink

TOKEN = "hostile-suite-token-0123456789"
SLOW_CLIENTS = {"PACT_HEADER_READ_TIMEOUT_MS": "500", "PACT_IDLE_TIMEOUT_S": "1"}


@dataclass
class Pipeline:
    sink: CaptureSink
    functions: dict[str, Function]
    database: Path

    def rows(self, table: str = "contactlist") -> int:
        with sqlite3.connect(self.database) as db:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("logs")
    database = tmp_path_factory.mktemp("db") / "pact.db"
    url = f"sqlite://{database}"
    sink = CaptureSink()
    common = {**SLOW_CLIENTS, "PACT_EMIT_ATTEMPTS": "1"}
    specs = {
        "producer": ("pact-producer", {"K_SINK": sink.url}),
        "translation": ("pact-translation", {"K_SINK": sink.url}),
        "contactlog": ("pact-contactlog", {"DATABASE_URL": url}),
        "query": ("pact-query", {"DATABASE_URL": url, "PACT_QUERY_TOKENS": TOKEN, "K_SINK": sink.url}),
        "notify": ("pact-notify", {"DATABASE_URL": url, "K_SINK": sink.url}),
    }
    started: dict[str, Function] = {}
    try:
        for key, (binary, env) in specs.items():
            started[key] = pact_functions.start(binary, {**common, **env}, log_dir)
            if key == "contactlog":
                # pact-query reads the schema pact-contactlog migrates.
                wait_ready(started[key])
        wait_ready(started["query"])
        wait_ready(started["notify"])
        yield Pipeline(sink=sink, functions=started, database=database)
    finally:
        for function in reversed(list(started.values())):
            pact_functions.stop(function)
        sink.close()


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """`pact dev --port 0 --json`: the whole pipeline with the eventing
    stand-in, whose KafkaSink endpoint (`POST /topics/{topic}`) takes hostile
    input here."""
    with pact_functions.dev(tmp_path_factory.mktemp("dev")) as running:
        yield running
