"""pact-query's page in headless Chromium, over a seeded contact log.

Real processes on 127.0.0.1: pact-contactlog, pact-query (bearer token) and
pact-notify on one SQLite file, pact-query's case events going to
pact-notify and pact-notify's notifications to a capture sink. The contact
log is seeded through pact-contactlog (batched CloudEvents), as the pipeline
writes it. The browser is Debian's Chromium, driven by Playwright; every
request it makes is recorded, and any to a host other than 127.0.0.1 is
refused and reported.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pact_functions
import pytest
from pact_functions import Function, wait_ready
from pact_http import CaptureSink, request
from playwright.sync_api import Browser, Page, sync_playwright

TOKEN = "ui-suite-token-0123456789abcdef"
HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
# Screenshots land here (docs/ui.md shows the ones of a run copied to
# docs/images with PACT_UI_SCREENSHOTS=docs/images).
SHOTS = Path(os.environ.get("PACT_UI_SCREENSHOTS") or pact_functions.REPO / "target" / "ui-screenshots").resolve()

# The seeded contact log, relative to the time of the run (exposures count
# the last days only).
INDEX = 1001  # met 40 people; 10 of them met 3 more each; one of those met one more
DIRECT = list(range(2001, 2041))
SECOND = list(range(3001, 3031))
THIRD = [4001]
BUSY = 5000  # met 1,000 people
BUSY_MET = list(range(5001, 6001))
# A contact whose place names are markup: the page must show them as text.
HOSTILE = (7001, 7002)
HOSTILE_CITY = ("<img src=/x onerror=alert(1)>", "<b>MN</b>", "55401", 44.9778, -93.2650)
# (city, state, zipcode, lat, lon)
CITIES = [
    ("Minneapolis", "MN", "55401", 44.9778, -93.2650),
    ("Saint Paul", "MN", "55102", 44.9537, -93.0900),
    ("Duluth", "MN", "55802", 46.7867, -92.1005),
    ("Rochester", "MN", "55902", 44.0121, -92.4802),
    ("Bloomington", "MN", "55420", 44.8408, -93.2983),
]
FAR = [
    ("Chicago", "IL", "60601", 41.8781, -87.6298),
    ("Madison", "WI", "53703", 43.0731, -89.4012),
    ("Des Moines", "IA", "50309", 41.5868, -93.6250),
    ("Fargo", "ND", "58102", 46.8772, -96.7898),
    ("Sioux Falls", "SD", "57104", 43.5446, -96.7311),
]


@dataclass
class Contact:
    mmid1: int
    mmid2: int
    city: tuple[str, str, str, float, float]
    jitter: int
    hours_ago: float

    @property
    def point(self) -> tuple[float, float]:
        """Where it happened: distinct points around each city (about 100 m
        apart)."""
        lat, lon = self.city[3:]
        return round(lat + 0.001 * (self.jitter % 7), 6), round(lon + 0.001 * (self.jitter // 7 % 7), 6)

    def data(self, now: datetime) -> dict:
        name, state, zipcode = self.city[:3]
        lat, lon = self.point
        return {
            "mmid1": self.mmid1, "mmid2": self.mmid2, "lat": lat, "lon": lon,
            "observed_at": (now - timedelta(hours=self.hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "street": "", "city": name, "state": state, "zipcode": zipcode, "country": "US",
            "geocoder": "offline",
        }


def seed_contacts() -> list[Contact]:
    contacts = [Contact(INDEX, m, CITIES[i % 5], i, 2 + 4 * i) for i, m in enumerate(DIRECT)]
    for i, m in enumerate(SECOND):
        # Reported the other way round, as the other person's phone would.
        contacts.append(Contact(m, DIRECT[i // 3], CITIES[i % 5], 100 + i, 30 + i))
    contacts.append(Contact(SECOND[0], THIRD[0], CITIES[0], 200, 20))
    for i, m in enumerate(BUSY_MET):
        contacts.append(Contact(BUSY, m, FAR[i % 5], i, 1 + (i % 300)))
    contacts.append(Contact(*HOSTILE, HOSTILE_CITY, 0, 5))
    return contacts


@dataclass
class Stack:
    query: Function
    notify: Function
    contactlog: Function
    sink: CaptureSink
    contacts: list[Contact]
    open_query: Function

    @property
    def url(self) -> str:
        return self.query.url

    def api(self, path: str) -> dict:
        resp = request("GET", self.url + path, {"authorization": f"Bearer {TOKEN}"})
        assert resp.status == 200, (path, resp.status, resp.body[:300])
        return json.loads(resp.body)


def seed(contactlog: Function, contacts: list[Contact]) -> None:
    now = datetime.now(UTC)
    for start in range(0, len(contacts), 500):
        batch = [
            {"specversion": "1.0", "id": f"ui-seed-{start + i}", "source": "/tests/ui",
             "type": "dev.pact.contact.translated", "datacontenttype": "application/json",
             "data": contact.data(now)}
            for i, contact in enumerate(contacts[start:start + 500])
        ]
        resp = contactlog.post("/", {"content-type": "application/cloudevents-batch+json"},
                               json.dumps(batch).encode())
        assert resp.status in (200, 202, 204), (resp.status, resp.body[:300])


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("logs")
    url = f"sqlite://{tmp_path_factory.mktemp('db') / 'pact.db'}"
    sink = CaptureSink()
    started: list[Function] = []
    try:
        contactlog = pact_functions.start("pact-contactlog", {"DATABASE_URL": url}, log_dir)
        started.append(contactlog)
        wait_ready(contactlog)
        notify = pact_functions.start("pact-notify", {"DATABASE_URL": url, "K_SINK": sink.url}, log_dir)
        started.append(notify)
        query = pact_functions.start(
            "pact-query",
            {"DATABASE_URL": url, "PACT_QUERY_TOKENS": TOKEN, "K_SINK": notify.url + "/"},
            log_dir,
        )
        started.append(query)
        open_query = pact_functions.start("pact-query", {"DATABASE_URL": url, "PACT_QUERY_AUTH": "none"}, log_dir)
        started.append(open_query)
        for function in (notify, query, open_query):
            wait_ready(function)
        contacts = seed_contacts()
        seed(contactlog, contacts)
        stack = Stack(query=query, notify=notify, contactlog=contactlog, sink=sink,
                      contacts=contacts, open_query=open_query)
        assert stack.api("/stats")["total"] == len(contacts)
        yield stack
    finally:
        for function in reversed(started):
            pact_functions.stop(function)
        sink.close()


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is missing: run .ci/setup", pytrace=False)
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run `npm ci --prefix tests/ui` (.ci/setup)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        yield browser
        browser.close()


@dataclass
class Watched:
    """A page with everything it did recorded."""

    page: Page
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.foreign == [], f"requests leaving 127.0.0.1: {self.foreign}"
        assert self.console_errors == [], f"console errors: {self.console_errors}"

    def shot(self, name: str, selector: str | None = None, full_page: bool = False) -> Path:
        """A PNG of the element `selector`, else of the page (the viewport,
        or all of it)."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        if selector:
            self.page.locator(selector).screenshot(path=str(path))
        else:
            self.page.screenshot(path=str(path), full_page=full_page)
        return path


def watch(browser: Browser, viewport=(1280, 900), expected_errors: tuple[str, ...] = ()) -> Watched:
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                  locale="en-US", timezone_id="UTC")
    page = context.new_page()
    watched = Watched(page=page)

    def route(r):
        url = r.request.url
        watched.requests.append(url)
        if urlsplit(url).hostname != "127.0.0.1":
            watched.foreign.append(url)
            r.abort()
        else:
            r.continue_()

    context.route("**/*", route)

    def on_console(message):
        if message.type == "error" and not any(e in message.text for e in expected_errors):
            watched.console_errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.console_errors.append(f"uncaught: {error}"))
    return watched


@pytest.fixture
def watched(browser):
    w = watch(browser)
    yield w
    w.page.context.close()
