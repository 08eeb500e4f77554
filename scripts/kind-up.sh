#!/usr/bin/env bash
# kind-up.sh: PACT on a local kind cluster, end to end (docs/deploy.md, "kind").
#
# Needs: Docker or podman, kind (v0.30.0), kubectl (v1.33-v1.35, with
# kustomize), helm, openssl, curl, and internet access (release manifests, the
# Strimzi chart, base images). With podman, kind runs with
# KIND_EXPERIMENTAL_PROVIDER=podman (set here when podman is the engine).
# NOT RUN where it was written (no Docker, no network there); it was only
# checked with `shellcheck scripts/kind-up.sh` and tests/manifests/test_guide.py.
#
# Usage: scripts/kind-up.sh [kind|demo|broker]
#   kind (default): the explicit topology, knative/overlays/kind
#   demo:           the same plus the simulator, knative/overlays/demo
#   broker:         the broker topology (docs/topologies.md), knative/overlays/broker/kind,
#                   with the Kafka Broker's data plane (eventing-kafka-broker.yaml)
# Environment: CLUSTER (default pact), KNATIVE_VERSION, STRIMZI_VERSION,
#              KIND_NODE_IMAGE (default: the image in scripts/kind-cluster.yaml),
#              ENGINE=docker|podman (default: docker if it answers, else podman),
#              SKIP_IMAGES=1 to skip building/loading the images.
set -euo pipefail

# OVERLAY: the directory under knative/overlays that is applied.
case "${1:-kind}" in
  kind|demo) OVERLAY="${1:-kind}"; TOPOLOGY=explicit ;;
  broker) OVERLAY=broker/kind; TOPOLOGY=broker ;;
  *) echo "usage: $0 [kind|demo|broker]" >&2; exit 2 ;;
esac

CLUSTER="${CLUSTER:-pact}"
KNATIVE_VERSION="${KNATIVE_VERSION:-knative-v1.23.0}"
STRIMZI_VERSION="${STRIMZI_VERSION:-1.2.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KIND_CONFIG="$ROOT/scripts/kind-cluster.yaml"
NS=pact
# Host port -> node port of Kourier: both must equal scripts/kind-cluster.yaml's
# extraPortMappings (hostPort, containerPort); tests/manifests/test_guide.py checks it.
HTTP_PORT=80
INGRESS_NODE_PORT=31080
# kind's local registry (kind docs, "Local Registry"): container kind-registry,
# pushed to from the host as localhost:5001 and from pods as kind-registry:5000
# (the Tekton pipeline, tekton/pipelinerun.yaml). containerd on the node maps
# both names to the registry container over plain HTTP.
REGISTRY_NAME=kind-registry
REGISTRY_PORT=5001
REGISTRY_HOSTS=(localhost:5001 kind-registry:5000)

step() { printf '\n==> %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "missing: $1" >&2; exit 1; }; }

# Docker or podman. kind picks its provider by itself (docker first); with
# podman it is told so, and images go through `podman save` + `kind load
# image-archive` because `kind load docker-image` runs the docker binary.
ENGINE="${ENGINE:-${KIND_EXPERIMENTAL_PROVIDER:-}}"
if [ -z "$ENGINE" ]; then
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    ENGINE=docker
  elif command -v podman >/dev/null 2>&1; then
    ENGINE=podman
  else
    echo "missing: docker or podman" >&2; exit 1
  fi
fi
case "$ENGINE" in
  docker) ;;
  podman) export KIND_EXPERIMENTAL_PROVIDER=podman ;;
  *) echo "ENGINE must be docker or podman, not $ENGINE" >&2; exit 2 ;;
esac
for tool in "$ENGINE" kind kubectl helm openssl curl; do need "$tool"; done

gh() { echo "https://github.com/$1/releases/download/$KNATIVE_VERSION/$2"; }

# Knative validates its ConfigMaps with a webhook: serving's refuses every
# change while the webhook has no ready endpoint (failurePolicy: Fail), and
# eventing's lets it through unvalidated (failurePolicy: Ignore). So every
# ConfigMap patch below waits for the namespace's webhook Deployment first,
# then for a ready endpoint behind its Service.
wait_for_webhook() { # namespace deployment (= Service name)
  kubectl -n "$1" rollout status "deployment/$2" --timeout=10m
  kubectl -n "$1" wait endpointslice -l "kubernetes.io/service-name=$2" \
    --for=jsonpath='{.endpoints[0].conditions.ready}'=true --timeout=3m
}

