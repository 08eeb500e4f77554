#!/usr/bin/env bash
# Load benchmark of pact-contactlog on the local PostgreSQL: requests/s,
# rows/s and p99 at several concurrencies, with group commit (the default)
# and with one commit per request (PACT_COMMIT_MAX_ROWS=1), in the same run.
#
#   benches/contactlog.sh      # results as a table on stdout
#
# Settings (environment): DURATION=10 CONCURRENCY="1 16 64" PORT=18190
#   ADMIN_URL=postgres://postgres@127.0.0.1:5432/postgres  SKIP_BUILD=1
#   BATCH=1       events per request (n > 1: one CloudEvents JSON batch)
#   MAX_ROWS=500  PACT_COMMIT_MAX_ROWS of the group runs
#   BIN=path      the build to run (default: the release build it makes)
#   OLD_BIN=path  another build (say, of the previous commit) run in group
#                 mode too, as "group (old)", for a before/after in one run
# Talks to 127.0.0.1 only; every run is bounded by DURATION; the server it
# starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONCURRENCY=${CONCURRENCY:-"1 16 64"}
PORT=${PORT:-18190}
ADMIN_URL=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=pact_bench_contactlog
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/pact-contactlog}

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --locked -p pact-contactlog >&2

server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null || true; }
trap cleanup EXIT

BATCH=${BATCH:-1}
MAX_ROWS=${MAX_ROWS:-500}
modes="group single"
[ -n "${OLD_BIN:-}" ] && modes="old group single"

echo "| commit mode | concurrency | requests/s | rows/s | p50 ms | p99 ms | non-2xx | commits | rows/commit |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for mode in $modes; do
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
  max_rows=$MAX_ROWS; bin=$BIN; label=$mode
  [ "$mode" = single ] && max_rows=1
  [ "$mode" = old ] && { bin=$OLD_BIN; label="group (old)"; }
  PORT=$PORT DATABASE_URL="${ADMIN_URL%/*}/$DB" PACT_LOG=warn PACT_COMMIT_MAX_ROWS=$max_rows \
    PACT_COMMIT_QUEUE=4096 "$bin" 2>/dev/null &
  server=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1
  done
  for c in $CONCURRENCY; do
    threads=$(( c < 2 ? 1 : 2 ))
    before=$(curl -fs "http://127.0.0.1:$PORT/metrics" | awk '/^pact_db_commits_total/ {print $2}')
    result=$(OBSERVED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ) RUN_ID="$mode-$c-$$" BATCH=$BATCH \
      timeout $((DURATION + 30)) wrk -t"$threads" -c"$c" -d"${DURATION}s" --timeout 10s \
      -s benches/translated_event.lua "http://127.0.0.1:$PORT/" | grep '^RESULT')
    after=$(curl -fs "http://127.0.0.1:$PORT/metrics" | awk '/^pact_db_commits_total/ {print $2}')
    eval "$(echo "$result" | sed 's/^RESULT //')"
    commits=$(( ${after%.*} - ${before%.*} ))
    awk -v m="$label" -v c="$c" -v r="$requests" -v d="$duration_s" -v p50="$p50_ms" \
        -v p99="$p99_ms" -v bad="$non2xx" -v k="$commits" -v b="$BATCH" \
        'BEGIN { printf "| %s | %d | %.0f | %.0f | %.2f | %.2f | %d | %d | %.1f |\n", m, c, r/d, r*b/d, p50, p99, bad, k, (k ? r*b/k : 0) }'
  done
  kill "$server"; wait "$server" 2>/dev/null || true; server=""
done
psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $DB" >/dev/null
