#!/usr/bin/env bash
# Load benchmark of pact-contactlog on the local PostgreSQL: events/s and p99
# at several concurrencies, with group commit (the default) and with one
# commit per request (PACT_COMMIT_MAX_ROWS=1), in the same run.
#
#   benches/contactlog.sh      # results as a table on stdout
#
# Settings (environment): DURATION=10 CONCURRENCY="1 16 64" PORT=18190
#   ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres  SKIP_BUILD=1
# Talks to 127.0.0.1 only; every run is bounded by DURATION; the server it
# starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-"1 16 64"}
PORT=${PORT:-18190}
ADMIN_URL=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=pact_bench_contactlog
BIN=${CARGO_TARGET_DIR:-target}/release/pact-contactlog

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --locked -p pact-contactlog >&2

server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null || true; }
trap cleanup EXIT

echo "| commit mode | concurrency | events/s | p50 ms | p99 ms | non-2xx | commits | rows/commit |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for mode in group single; do
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
  max_rows=500; [ "$mode" = single ] && max_rows=1
  PORT=$PORT DATABASE_URL="${ADMIN_URL%/*}/$DB" PACT_LOG=warn PACT_COMMIT_MAX_ROWS=$max_rows \
    PACT_COMMIT_QUEUE=4096 "$BIN" 2>/dev/null &
  server=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1
  done
  for c in $CONCURRENCY; do
    threads=$(( c < 2 ? 1 : 2 ))
    before=$(curl -fs "http://127.0.0.1:$PORT/metrics" | awk '/^pact_db_commits_total/ {print $2}')
    result=$(OBSERVED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ) RUN_ID="$mode-$c-$$" \
      timeout $((DURATION + 30)) wrk -t"$threads" -c"$c" -d"${DURATION}s" --timeout 10s \
      -s benches/translated_event.lua "http://127.0.0.1:$PORT/" | grep '^RESULT')
    after=$(curl -fs "http://127.0.0.1:$PORT/metrics" | awk '/^pact_db_commits_total/ {print $2}')
    eval "$(echo "$result" | sed 's/^RESULT //')"
    commits=$(( ${after%.*} - ${before%.*} ))
    awk -v m="$mode" -v c="$c" -v r="$requests" -v d="$duration_s" -v p50="$p50_ms" \
        -v p99="$p99_ms" -v bad="$non2xx" -v k="$commits" \
        'BEGIN { printf "| %s | %d | %.0f | %.2f | %.2f | %d | %d | %.1f |\n", m, c, r/d, p50, p99, bad, k, (k ? r/k : 0) }'
  done
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
done
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB" >/dev/null
