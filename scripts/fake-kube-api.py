#!/usr/bin/env python3
"""A stand-in for the Kubernetes API that plays a scripted Knative scale-out,
for trying `pact burst --watch` and `pact check-cluster` with no cluster
(docs/burst.md, docs/check-cluster.md).

    scripts/fake-kube-api.py [--port 8001] [--kubeconfig FILE] [--speed 1]
        [--producer-url URL] [--query-url URL]
        [--not-ready PLURAL/NAME=REASON:MESSAGE]... [--missing PLURAL/NAME]...
        [--forbid PLURAL]...

It serves list and watch (chunked, newline-delimited watch events, resource
versions, bookmarks) of Pods and Knative Revisions in namespace `pact`, and
writes a kubeconfig pointing at itself. The clock starts at the first request
for pods or revisions: pact-producer, pact-translation and pact-contactlog
scale from zero to a few pods within seconds, then back to zero after a
compressed stable window (about 50 s in all, divided by --speed). The pods are
scripted; nothing runs. Stops by itself after --lifetime seconds (default 300).

It also lists the objects of the overlays of --topology (explicit: knative/base;
broker: knative/overlays/broker/<platform>) that `pact check-cluster` reads
(Knative Services, KafkaSources, KafkaSinks, SinkBindings, PingSource, Broker,
Triggers; no ContainerSource), all Ready unless --not-ready or --missing say otherwise; the
Services' status.url of pact-producer and pact-query are --producer-url and
--query-url (point them at `pact dev` to see contacts flow). --forbid answers
403 to every request for that resource (e.g. kafkasinks, pods).
"""
import argparse
import json
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

NAMESPACE = "pact"

# (seconds, service, pod, what): what is "pending", "ready", "terminating",
# "deleted", or ("desired", n) for the service's revision.
SCRIPT = [
    (0.8, "pact-producer", None, ("desired", 1)),
    (0.8, "pact-producer", "p1", "pending"),
    (1.6, "pact-producer", "p1", "ready"),
    (1.5, "pact-translation", None, ("desired", 1)),
    (1.5, "pact-translation", "t1", "pending"),
    (2.2, "pact-translation", "t1", "ready"),
    (2.0, "pact-contactlog", None, ("desired", 1)),
    (2.0, "pact-contactlog", "c1", "pending"),
    (2.9, "pact-contactlog", "c1", "ready"),
    (3.0, "pact-producer", None, ("desired", 3)),
    (3.0, "pact-producer", "p2", "pending"),
    (3.0, "pact-producer", "p3", "pending"),
    (3.7, "pact-producer", "p2", "ready"),
    (3.9, "pact-producer", "p3", "ready"),
    (4.5, "pact-translation", None, ("desired", 2)),
    (4.5, "pact-translation", "t2", "pending"),
    (5.2, "pact-translation", "t2", "ready"),
    (6.0, "pact-producer", None, ("desired", 4)),
    (6.0, "pact-producer", "p4", "pending"),
    (6.8, "pact-producer", "p4", "ready"),
    # The load ends about 20 s in; the stable window, compressed.
    (32.0, "pact-producer", None, ("desired", 1)),
    (32.0, "pact-producer", "p2", "terminating"),
    (32.0, "pact-producer", "p3", "terminating"),
    (32.0, "pact-producer", "p4", "terminating"),
    (34.0, "pact-producer", "p2", "deleted"),
    (34.0, "pact-producer", "p3", "deleted"),
    (34.5, "pact-producer", "p4", "deleted"),
    (34.0, "pact-translation", None, ("desired", 1)),
    (34.0, "pact-translation", "t2", "terminating"),
    (36.0, "pact-translation", "t2", "deleted"),
    (44.0, "pact-producer", None, ("desired", 0)),
    (44.0, "pact-producer", "p1", "terminating"),
    (46.0, "pact-producer", "p1", "deleted"),
    (45.0, "pact-translation", None, ("desired", 0)),
    (45.0, "pact-translation", "t1", "terminating"),
    (47.0, "pact-translation", "t1", "deleted"),
    (48.0, "pact-contactlog", None, ("desired", 0)),
    (48.0, "pact-contactlog", "c1", "terminating"),
    (50.0, "pact-contactlog", "c1", "deleted"),
]


