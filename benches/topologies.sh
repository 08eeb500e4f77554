#!/usr/bin/env bash
# The two topologies side by side: `pact demo` run with `--topology explicit`
# and `--topology broker`, alternating, at a fixed rate and then as fast as
# it goes; each row is one run, checked exactly-once by the demo itself.
#
#   benches/topologies.sh      # a markdown table on stdout
#
# Settings (environment): ROUNDS=3  DURATION=20s  RATE=1000
#   DATABASE_URL=postgres://...   store in PostgreSQL (default: SQLite)
#   SKIP_BUILD=1  BIN=path        the pact binary (default: the release build)
# Talks to 127.0.0.1 only (pact demo's ports are the OS's); every run is
# bounded by DURATION plus pact demo's own stall limit.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-20s}
RATE=${RATE:-1000}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/pact}

[ -n "${SKIP_BUILD:-}" ] || cargo build --release --locked -p pact >&2
command -v jq >/dev/null || { echo "jq is needed: apt-get install -y jq" >&2; exit 1; }

echo "| topology | rate | contacts/s end to end | p50 ms | p90 ms | p99 ms | max ms | exactly once |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for round in $(seq 1 "$ROUNDS"); do
  for rate in "$RATE" max; do
    for topology in explicit broker; do
      rate_args=()
      [ "$rate" = max ] || rate_args=(--rate "$rate")
      echo "round $round: $topology, rate $rate" >&2
      summary=$(timeout 300 "$BIN" demo --topology "$topology" --duration "$DURATION" \
        "${rate_args[@]}" --json)
      jq -r --arg t "$topology" --arg r "$rate" '
        "| \($t) | \($r) | \(.end_to_end_per_s | floor) | \(.latency_ms.p50 * 10 | round / 10) | \(.latency_ms.p90 * 10 | round / 10) | \(.latency_ms.p99 * 10 | round / 10) | \(.latency_ms.max * 10 | round / 10) | \(if .missing == 0 and .stored_twice == 0 then "yes" else "NO" end) |"
      ' <<<"$summary"
    done
  done
done
