#!/usr/bin/env bash
# pact-notify's fan-out, measured through the whole local pipeline: for each
# round a new person meets PEOPLE others (sent through pact-producer and
# stored), is reported as a case on pact-query (`POST /cases`), and the time
# is taken until pact-query says every one of them is notified
# (`GET /cases/{id}`: pact-notify has had each notification accepted by
# the pact-notifications topic), and until the last notification's record
# in that topic. Each row is one case, checked: PEOPLE notifications, one
# per person.
#
#   benches/notify.sh          # a markdown table on stdout
#
# Settings (environment): ROUNDS=5  PEOPLE=1000  TOPOLOGY=explicit|broker
#   DATABASE_URL=postgres://...   store in PostgreSQL (default: SQLite)
#   SKIP_BUILD=1  BIN=path        the pact binary (default: the release build)
# Talks to 127.0.0.1 only (ports the OS picks); every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
PEOPLE=${PEOPLE:-1000}
TOPOLOGY=${TOPOLOGY:-explicit}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/pact}

[ -n "${SKIP_BUILD:-}" ] || cargo build --release --locked -p pact >&2
command -v jq >/dev/null || { echo "jq is needed: apt-get install -y jq" >&2; exit 1; }

dir=$(mktemp -d)
"$BIN" dev --dir "$dir/dev" --port 0 --json --topology "$TOPOLOGY" >"$dir/out" 2>"$dir/err" &
dev=$!
trap 'kill "$dev" 2>/dev/null; wait "$dev" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 300); do
  grep -q '"event":"ready"' "$dir/out" && break
  kill -0 "$dev" 2>/dev/null || { cat "$dir/err" >&2; exit 1; }
  sleep 0.1
done
ready=$(grep '"event":"ready"' "$dir/out" | head -1)
[ -n "$ready" ] || { echo "pact dev did not start within 30 s" >&2; exit 1; }
producer=$(jq -r '.urls.producer' <<<"$ready")
query=$(jq -r '.urls.query' <<<"$ready")
eventing=$(jq -r '.urls.eventing' <<<"$ready")

now_ms() { date +%s%3N; }

# Polls `$1` (a command) every 5 ms until it succeeds, for at most 60 s.
until_true() {
  local deadline=$(( $(now_ms) + 60000 ))
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || { echo "timed out: $*" >&2; return 1; }
    sleep 0.005
  done
}

stored() { [ "$(curl -sf "$query/stats" | jq .total)" -ge "$1" ]; }
notified() { [ "$(curl -sf "$query/cases/$1" | jq -r .status)" = notified ]; }

echo "| case | people | report → all notified (GET /cases) | report → last record in pact-notifications | notifications, one per person |"
echo "|---:|---:|---:|---:|---|"
total=0
for round in $(seq 1 "$ROUNDS"); do
  person=$(( 900000000 + round ))
  # The person meets PEOPLE others, ten minutes ago, in batches of 500.
  at=$(date -u -d '10 minutes ago' +%Y-%m-%dT%H:%M:%SZ)
  for first in $(seq 0 500 $(( PEOPLE - 1 ))); do
    last=$(( first + 499 < PEOPLE - 1 ? first + 499 : PEOPLE - 1 ))
    jq -nc --argjson p "$person" --argjson a "$first" --argjson b "$last" --arg at "$at" --argjson r "$round" '
      [range($a; $b + 1) | {id: "bench-\($r)-\(.)", mmid1: $p, mmid2: (1000000000 + $r * 100000 + .),
        lat: 44.97, lon: -93.26, observed_at: $at}]' |
      curl -sf -o /dev/null -H 'content-type: application/json' --data-binary @- "$producer/contacts"
  done
  total=$(( total + PEOPLE ))
  until_true stored "$total"
  before=$(curl -sf "$eventing/topics" | jq '[.topics[] | select(.name == "pact-notifications") | .end_offsets] | first')
  start=$(now_ms)
  case_id=$(curl -sf -H 'content-type: application/json' \
    -d "{\"mmid\":$person,\"onset\":\"$(date -u +%F)\"}" "$query/cases" | jq -r .case_id)
  until_true notified "$case_id"
  done_ms=$(( $(now_ms) - start ))
  # This case's records: those past the offsets before it, every partition.
  records=$(for p in $(seq 0 $(( $(jq length <<<"$before") - 1 ))); do
      from=$(jq ".[$p]" <<<"$before")
      curl -sf "$eventing/topics/pact-notifications/records?partition=$p&from=$from&limit=1000" | jq -c '.[]'
    done)
  count=$(jq -s length <<<"$records")
  people=$(jq -s 'map(.key) | unique | length' <<<"$records")
  newest=$(jq -rs 'map(.appended_at) | max' <<<"$records")
  last_epoch_ms=$(( $(date -u -d "$newest" +%s%N) / 1000000 ))
  once=$([ "$count" -eq "$PEOPLE" ] && [ "$people" -eq "$PEOPLE" ] && echo yes || echo "NO ($count records, $people people)")
  echo "| $round | $PEOPLE | ${done_ms} ms | $(( last_epoch_ms - start )) ms | $once |"
done