def pod(service, name, state, rv):
    ready = state == "ready" or state == "terminating"
    meta = {
        "name": f"{service}-00001-deployment-{name}",
        "namespace": NAMESPACE,
        "uid": f"uid-{service}-{name}",
        "resourceVersion": str(rv),
        "labels": {
            "serving.knative.dev/service": service,
            "serving.knative.dev/revision": f"{service}-00001",
        },
    }
    if state == "terminating":
        meta["deletionTimestamp"] = "2026-12-06T00:00:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "user-container", "image": f"pact-{service}"}]},
        "status": {
            "phase": "Running" if state != "pending" else "Pending",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def revision(service, desired, rv):
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {
            "name": f"{service}-00001",
            "namespace": NAMESPACE,
            "uid": f"uid-{service}-rev",
            "resourceVersion": str(rv),
            "labels": {"serving.knative.dev/service": service},
        },
        "status": {"desiredReplicas": desired, "actualReplicas": desired},
    }


def history(speed=1.0):
    """Every event in order: (at, resource version, kind, type, object)."""
    events, rv, alive = [], 1, set()
    for at, service, name, what in sorted(SCRIPT, key=lambda e: e[0]):
        at /= speed
        rv += 1
        if name is None:
            obj = revision(service, what[1], rv)
            events.append((at, rv, "revisions", "MODIFIED", obj))
            continue
        key = (service, name)
        if what == "deleted":
            events.append((at, rv, "pods", "DELETED", pod(service, name, "terminating", rv)))
            alive.discard(key)
        else:
            kind = "MODIFIED" if key in alive else "ADDED"
            alive.add(key)
            events.append((at, rv, "pods", kind, pod(service, name, what, rv)))
    return events


EVENTS = history()
SERVICES = sorted({e[1] for e in SCRIPT})
START = None
LOCK = threading.Lock()


def knative_objects(topology):
    """{(group, version, plural): (kind, names the overlays of `topology`
    create)}, named from the pipeline's topology (pipeline.toml at the root
    of the checkout) as `pact check-cluster` names them."""
    table = tomllib.loads((Path(__file__).resolve().parents[1] / "pipeline.toml").read_text())
    functions = table["functions"]
    topics = []
    for f in functions:
        for topic in (f.get("reads"), f.get("emits_to")):
            if topic and topic not in topics:
                topics.append(topic)
    broker = topology == "broker"
    # The pipeline's outputs: topics no function reads, which keep their
    # KafkaSink (and their emitter its SinkBinding) with a Broker too.
    outputs = [t for t in topics if not any(f.get("reads") == t for f in functions)]
    # With a Broker: the raw feed's KafkaSource, the outputs' and the dead
    # letters' KafkaSinks, a SinkBinding only where no Trigger feeds the
    # function (it replies) or it emits to an output.
    sources = [table["broker"]["raw_topic"]] if broker else [f["reads"] for f in functions if f.get("reads")]
    sinks = outputs if broker else topics
    bindings = [f"pact-{f['name']}-sink" for f in functions
                if f.get("emits_to")
                and not (broker and f.get("reads") and f["emits_to"] not in outputs)]
    return {
        ("serving.knative.dev", "v1", "services"): ("Service", [f"pact-{f['name']}" for f in functions]),
        ("sources.knative.dev", "v1", "kafkasources"): ("KafkaSource", sources),
        ("eventing.knative.dev", "v1alpha1", "kafkasinks"): ("KafkaSink", sinks + [table["dead_letter_topic"]]),
        ("sources.knative.dev", "v1", "sinkbindings"): ("SinkBinding", bindings),
        ("sources.knative.dev", "v1", "pingsources"): (
            "PingSource", [f["ping_source"] for f in functions if f.get("ping_source")]),
        ("eventing.knative.dev", "v1", "brokers"): ("Broker", [table["broker"]["name"]] if broker else []),
        ("eventing.knative.dev", "v1", "triggers"): (
            "Trigger", [f"pact-{f['name']}" for f in functions if broker and f.get("reads")]),
        ("sources.knative.dev", "v1", "containersources"): ("ContainerSource", []),
    }


