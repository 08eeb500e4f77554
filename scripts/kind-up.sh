#!/usr/bin/env bash
# kind-up.sh: PACT on a local kind cluster, end to end (docs/deploy.md, "kind").
#
# Needs: Docker, kind, kubectl (>= 1.27, with kustomize), helm, openssl, curl,
# and internet access (release manifests, the Strimzi chart, base images).
# NOT RUN where it was written (no Docker, no network there); it was only
# checked with `shellcheck scripts/kind-up.sh` (ShellCheck 0.9.0, Debian).
#
# Usage: scripts/kind-up.sh [kind|demo]      (default: kind; demo adds the simulator)
# Environment: CLUSTER (default pact), KNATIVE_VERSION, STRIMZI_VERSION, KIND_NODE_IMAGE,
#              SKIP_IMAGES=1 to skip building/loading the images.
set -euo pipefail

OVERLAY="${1:-kind}"
case "$OVERLAY" in kind|demo) ;; *) echo "usage: $0 [kind|demo]" >&2; exit 2 ;; esac

CLUSTER="${CLUSTER:-pact}"
KNATIVE_VERSION="${KNATIVE_VERSION:-knative-v1.23.0}"
STRIMZI_VERSION="${STRIMZI_VERSION:-1.2.0}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.34.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NS=pact

step() { printf '\n==> %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "missing: $1" >&2; exit 1; }; }
for tool in docker kind kubectl helm openssl curl; do need "$tool"; done

gh() { echo "https://github.com/$1/releases/download/$KNATIVE_VERSION/$2"; }

step "kind cluster $CLUSTER"
if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --image "$KIND_NODE_IMAGE"
fi
kubectl config use-context "kind-$CLUSTER"

step "Knative Serving + Kourier ($KNATIVE_VERSION)"
kubectl apply -f "$(gh knative/serving serving-crds.yaml)"
kubectl apply -f "$(gh knative/serving serving-core.yaml)"
kubectl apply -f "$(gh knative/net-kourier kourier.yaml)"
kubectl -n knative-serving wait deploy --all --for=condition=Available --timeout=10m
kubectl -n knative-serving patch configmap/config-network --type merge \
  -p '{"data":{"ingress-class":"kourier.ingress.networking.knative.dev"}}'
kubectl -n knative-serving patch configmap/config-domain --type merge \
  -p '{"data":{"127.0.0.1.sslip.io":""}}'
kubectl -n knative-serving patch configmap/config-deployment --type merge \
  -p '{"data":{"registries-skipping-tag-resolving":"kind.local,ko.local,dev.local,localhost"}}'

step "Knative Eventing + KafkaSource/KafkaSink ($KNATIVE_VERSION)"
kubectl apply -f "$(gh knative/eventing eventing-crds.yaml)"
kubectl apply -f "$(gh knative/eventing eventing-core.yaml)"
for f in eventing-kafka-controller.yaml eventing-kafka-source.yaml eventing-kafka-sink.yaml; do
  kubectl apply -f "$(gh knative-extensions/eventing-kafka-broker "$f")"
done
kubectl -n knative-eventing wait deploy --all --for=condition=Available --timeout=10m
# Sender authentication (docs/security.md): the sources send OIDC tokens, which
# pact-translation and pact-contactlog require (PACT_SENDER_AUTH=oidc).
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
  step "images (localhost/*:dev) built and loaded into kind"
  # image name -> the Dockerfile's FUNCTION
  functions=(producer translation contactlog query)
  if [ "$OVERLAY" = demo ]; then functions+=(cli); fi
  for function in "${functions[@]}"; do
    image="pact-$function"
    if [ "$function" = cli ]; then image=pact; fi
    docker build -t "localhost/$image:dev" --build-arg "FUNCTION=$function" "$ROOT"
    kind load docker-image "localhost/$image:dev" --name "$CLUSTER"
  done
fi

step "Secrets that need no Kafka (created once; never stored in git)"
if ! kubectl -n "$NS" get secret pact-postgres >/dev/null 2>&1; then
  kubectl -n "$NS" create secret generic pact-postgres \
    --from-literal=username=pact --from-literal=password="$(openssl rand -hex 24)"
fi
if ! kubectl -n "$NS" get secret pact-query-tokens >/dev/null 2>&1; then
  state="${XDG_STATE_HOME:-$HOME/.local/state}/pact"
  mkdir -p "$state"
  (umask 077 && openssl rand -hex 32 > "$state/query-token")
  kubectl -n "$NS" create secret generic pact-query-tokens --from-file=tokens="$state/query-token"
  echo "query token written to $state/query-token (outside the repository)"
fi

step "kubectl apply -k knative/overlays/$OVERLAY"
kubectl apply -k "$ROOT/knative/overlays/$OVERLAY"
kubectl -n "$NS" wait kafka/pact-cluster --for=condition=Ready --timeout=15m
kubectl -n "$NS" wait kafkauser --all --for=condition=Ready --timeout=5m

step "Kafka auth Secrets for the KafkaSinks/KafkaSources"
ca="$(mktemp)"
trap 'rm -f "$ca"' EXIT
kubectl -n "$NS" get secret pact-cluster-cluster-ca-cert -o jsonpath='{.data.ca\.crt}' | base64 -d > "$ca"
for user in pact-sink-untranslated pact-sink-translated pact-sink-deadletter \
            pact-source-translation pact-source-contactlog; do
  password="$(kubectl -n "$NS" get secret "$user" -o jsonpath='{.data.password}' | base64 -d)"
  kubectl -n "$NS" create secret generic "knative-$user" \
    --from-literal=protocol=SASL_SSL --from-literal=sasl.mechanism=SCRAM-SHA-512 \
    --from-literal=user="$user" --from-literal=password="$password" \
    --from-file=ca.crt="$ca" --dry-run=client -o yaml | kubectl apply -f -
done

kubectl -n "$NS" wait kafkasink,kafkasource --all --for=condition=Ready --timeout=5m
kubectl -n "$NS" wait ksvc --all --for=condition=Ready --timeout=5m

step "done"
if command -v kn >/dev/null 2>&1; then
  kn service list -n "$NS"
  kn source list -n "$NS"
else
  kubectl -n "$NS" get ksvc
fi
echo "watch scaling: kubectl -n $NS get pods -w -l app.kubernetes.io/part-of=pact"