step "local registry $REGISTRY_NAME (127.0.0.1:$REGISTRY_PORT)"
state="$("$ENGINE" inspect -f '{{.State.Running}}' "$REGISTRY_NAME" 2>/dev/null || true)"
if [ "$state" = false ]; then
  "$ENGINE" start "$REGISTRY_NAME"
elif [ "$state" != true ]; then
  "$ENGINE" run -d --restart=always -p "127.0.0.1:$REGISTRY_PORT:5000" --network bridge \
    --name "$REGISTRY_NAME" docker.io/library/registry:2
fi

step "kind cluster $CLUSTER ($KIND_CONFIG)"
if ! kind get clusters | grep -qx "$CLUSTER"; then
  image_flag=()
  if [ -n "${KIND_NODE_IMAGE:-}" ]; then image_flag=(--image "$KIND_NODE_IMAGE"); fi
  # (the ${a[@]+...} form: an empty array under `set -u` in macOS's bash 3.2)
  kind create cluster --name "$CLUSTER" --config "$KIND_CONFIG" ${image_flag[@]+"${image_flag[@]}"}
fi
kubectl config use-context "kind-$CLUSTER"
# A cluster made earlier without scripts/kind-cluster.yaml has no way in from the host.
if ! "$ENGINE" port "$CLUSTER-control-plane" "$INGRESS_NODE_PORT/tcp" >/dev/null 2>&1; then
  echo "cluster $CLUSTER has no host port mapped to node port $INGRESS_NODE_PORT;" \
       "delete it (kind delete cluster --name $CLUSTER) and run $0 again" >&2
  exit 1
fi

step "containerd: ${REGISTRY_HOSTS[*]} -> http://$REGISTRY_NAME:5000"
for node in $(kind get nodes --name "$CLUSTER"); do
  for host in "${REGISTRY_HOSTS[@]}"; do
    dir="/etc/containerd/certs.d/$host"
    "$ENGINE" exec "$node" mkdir -p "$dir"
    printf '[host."http://%s:5000"]\n' "$REGISTRY_NAME" |
      "$ENGINE" exec -i "$node" cp /dev/stdin "$dir/hosts.toml"
  done
done
network="$("$ENGINE" inspect -f '{{json .NetworkSettings.Networks.kind}}' "$REGISTRY_NAME" 2>/dev/null || true)"
case "$network" in
  null|''|'<no value>') "$ENGINE" network connect kind "$REGISTRY_NAME" ;;
esac
kubectl apply -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:$REGISTRY_PORT"
    hostFromClusterNetwork: "$REGISTRY_NAME:5000"
    help: "https://kind.sigs.k8s.io/docs/user/local-registry/"
EOF

step "Knative Serving + Kourier ($KNATIVE_VERSION)"
kubectl apply -f "$(gh knative/serving serving-crds.yaml)"
kubectl wait crd --all --for=condition=Established --timeout=5m
kubectl apply -f "$(gh knative/serving serving-core.yaml)"
kubectl apply -f "$(gh knative-extensions/net-kourier kourier.yaml)"
kubectl -n knative-serving wait deploy --all --for=condition=Available --timeout=10m
kubectl -n kourier-system wait deploy --all --for=condition=Available --timeout=10m
wait_for_webhook knative-serving webhook
kubectl -n knative-serving patch configmap/config-network --type merge \
  -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
wait_for_webhook knative-serving webhook
kubectl -n knative-serving patch configmap/config-domain --type merge \
  -p '{"data":{"127.0.0.1.sslip.io":""}}'
# Images loaded with `kind load` have no registry to resolve a digest from, and
# the local registry speaks plain HTTP: skip tag resolution for those names.
wait_for_webhook knative-serving webhook
kubectl -n knative-serving patch configmap/config-deployment --type merge \
  -p '{"data":{"registries-skipping-tag-resolving":"kind.local,ko.local,dev.local,localhost,localhost:5001,kind-registry:5000"}}'
# Kourier's gateway Service is a LoadBalancer, which stays pending on kind:
# make it a NodePort on the port kind maps from the host (kind-cluster.yaml).
kubectl -n kourier-system patch service kourier --type strategic \
  -p "{\"spec\":{\"type\":\"NodePort\",\"ports\":[{\"port\":80,\"nodePort\":$INGRESS_NODE_PORT}]}}"