# Set by main() from --topology.
KNATIVE = None
# Set by main() from the options.
OPTIONS = None


def clock():
    """Seconds since the scale-out began: at the first request for pods or
    revisions (the Knative lists of check-cluster do not start it)."""
    global START
    with LOCK:
        if START is None:
            START = time.monotonic()
        return time.monotonic() - START


def knative_object(group, version, plural, name):
    """One Knative object, Ready unless --not-ready names it."""
    kind, _ = KNATIVE[(group, version, plural)]
    status = {"observedGeneration": 1, "conditions": []}
    not_ready = OPTIONS.not_ready.get(f"{plural}/{name}")
    if not_ready:
        reason, _, message = not_ready.partition(":")
        status["conditions"] = [
            {"type": "Ready", "status": "False", "reason": reason, "message": message},
            {"type": "SinkProvided" if plural != "services" else "ConfigurationsReady",
             "status": "False", "reason": reason, "message": message},
        ]
    else:
        status["conditions"] = [{"type": "Ready", "status": "True"}]
    if plural == "services":
        urls = {"pact-producer": OPTIONS.producer_url, "pact-query": OPTIONS.query_url}
        status["url"] = urls.get(name, f"http://{name}.{NAMESPACE}.svc.cluster.local")
    elif plural == "kafkasinks":
        status["address"] = {"url": "http://kafka-sink-ingress.knative-eventing.svc.cluster.local"
                                    f"/{NAMESPACE}/{name}"}
    elif plural in ("brokers", "triggers"):
        status["address" if plural == "brokers" else "subscriberUri"] = (
            {"url": f"http://kafka-broker-ingress.knative-eventing.svc.cluster.local/{NAMESPACE}/{name}"}
            if plural == "brokers" else f"http://{name}.{NAMESPACE}.svc.cluster.local")
    elif plural != "containersources":
        status["sinkUri"] = f"http://{name}.{NAMESPACE}.svc.cluster.local"
    return {
        "apiVersion": f"{group}/{version}",
        "kind": kind,
        "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1,
                     "uid": f"uid-{plural}-{name}", "resourceVersion": "1"},
        "status": status,
    }


def knative_list(group, version, plural):
    kind, names = KNATIVE[(group, version, plural)]
    items = [knative_object(group, version, plural, name) for name in names
             if f"{plural}/{name}" not in OPTIONS.missing]
    return {"apiVersion": f"{group}/{version}", "kind": f"{kind}List",
            "metadata": {"resourceVersion": "1"}, "items": items}


