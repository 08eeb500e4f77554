#!/usr/bin/env bash
# Load benchmark of pact-query on a seeded PostgreSQL table (the issue's
# target: p99 of GET /contacts/{mmid} <= 10 ms and of
# GET /exposures/{mmid}?depth=2 <= 50 ms at concurrency 16, 1,000,000 contacts).
#
#   functions/query/benches/load.sh          # build, seed, measure, explain
#
# Steps:
#   1. cargo build --release -p pact-query (and the explain example);
#   2. (re)create the database $BENCH_DB, start pact-query (release) on it
#      with PACT_QUERY_AUTH=none, wait for /readyz (pact-query migrates it);
#   3. seed $ROWS contacts among $PEOPLE people over 30 days (benches/seed.sql);
#   4. for each endpoint: a short warm-up, then $CONCURRENCY `hey` clients for
#      $DURATION seconds. Mode "spread" (default): $CONCURRENCY hey processes
#      with one connection each, each asking about its own random person, so
#      the load covers the table as many users would; mode "single": one hey
#      with -c $CONCURRENCY on one person (hey takes one URL), the cache-hot
#      case. Latencies of every request are merged (hey -o csv) and printed as
#      p50/p90/p99/max with the request rate and the status codes;
#   5. EXPLAIN (ANALYZE, BUFFERS) of both queries for one person (examples/explain.rs).
#
# Everything talks to 127.0.0.1; the server this script started is stopped
# on exit (by pid). hey, the server and PostgreSQL share the machine's cores.
#
# Settings (environment):
#   DURATION=20  CONCURRENCY=16  MODES="spread single"  PORT=18090
#   ROWS=1000000  PEOPLE=100000  BENCH_DB=pact_bench
#   PGURL=postgres://postgres@127.0.0.1:5432   (server, without database)
#   SKIP_BUILD=1   use the binaries already built
#   SKIP_SEED=1    keep the database as it is (seeded by an earlier run)
#   PACT_DB_MAX_CONNECTIONS  passed through (pact-query's default: 5)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
DURATION=${DURATION:-20}
CONCURRENCY=${CONCURRENCY:-16}
MODES=${MODES:-"spread single"}
PORT=${PORT:-18090}
ROWS=${ROWS:-1000000}
PEOPLE=${PEOPLE:-100000}
BENCH_DB=${BENCH_DB:-pact_bench}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT_DIR=$(mktemp -d /tmp/pact-query-load.XXXXXX)
BASE=http://127.0.0.1:$PORT

for tool in hey psql curl python3; do
  command -v "$tool" >/dev/null || {
    echo "load.sh: $tool is missing (apt-get install -y hey postgresql-client curl python3)" >&2
    exit 1
  }
done
log() { printf '# %s\n' "$*" >&2; }

SERVER_PID=""
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# --- build -------------------------------------------------------------------
if [[ -z ${SKIP_BUILD:-} ]]; then
  log "building pact-query (release)"
  (cd "$ROOT" && cargo build --release -p pact-query --bin pact-query --example explain)
fi
SERVER=$TARGET_DIR/release/pact-query
EXPLAIN=$TARGET_DIR/release/examples/explain

# --- database and server -----------------------------------------------------
if [[ -z ${SKIP_SEED:-} ]]; then
  log "recreating database $BENCH_DB"
  psql "$PGURL/postgres" -q -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $BENCH_DB" -c "CREATE DATABASE $BENCH_DB"
fi
log "starting pact-query on port $PORT"
DATABASE_URL=$PGURL/$BENCH_DB PACT_QUERY_AUTH=none PACT_LOG=warn PORT=$PORT \
  "$SERVER" >"$OUT_DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
  curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT_DIR/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$BASE/readyz" >/dev/null || { echo "pact-query is not ready" >&2; exit 1; }

if [[ -z ${SKIP_SEED:-} ]]; then
  log "seeding $ROWS contacts among $PEOPLE people"
  start=$(date +%s)
  psql "$PGURL/$BENCH_DB" -q -v rows="$ROWS" -v people="$PEOPLE" -f "$HERE/seed.sql"
  log "seeded in $(( $(date +%s) - start )) s"
fi

# --- load ------------------------------------------------------------------------
# summarize NAME FILES...: one line of percentiles over hey's CSV outputs.
summarize() {
  local name=$1; shift
  python3 - "$name" "$DURATION" "$@" <<'PY'
import csv, sys
name, duration, files = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
times, codes = [], {}
for path in files:
    with open(path) as f:
        for row in csv.DictReader(f):
            times.append(float(row["response-time"]) * 1000)
            codes[row["status-code"]] = codes.get(row["status-code"], 0) + 1
times.sort()
def pct(p):
    return times[min(len(times) - 1, int(p / 100 * len(times)))] if times else float("nan")
print(f"{name:<34} {len(times)/duration:9.0f} {pct(50):8.2f} {pct(90):8.2f} {pct(99):8.2f} "
      f"{times[-1] if times else float('nan'):8.2f}  {codes}")
PY
}

# run NAME MODE PATH_TEMPLATE: PATH_TEMPLATE has {} where the person id goes.
run() {
  local name=$1 mode=$2 template=$3 files=() i
  local key=${name//[^a-z]/_}
  RANDOM=42
  if [[ $mode == single ]]; then
    local url=$BASE${template//\{\}/$(( RANDOM % PEOPLE + 1 ))}
    hey -z 2s -c "$CONCURRENCY" "$url" >/dev/null
    hey -z "${DURATION}s" -c "$CONCURRENCY" -o csv "$url" >"$OUT_DIR/$key.$mode.0.csv"
    files+=("$OUT_DIR/$key.$mode.0.csv")
  else
    local pids=()
    for i in $(seq "$CONCURRENCY"); do
      local url=$BASE${template//\{\}/$(( (RANDOM * 32768 + RANDOM) % PEOPLE + 1 ))}
      hey -z 2s -c 1 "$url" >/dev/null &
      pids+=($!)
    done
    wait "${pids[@]}"  # not a bare wait: the server is a background job too
    pids=()
    for i in $(seq "$CONCURRENCY"); do
      local url=$BASE${template//\{\}/$(( (RANDOM * 32768 + RANDOM) % PEOPLE + 1 ))}
      hey -z "${DURATION}s" -c 1 -o csv "$url" >"$OUT_DIR/$key.$mode.$i.csv" &
      pids+=($!)
      files+=("$OUT_DIR/$key.$mode.$i.csv")
    done
    wait "${pids[@]}"
  fi
  summarize "$name ($mode)" "${files[@]}"
}

echo
echo "pact-query, $ROWS contacts, $PEOPLE people, concurrency $CONCURRENCY, ${DURATION} s per run"
printf '%-34s %9s %8s %8s %8s %8s  %s\n' endpoint "req/s" "p50 ms" "p90 ms" "p99 ms" "max ms" status
for mode in $MODES; do
  run "/contacts/{mmid}" "$mode" "/contacts/{}"
  run "/exposures/{mmid}?depth=2" "$mode" "/exposures/{}?days=14&depth=2"
done

echo
person=$(( 4242 % PEOPLE + 1 ))
DATABASE_URL=$PGURL/$BENCH_DB "$EXPLAIN" "$person" 14 2
log "raw outputs in $OUT_DIR"