for _ in $(seq 60); do
  # Kourier answers 404 for a host it does not know: the path host -> Kourier works.
  code="$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: nothing.pact.127.0.0.1.sslip.io' \
    "http://127.0.0.1:$HTTP_PORT/" || true)"
  [ "$code" = 404 ] && break
  sleep 2
done
[ "$code" = 404 ] || { echo "Kourier does not answer on 127.0.0.1:$HTTP_PORT (got '$code')" >&2; exit 1; }

step "Knative Eventing + KafkaSource/KafkaSink ($KNATIVE_VERSION)"
kubectl apply -f "$(gh knative/eventing eventing-crds.yaml)"
kubectl wait crd --all --for=condition=Established --timeout=5m
kubectl apply -f "$(gh knative/eventing eventing-core.yaml)"
for f in eventing-kafka-controller.yaml eventing-kafka-source.yaml eventing-kafka-sink.yaml; do
  kubectl apply -f "$(gh knative-extensions/eventing-kafka-broker "$f")"
done
# The broker topology adds the Kafka Broker's data plane (kafka-broker-receiver,
# kafka-broker-dispatcher; docs/topologies.md, "Install the Kafka Broker").
if [ "$TOPOLOGY" = broker ]; then
  kubectl apply -f "$(gh knative-extensions/eventing-kafka-broker eventing-kafka-broker.yaml)"
fi
# The platform as released asks for nearly all of a 4-vCPU node; lower the
# Kafka source dispatcher's CPU request (knative/platform/kind-requests.yaml).
kubectl apply --server-side --force-conflicts --field-manager=pact-kind \
  -f "$ROOT/knative/platform/kind-requests.yaml"
# and the Kafka Broker's receiver and dispatcher likewise, or they do not fit
# (knative/platform/kind-requests-broker.yaml).
if [ "$TOPOLOGY" = broker ]; then
  kubectl apply --server-side --force-conflicts --field-manager=pact-kind \
    -f "$ROOT/knative/platform/kind-requests-broker.yaml"
fi
kubectl -n knative-eventing wait deploy --all --for=condition=Available --timeout=10m
# Sender authentication (docs/security.md): the sources send OIDC tokens, which
# pact-translation, pact-contactlog and pact-notify require
# (PACT_SENDER_AUTH=oidc).
wait_for_webhook knative-eventing eventing-webhook
kubectl -n knative-eventing patch configmap/config-features --type merge \
  -p '{"data":{"authentication-oidc":"enabled"}}'

step "Strimzi $STRIMZI_VERSION watching namespace $NS"
kubectl apply -f "$ROOT/knative/base/namespace.yaml"
kubectl get namespace strimzi >/dev/null 2>&1 || kubectl create namespace strimzi
helm upgrade --install strimzi oci://quay.io/strimzi-helm/strimzi-kafka-operator \
  --version "$STRIMZI_VERSION" -n strimzi --set "watchNamespaces={$NS}" \
  --set 'extraEnvs[0].name=STRIMZI_POD_SECURITY_PROVIDER_CLASS' \
  --set 'extraEnvs[0].value=restricted' --wait

if [ "${SKIP_IMAGES:-0}" != 1 ]; then
  step "images (localhost/*:dev) built with $ENGINE and loaded into kind"
  archives="$(mktemp -d)"
  # image name -> the Dockerfile's FUNCTION; cli is the `pact` tool (the demo
  # overlay's simulator, and `pact check-cluster` run from the image).
  functions=(producer translation contactlog query notify cli)
  for function in "${functions[@]}"; do
    image="pact-$function"
    if [ "$function" = cli ]; then image=pact; fi
    "$ENGINE" build -t "localhost/$image:dev" --build-arg "FUNCTION=$function" "$ROOT"
    if [ "$ENGINE" = docker ]; then
      kind load docker-image "localhost/$image:dev" --name "$CLUSTER"
    else
      podman save --format docker-archive -o "$archives/$image.tar" "localhost/$image:dev"
      kind load image-archive "$archives/$image.tar" --name "$CLUSTER"
    fi
  done
  rm -rf "$archives"
fi