def state(resource, now):
    """The objects of `resource` at `now`, and the resource version then."""
    objects, rv = {}, 1
    if resource == "revisions":
        for service in SERVICES:
            objects[f"{service}-00001"] = revision(service, 0, 1)
    for at, erv, kind, etype, obj in EVENTS:
        if at > now:
            break
        rv = erv
        if kind != resource:
            continue
        name = obj["metadata"]["name"]
        if etype == "DELETED":
            objects.pop(name, None)
        else:
            objects[name] = obj
    return list(objects.values()), rv


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        paths = {
            f"/api/v1/namespaces/{NAMESPACE}/pods": ("pods", "v1", "PodList"),
            f"/apis/serving.knative.dev/v1/namespaces/{NAMESPACE}/revisions": (
                "revisions", "serving.knative.dev/v1", "RevisionList"),
        }
        parts = url.path.strip("/").split("/")
        plural = parts[-1]
        if plural in OPTIONS.forbid:
            group = parts[1] if parts[0] == "apis" else ""
            verb = "watch" if query.get("watch") in ("true", "1") else "list"
            return self.reply(403, {
                "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403,
                "reason": "Forbidden",
                "message": f'{plural}{"." if group else ""}{group} is forbidden: User "fake" '
                           f'cannot {verb} resource "{plural}" in API group "{group}" '
                           f'in the namespace "{NAMESPACE}"'})
        if (len(parts) == 6 and parts[0] == "apis" and parts[3] == "namespaces"
                and parts[4] == NAMESPACE and (parts[1], parts[2], plural) in KNATIVE):
            return self.reply(200, knative_list(parts[1], parts[2], plural))
        if url.path not in paths:
            return self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                    "code": 404, "reason": "NotFound", "message": "not here"})
        resource, api_version, list_kind = paths[url.path]
        now = clock()
        if query.get("watch") in ("true", "1"):
            return self.watch(resource, api_version, int(query.get("resourceVersion") or 0),
                              float(query.get("timeoutSeconds") or 290))
        items, rv = state(resource, now)
        self.reply(200, {"apiVersion": api_version, "kind": list_kind,
                         "metadata": {"resourceVersion": str(rv)}, "items": items})

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, obj):
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, resource, api_version, since, timeout):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        until = clock() + min(timeout, 30)
        last, next_bookmark = since, clock() + 5
        try:
            for at, rv, kind, etype, obj in EVENTS:
                if rv <= since:
                    continue
                while clock() < at:
                    if clock() >= until:
                        break
                    if clock() >= next_bookmark:
                        self.chunk({"type": "BOOKMARK", "object": {
                            "apiVersion": api_version, "kind": obj["kind"],
                            "metadata": {"resourceVersion": str(last)}}})
                        next_bookmark += 5
                    time.sleep(0.02)
                if clock() >= until:
                    break
                last = rv
                if kind == resource:
                    self.chunk({"type": etype, "object": obj})
            while clock() < until:
                time.sleep(0.1)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--kubeconfig", default="fake-kubeconfig.yaml")
    parser.add_argument("--lifetime", type=float, default=300)
    parser.add_argument("--speed", type=float, default=1.0,
                        help="play the scale-out this many times faster")
    parser.add_argument("--producer-url", default=f"http://pact-producer.{NAMESPACE}.127.0.0.1.sslip.io",
                        help="status.url of the pact-producer Knative Service")
    parser.add_argument("--query-url", default=f"http://pact-query.{NAMESPACE}.127.0.0.1.sslip.io",
                        help="status.url of the pact-query Knative Service")
    parser.add_argument("--not-ready", action="append", default=[],
                        metavar="PLURAL/NAME=REASON:MESSAGE",
                        help="that object's Ready condition is False with this reason and message")
    parser.add_argument("--missing", action="append", default=[], metavar="PLURAL/NAME",
                        help="that object is not listed")
    parser.add_argument("--forbid", action="append", default=[], metavar="PLURAL",
                        help="answer 403 Forbidden for that resource")
    parser.add_argument("--topology", choices=["explicit", "broker"], default="explicit",
                        help="serve the objects of the overlays of this topology")
    args = parser.parse_args()
    if args.speed <= 0:
        parser.error("--speed must be positive")
    args.not_ready = dict(item.split("=", 1) for item in args.not_ready)
    global OPTIONS, EVENTS, KNATIVE
    OPTIONS = args
    KNATIVE = knative_objects(args.topology)
    EVENTS = history(args.speed)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    with open(args.kubeconfig, "w") as f:
        f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://127.0.0.1:{port}
contexts:
- name: fake
  context:
    cluster: fake
    namespace: {NAMESPACE}
    user: fake
current-context: fake
users:
- name: fake
  user:
    token: fake-token
""")
    print(f"fake Kubernetes API on http://127.0.0.1:{port}, kubeconfig {args.kubeconfig}",
          flush=True)
    threading.Timer(args.lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
