"""PACT's images (issue 7, DESIGN.md section 7 `Dockerfile`), built and run here.

Run:  python3 -m pytest tests/images -rs     (needs buildah, podman, runc, and
      PostgreSQL at 127.0.0.1:5432; .ci/setup installs the packages)

1. the Dockerfile lints clean (hadolint) and its FUNCTION values are the
   workspace's binaries; the images the kind overlay deploys are the ones built;
2. each image is built by buildah from a static binary (`prebuilt` target) and
   is what the cluster expects: non-root numeric USER, entrypoint, port, OCI
   labels, no shell, a size within budget;
3. producer -> translation -> a capture sink, as containers under the
   restricted profile: CloudEvents in, the translated event out, ids and
   address intact; contactlog and query containers store and read it back
   from PostgreSQL, and a case reported to the query container reaches the
   notify container, which notifies the person met;
4. SIGTERM: exit 0 well within the grace period;
5. the full multi-stage build, where a registry is reachable (not on this
   project's CI machine: the test says so and is skipped).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cloudevents.core.bindings.http import HTTPMessage, from_http, to_binary, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from conftest import GRACE_S, IMAGES, PODMAN_ENV, REPO, image_ref, podman
from pact_ids import contact_id, event_key

FORMAT = JSONFormat()
CONTACT = {"mmid1": 2, "mmid2": 1, "lat": 44.9778, "lon": -93.265, "observed_at": "2026-11-24T10:00:00Z"}
# Budget per function image (issue 7); `pact` (the CLI with simulator and demo)
# is not a function and has none.
MAX_FUNCTION_IMAGE_BYTES = 15_000_000
FUNCTIONS = [n for n in IMAGES if n != "pact"]
DOCKERFILE = REPO / "Dockerfile"


def untranslated(event_id: str) -> CloudEvent:
    return CloudEvent(
        {"type": "dev.pact.contact.untranslated", "source": "/tests/images", "id": event_id,
         "datacontenttype": "application/json"},
        dict(CONTACT),
    )


def parse(headers: dict[str, str], body: bytes):
    return from_http(HTTPMessage(headers=dict(headers), body=body), FORMAT)


def assert_minneapolis(data: dict) -> None:
    assert (data["mmid1"], data["mmid2"]) == (2, 1), data
    assert (data["city"], data["state"], data["country"], data["geocoder"]) == (
        "Minneapolis", "MN", "US", "offline"), data


# ------------------------------------------------------------ the Dockerfile


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint") or str(REPO / ".venv/bin/hadolint")
    out = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerfile_functions_are_the_workspace_binaries():
    text = DOCKERFILE.read_text()
    case = re.search(r"^\s*([a-z|]+)\) package=\"pact-\$\{FUNCTION\}\"", text, re.M)
    assert case, "the FUNCTION case of the build stage is not where this test looks"
    named = set(case.group(1).split("|"))
    crates = {p.parent.parent.name for p in (REPO / "functions").glob("*/src/main.rs")}
    assert named == crates, f"Dockerfile builds {sorted(named)}, functions/ has binaries {sorted(crates)}"
    assert named | {"cli"} == set(IMAGES.values())
    stages = re.findall(r"^FROM \S+ AS (\S+)$", text, re.M)
    assert stages[-1] == "image", "the multi-stage image must be the default (last) target"
    assert "prebuilt" in stages


def test_the_kind_overlay_deploys_the_images_built_here():
    rendered = subprocess.run(["kubectl", "kustomize", str(REPO / "knative/overlays/demo")],
                              capture_output=True, text=True, check=True).stdout
    used = {c["image"] for doc in yaml.safe_load_all(rendered)
            for c in (((doc.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers", [])}
    assert {image_ref(n) for n in IMAGES} <= used, sorted(used)


# ------------------------------------------------------------ what was built


@pytest.mark.parametrize("name", list(IMAGES))
def test_image_is_what_the_cluster_expects(images, name):
    config = images[name]["Config"]
    assert config["User"] == "65532:65532", config.get("User")
    assert config["Entrypoint"] == ["/function"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert "PACT_LOG_FORMAT=json" in config["Env"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.title"] == f"pact-{IMAGES[name]}"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", labels["org.opencontainers.image.version"])


@pytest.mark.parametrize("name", ["pact-translation", "pact"])
def test_image_has_no_shell(images, name):
    out = podman("run", "--rm", "--read-only", "--entrypoint", "/bin/sh", image_ref(name), "-c", "true",
                 check=False)
    assert out.returncode != 0, "the image has a shell"
    assert "no such file" in out.stderr.lower() or "not found" in out.stderr.lower(), out.stderr


def test_image_sizes(images, capsys):
    sizes = {name: images[name]["Size"] for name in IMAGES}
    with capsys.disabled():
        print("\nimage sizes: " + ", ".join(f"{n} {s / 1e6:.1f} MB" for n, s in sizes.items()))
    for name in FUNCTIONS:
        assert sizes[name] <= MAX_FUNCTION_IMAGE_BYTES, f"{name} is {sizes[name]} bytes"
    for name, function in IMAGES.items():
        # the binary and nothing else: no base layers, no package manager
        binary = (REPO / "dist" / function).stat().st_size
        assert sizes[name] - binary < 64_000, (name, sizes[name], binary)


def test_cli_image_runs(images):
    out = podman("run", "--rm", "--read-only", "--cap-drop", "ALL", image_ref("pact"), "--version")
    assert out.stdout.startswith("pact "), out.stdout


# ------------------------------------------------------------ running


def test_translation_replies_with_the_translated_event(run):
    translation = run("pact-translation")
    for mode, encode in (("binary", to_binary), ("structured", to_structured)):
        message = encode(untranslated(f"image-{mode}"), FORMAT)
        resp = translation.post("/", dict(message.headers), message.body)
        assert resp.status == 200, (resp.status, resp.body, translation.logs())
        event = parse(resp.headers, resp.body)
        assert event.get_type() == "dev.pact.contact.translated"
        assert event.get_id() == event_key("/tests/images", f"image-{mode}")
        assert_minneapolis(event.get_data())


def test_producer_to_translation_to_sink(run, sink):
    translation = run("pact-translation", K_SINK=sink.url)
    producer = run("pact-producer", K_SINK=translation.url)
    message = to_binary(untranslated("image-chain"), FORMAT)
    resp = producer.post("/", dict(message.headers), message.body)
    assert resp.status == 202, (resp.status, resp.body, producer.logs())
    resp = producer.post("/pact/producer?message=7,8,44.9778,-93.2650")  # the original endpoint
    assert resp.status == 202, (resp.status, resp.body, producer.logs())
    got = {}
    for captured in sink.wait_for(2, timeout=10):
        event = parse(captured.headers, captured.body)
        assert event.get_type() == "dev.pact.contact.translated"
        got[(event.get_data()["mmid1"], event.get_data()["mmid2"])] = event
    assert set(got) == {(2, 1), (7, 8)}, got
    # Derived ids (DESIGN.md section 3): the producer's from the phone's event
    # and the contact, the translation's from the producer's.
    producer_id = contact_id(event_key("/tests/images", "image-chain"), CONTACT)
    assert got[(2, 1)].get_id() == event_key("/pact/producer", producer_id)
    for event in got.values():
        assert event.get_data()["city"] == "Minneapolis"


def test_contactlog_query_and_notify_containers_store_read_and_notify(run, database, sink):
    contactlog = run("pact-contactlog", ready_path="/readyz", DATABASE_URL=database)
    translated = CloudEvent(
        {"type": "dev.pact.contact.translated", "source": "/pact/translation", "id": "image-stored",
         "datacontenttype": "application/json"},
        {**CONTACT, "street": "", "city": "Minneapolis", "state": "MN", "zipcode": "55415",
         "country": "US", "geocoder": "offline"},
    )
    message = to_binary(translated, FORMAT)
    for _ in range(2):  # a redelivery is a duplicate, stored once
        resp = contactlog.post("/", dict(message.headers), message.body)
        assert resp.status in (200, 202, 204), (resp.status, resp.body, contactlog.logs())
    notify = run("pact-notify", ready_path="/readyz", DATABASE_URL=database, K_SINK=sink.url)
    query = run("pact-query", ready_path="/readyz", DATABASE_URL=database, PACT_QUERY_TOKENS="image-test-token",
                K_SINK=notify.url)
    assert query.get("/contacts/1").status == 401
    resp = query.get("/contacts/1", {"Authorization": "Bearer image-test-token"})
    assert resp.status == 200, (resp.status, resp.body, query.logs())
    assert b"Minneapolis" in resp.body
    # The page for health staff is in the image (compiled in), with its policy.
    resp = query.get("/ui/")
    assert resp.status == 200 and b'src="app.js"' in resp.body, (resp.status, resp.body[:200])
    assert "default-src 'none'" in resp.headers["content-security-policy"]
    resp = query.get("/findcontactbystate?state=MN", {"Authorization": "Bearer image-test-token"})
    rows = json.loads(resp.body)
    assert len(rows) == 1, rows
    # Person 1 reported as a case on the day of that contact: pact-query's
    # container emits it to pact-notify's, which notifies person 2.
    onset = CONTACT["observed_at"][:10]
    resp = query.post("/cases", {"Authorization": "Bearer image-test-token", "content-type": "application/json"},
                      json.dumps({"mmid": 1, "onset": onset}).encode())
    assert resp.status == 202, (resp.status, resp.body, query.logs(), notify.logs())
    (captured,) = sink.wait_for(1, timeout=10)
    event = parse(captured.headers, captured.body)
    assert event.get_type() == "dev.pact.exposure.notified", notify.logs()
    assert event.get_data()["mmid"] == 2
    case = json.loads(resp.body)["case_id"]
    resp = query.get(f"/cases/{case}", {"Authorization": "Bearer image-test-token"})
    assert json.loads(resp.body)["notified"] == 1, resp.body


@pytest.mark.parametrize("name", ["pact-producer", "pact-translation"])
def test_sigterm_exits_zero_within_the_grace_period(run, name):
    container = run(name)
    resp = container.post("/", {"content-type": "application/json"}, b"{}")
    assert resp.status in (400, 415, 422), resp.status  # not a CloudEvent: a permanent error, not a 5xx
    code, seconds = container.terminate()
    assert code == 0, f"{name} exited {code} on SIGTERM:\n{container.logs()}"
    assert seconds < GRACE_S, seconds


def test_runs_as_non_root_without_capabilities(run):
    container = run("pact-translation")
    status = Path(f"/proc/{container.host_pid()}/status").read_text()
    uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
    assert set(uids) == {"65532"}, uids
    caps = {k: int(v, 16) for k, v in re.findall(r"^(Cap\w+):\s+([0-9a-f]+)$", status, re.M)}
    assert caps["CapEff"] == 0 and caps["CapPrm"] == 0, caps
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), "no_new_privs is not set"
    # the root filesystem is read-only
    inspect = json.loads(podman("inspect", container.name).stdout)[0]
    assert inspect["HostConfig"]["ReadonlyRootfs"] is True


# ------------------------------------------------------------ multi-stage


def test_multistage_build_where_a_registry_is_reachable():
    base = re.search(r"^FROM (\S+rust:)\$\{RUST_VERSION\}(\S*) AS chef", DOCKERFILE.read_text(), re.M)
    version = re.search(r"^ARG RUST_VERSION=(\S+)", DOCKERFILE.read_text(), re.M).group(1)
    image = f"{base.group(1)}{version}{base.group(2)}"
    pull = subprocess.run(["buildah", "pull", "--quiet", image], env=PODMAN_ENV, capture_output=True,
                          text=True, timeout=120)
    if pull.returncode != 0:
        pytest.skip(f"multi-stage build not run: {image} cannot be pulled here (no registry); "
                    "the prebuilt target is what these tests build, and hadolint checks the Dockerfile")
    build = subprocess.run(["buildah", "bud", "--build-arg", "FUNCTION=translation", "-t",
                            "localhost/pact-translation:multistage", "-f", str(DOCKERFILE), str(REPO)],
                           env=PODMAN_ENV, capture_output=True, text=True, timeout=3600)
    assert build.returncode == 0, build.stderr[-4000:]
