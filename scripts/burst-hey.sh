#!/usr/bin/env bash
# The load burst of `pact burst`, with the tools the original demo used: hey,
# or a plain curl loop. For users who prefer them, and to compare figures
# (docs/burst.md).
#
#   scripts/burst-hey.sh [hey|curl] [URL]
#
#   URL          pact-producer's /pact/producer (the original demo's endpoint;
#                each request a `message`), or any CloudEvents endpoint (each
#                request one binary-mode dev.pact.contact.untranslated event)
#                [default: http://127.0.0.1:8180/pact/producer, pact dev's producer]
#   CONCURRENCY  requests in flight (hey -c) [16]
#   DURATION     how long hey sends (hey -z) [10s]
#   REQUESTS     how many the curl loop sends, one after the other [200]
#
# Unlike `pact burst`, hey sends the same body every time: to the producer
# that is fine (it gives each request its own id), but a CloudEvents endpoint
# sees one event id again and again, and later stages treat them as
# duplicates. hey's latencies are closed-loop (see docs/burst.md).
set -euo pipefail

tool="${1:-hey}"
url="${2:-http://127.0.0.1:8180/pact/producer}"
concurrency="${CONCURRENCY:-16}"
duration="${DURATION:-10s}"
requests="${REQUESTS:-200}"
contact='{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265}'

case "$url" in
  */pact/producer) producer=true ;;
  *) producer=false ;;
esac

case "$tool" in
  hey)
    command -v hey >/dev/null || { echo "hey is not installed (Debian: apt-get install hey)" >&2; exit 2; }
    if $producer; then
      exec hey -z "$duration" -c "$concurrency" -m POST "$url?message=1,2,44.9778,-93.265"
    fi
    exec hey -z "$duration" -c "$concurrency" -m POST \
      -H "ce-specversion: 1.0" -H "ce-id: burst-hey-1" -H "ce-source: /pact/burst-hey" \
      -H "ce-type: dev.pact.contact.untranslated" -T "application/json" \
      -d "$contact" "$url"
    ;;
  curl)
    # The original demo's loop: one request at a time, each a new pair.
    failed=0
    for i in $(seq 1 "$requests"); do
      if $producer; then
        status=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
          "$url?message=$i,$((i + 1)),44.9778,-93.265")
      else
        status=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
          -H "ce-specversion: 1.0" -H "ce-id: burst-curl-$i" -H "ce-source: /pact/burst-curl" \
          -H "ce-type: dev.pact.contact.untranslated" -H "content-type: application/json" \
          -d "{\"mmid1\":$i,\"mmid2\":$((i + 1)),\"lat\":44.9778,\"lon\":-93.265}" "$url")
      fi
      case "$status" in 2??) ;; *) failed=$((failed + 1)) ;; esac
    done
    echo "$requests requests, $failed not 2xx"
    [ "$failed" -eq 0 ]
    ;;
  *)
    echo "usage: $0 [hey|curl] [URL]" >&2
    exit 2
    ;;
esac