step "Secrets that need no Kafka (created once; never stored in git)"
if ! kubectl -n "$NS" get secret pact-postgres >/dev/null 2>&1; then
  kubectl -n "$NS" create secret generic pact-postgres \
    --from-literal=username=pact --from-literal=password="$(openssl rand -hex 24)"
fi
state_dir="${XDG_STATE_HOME:-$HOME/.local/state}/pact"
if ! kubectl -n "$NS" get secret pact-query-tokens >/dev/null 2>&1; then
  mkdir -p "$state_dir"
  (umask 077 && openssl rand -hex 32 > "$state_dir/query-token")
  kubectl -n "$NS" create secret generic pact-query-tokens --from-file=tokens="$state_dir/query-token"
  echo "query token written to $state_dir/query-token (outside the repository)"
fi

step "kubectl apply -k knative/overlays/$OVERLAY"
kubectl apply -k "$ROOT/knative/overlays/$OVERLAY"
kubectl -n "$NS" wait kafka/pact-cluster --for=condition=Ready --timeout=15m
kubectl -n "$NS" wait kafkauser --all --for=condition=Ready --timeout=5m

step "Kafka auth Secrets of the KafkaUsers of knative/overlays/$OVERLAY"
# One knative-<user> Secret per KafkaUser the overlay creates, read back from
# what was just applied: the explicit topology's five (the KafkaSinks and
# KafkaSources), or the broker topology's three (docs/topologies.md: the dead
# letters' KafkaSink, the raw feed's KafkaSource, the Broker).
users="$(kubectl get -k "$ROOT/knative/overlays/$OVERLAY" -o name | sed -n 's|^kafkauser\.kafka\.strimzi\.io/||p')"
[ -n "$users" ] || { echo "knative/overlays/$OVERLAY creates no KafkaUser" >&2; exit 1; }
ca="$(mktemp)"
trap 'rm -f "$ca"' EXIT
kubectl -n "$NS" get secret pact-cluster-cluster-ca-cert -o jsonpath='{.data.ca\.crt}' | base64 -d > "$ca"
for user in $users; do
  password="$(kubectl -n "$NS" get secret "$user" -o jsonpath='{.data.password}' | base64 -d)"
  kubectl -n "$NS" create secret generic "knative-$user" \
    --from-literal=protocol=SASL_SSL --from-literal=sasl.mechanism=SCRAM-SHA-512 \
    --from-literal=user="$user" --from-literal=password="$password" \
    --from-file=ca.crt="$ca" --dry-run=client -o yaml | kubectl apply -f -
done

step "waiting for everything to be Ready"
kubectl -n "$NS" wait kafkatopic --all --for=condition=Ready --timeout=5m
kubectl -n "$NS" wait statefulset/pact-postgres --for=jsonpath='{.status.readyReplicas}'=1 --timeout=10m
kubectl -n "$NS" wait kafkasink,kafkasource --all --for=condition=Ready --timeout=10m
kubectl -n "$NS" wait ksvc --all --for=condition=Ready --timeout=10m
kubectl -n "$NS" wait sinkbinding,pingsource --all --for=condition=Ready --timeout=5m
if [ "$OVERLAY" = demo ]; then
  kubectl -n "$NS" wait containersource --all --for=condition=Ready --timeout=5m
fi
if [ "$TOPOLOGY" = broker ]; then
  kubectl -n "$NS" wait broker,trigger,eventpolicy --all --for=condition=Ready --timeout=5m
fi
# pact-query answers through Kourier on the host (its OpenAPI needs no token).
curl -fsS -o /dev/null -H "Host: pact-query.$NS.127.0.0.1.sslip.io" "http://127.0.0.1:$HTTP_PORT/openapi.json"

step "done"
kubectl -n "$NS" get ksvc
check=(pact check-cluster)
if [ "$TOPOLOGY" = broker ]; then check+=(--topology broker); fi
cat <<EOF

PACT is up. Next (docs/deploy.md, "Check it works"; docs/check-cluster.md):
  ${check[*]}        # every resource Ready, contacts in and out, a short burst
  pact burst --watch -n $NS -z 1m -c 400 http://pact-producer.$NS.127.0.0.1.sslip.io/pact/producer
The pact binary: cargo install --path $ROOT   (or run the localhost/pact:dev image,
see docs/deploy.md, "The pact tool"). Query token: $state_dir/query-token
EOF
