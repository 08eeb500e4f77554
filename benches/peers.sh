#!/usr/bin/env bash
# PACT's functions side by side with the runtimes a `kn func` user would pick
# instead (issue 18; figures and method in docs/performance.md, "Against the
# runtimes users would pick instead").
#
# Each server does one of PACT's jobs, and the servers of a job are measured
# on the same request (job_spec):
#   translation: a binary-mode `dev.pact.contact.untranslated` CloudEvent whose
#     data is a `text/csv` contact line -> 200 with a binary-mode JSON
#     `dev.pact.contact.translated` event (bare-hyper: a fixed reply);
#   producer: `POST /pact/producer?message=1,2,44.98,-93.25` -> one binary-mode
#     untranslated event POSTed to K_SINK (a bare-hyper sink this script
#     starts on the load generator's CPU), then 202;
#   contactlog: a binary-mode translated event, each with its own id
#     (benches/peers/rust-actix's peer-load: hey sends one fixed request) ->
#     one row in PostgreSQL's `contactlist`, then 200;
#   query: `GET /contacts/42` on 100,000 seeded contacts -> 200 with that
#     person's 20 contacts as JSON.
# The database jobs give each server its own fresh database on the local
# PostgreSQL (PG_URL), made every round with pact's migrations and dropped
# at the end. In ONE run, on 127.0.0.1 only, for each server and in
# interleaved rounds:
#   - cold start: exec -> first answer on the job's request (benches/coldstart.py);
#   - idle memory after start and one request: VmRSS, RssAnon, RssFile, RssShmem
#     (/proc/PID/status);
#   - CPU per event at concurrency 64: the server's utime+stime
#     (/proc/PID/stat, every thread) over the run divided by the answers with
#     the job's status;
#   - events/s at concurrency 64 and 1 (hey or peer-load, bounded request counts).
# With two or more cores the server runs pinned to one (taskset) and the load
# generator to another. Medians over the rounds are printed as a markdown
# table per job; raw figures stay in OUT_DIR.
#
# It installs what is missing for the peers (npm ci, a Python venv, the actix
# build; `hey` from Debian by apt-get), builds the actix peers and the
# bare-hyper example in the PROFILE given (release unless QUICK), and PACT's
# functions as they ship (static release binaries, always). It fails when a
# server does not answer with the job's status (to the probe, or to any
# request of a load run) or the table cannot be made; never on the figures
# themselves.
#
# Settings (environment):
#   SERVERS="..."     any of ALL_SERVERS below (default: all of them)
#   ROUNDS=3          interleaved rounds
#   COLD_RUNS=5       cold starts per server per round
#   REQUESTS=40000    requests per server per round at concurrency 64
#   REQUESTS_C1=4000  requests at concurrency 1 (0: skip)
#   QUICK=1           1 round, 2 cold starts, 400 and 100 requests, PROFILE=dev (CI)
#   PROFILE=release   cargo profile of the actix peer and bare hyper (dev:
#                     unoptimised, for a check that they answer, minutes
#                     faster to build); PACT's functions are always the
#                     static release build the images ship
#   SKIP_BUILD=1      use the binaries already built
#   PG_URL=postgres://postgres@127.0.0.1:5432/postgres  where the databases go
#   SEED_ROWS=100000  contacts in the query job's databases
#   OUT_DIR=<dir>     where raw outputs go (default: a new /tmp/pact-peers.*)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benches/proc.sh
source "$ROOT/benches/proc.sh"
PEERS=$ROOT/benches/peers
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
JOBS="translation producer contactlog query"
JOB_SERVERS_translation="node-faas-js-runtime python-func-python rust-actix-cloudevents bare-hyper pact-translation"
JOB_SERVERS_producer="node-producer python-producer rust-actix-producer pact-producer"
JOB_SERVERS_contactlog="node-contactlog python-contactlog rust-actix-contactlog pact-contactlog"
JOB_SERVERS_query="node-query python-query rust-actix-query pact-query"
ALL_SERVERS="$JOB_SERVERS_translation $JOB_SERVERS_producer $JOB_SERVERS_contactlog $JOB_SERVERS_query"
SERVERS=${SERVERS:-$ALL_SERVERS}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SEED_ROWS=${SEED_ROWS:-100000}
if [[ ${QUICK:-0} == 1 ]]; then
  ROUNDS=${ROUNDS:-1} COLD_RUNS=${COLD_RUNS:-2} REQUESTS=${REQUESTS:-400} REQUESTS_C1=${REQUESTS_C1:-100}
  PROFILE=${PROFILE:-dev}
fi
PROFILE=${PROFILE:-release}
case $PROFILE in
  release) PROFILE_DIR=release ;;
  dev) PROFILE_DIR=debug ;;
  *) echo "peers.sh: PROFILE is release or dev, not $PROFILE" >&2; exit 1 ;;
esac
ROUNDS=${ROUNDS:-3}
COLD_RUNS=${COLD_RUNS:-5}
REQUESTS=${REQUESTS:-40000}
REQUESTS_C1=${REQUESTS_C1:-4000}
CONCURRENCY=64
PORT_BASE=${PORT_BASE:-18300}
RAW=${OUT_DIR:-$(mktemp -d /tmp/pact-peers.XXXXXX)}
mkdir -p "$RAW"
# Build scripts (ring's) rerun when OUT_DIR changes: keep it from cargo.
unset OUT_DIR
CLK_TCK=$(getconf CLK_TCK)
# The function under test answers in reply mode with its offline geocoder.
unset K_SINK K_CE_OVERRIDES PACT_GEOCODER PACT_OUTPUT_FORMAT

log() { echo "peers.sh: $*" >&2; }
fail() { echo "peers.sh: $*" >&2; exit 1; }

for name in $SERVERS; do
  [[ " $ALL_SERVERS " == *" $name "* ]] || fail "unknown server $name (one of: $ALL_SERVERS)"
done
wants() { [[ " $SERVERS " == *" $1 "* ]]; }
# job_of NAME: the job a server does.
job_of() {
  case $1 in
    *-producer) echo producer ;;
    *-contactlog) echo contactlog ;;
    *-query) echo query ;;
    *) echo translation ;;
  esac
}
# wants_any PATTERN: some server whose name matches the glob.
wants_any() {
  local name
  for name in $SERVERS; do
    # shellcheck disable=SC2053 # a glob on purpose
    [[ $name == $1 ]] && return 0
  done
  return 1
}

# --- what the peers need -----------------------------------------------------
if ! command -v hey >/dev/null; then
  log "hey is missing: installing Debian's package with apt-get"
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq hey >/dev/null
fi
for tool in hey python3 curl; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done
if wants_any '*-contactlog' || wants_any '*-query'; then
  command -v psql >/dev/null || fail "psql is missing (the contactlog and query jobs need PostgreSQL)"
  timeout 30 psql -qAt "$PG_URL" -c 'SELECT 1' >/dev/null || fail "no PostgreSQL at $PG_URL"
fi

if wants_any 'node-*' \
  && [[ ! -f $PEERS/node/node_modules/faas-js-runtime/package.json || ! -f $PEERS/node/node_modules/pg/package.json ]]; then
  command -v npm >/dev/null || fail "node and npm are missing (apt-get install -y nodejs npm)"
  log "installing the Node peers (npm ci)"
  timeout 600 npm ci --prefix "$PEERS/node" --no-audit --no-fund --silent
fi
PY_VENV=$PEERS/python/.venv
if wants_any 'python-*' \
  && ! "$PY_VENV/bin/python" -c 'import func_python, httpx, psycopg, psycopg_pool' 2>/dev/null; then
  log "installing the Python peers (a venv with func-python, httpx, psycopg)"
  timeout 300 python3 -m venv "$PY_VENV"
  timeout 600 "$PY_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PEERS/python/requirements.txt"
fi

ACTIX=$TARGET_DIR/peers/$PROFILE_DIR/peer-rust-actix
# The generator for the contactlog job (hey cannot vary the event's id).
PEER_LOAD=$TARGET_DIR/peers/$PROFILE_DIR/peer-load
# PACT's functions as they ship in the images: static (static-pie) release
# binaries, built by scripts/images.sh the way the images are (all four
# together, so the build is the very one the images and tests/images use).
TRANSLATION=$ROOT/target/$(uname -m)-unknown-linux-gnu/release/pact-translation
PACT_BIN=${TRANSLATION%/*}
# bare_hyper goes to a target directory of its own: built with pact-runtime's
# dev-dependencies, it would otherwise make cargo rebuild pact-translation's
# dependencies (with fat LTO, minutes) every time the two are built in turn.
BARE=$TARGET_DIR/peers/$PROFILE_DIR/examples/bare_hyper
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  if wants_any 'rust-actix-*' || wants_any '*-contactlog'; then
    log "building the actix peers and peer-load ($PROFILE)"
    timeout 1800 cargo build --profile "$PROFILE" --locked --quiet --manifest-path "$PEERS/rust-actix/Cargo.toml" \
      --target-dir "$TARGET_DIR/peers"
  fi
  if wants_any 'pact-*'; then
    log "building PACT's functions (static, release, as scripts/images.sh builds them)"
    timeout 3600 "$ROOT/scripts/images.sh" --binaries producer translation contactlog query >/dev/null
  fi
  if wants bare-hyper || wants_any '*-producer'; then
    log "building the bare-hyper example ($PROFILE; also the producer job's sink)"
    (cd "$ROOT" && timeout 1800 cargo build --profile "$PROFILE" --locked --quiet -p pact-runtime --example bare_hyper \
      --target-dir "$TARGET_DIR/peers")
  fi
fi

# --- the jobs ------------------------------------------------------------------
OBSERVED_AT=$(date -u -d '1 minute ago' +%Y-%m-%dT%H:%M:%SZ)
TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
SINK_PORT=$(( PORT_BASE + 1 ))
QUERY_MMID=42
MESSAGE=1,2,44.98,-93.25

# job_spec JOB: the request of the job: METHOD, REQ_PATH, CONTENT_TYPE,
# HEADERS (hey's -H arguments), BODY, the STATUS that means done, and
# LOADER (hey, or peer-load where `{seq}` makes each event's id its own).
job_spec() {
  CONTENT_TYPE='' BODY='' HEADERS=() LOADER=hey STATUS=200
  case $1 in
    translation)
      METHOD=POST REQ_PATH=/ CONTENT_TYPE=text/csv BODY="1,2,44.9778,-93.265,$OBSERVED_AT"
      HEADERS=(
        -H 'ce-specversion: 1.0'
        -H 'ce-id: 0195a3c2-7d1e-7000-8000-000000000001'
        -H 'ce-source: /pact/producer'
        -H 'ce-type: dev.pact.contact.untranslated'
        -H "ce-time: $OBSERVED_AT"
        -H 'ce-partitionkey: 1-2'
        -H "ce-traceparent: $TRACEPARENT"
      ) ;;
    producer)
      # The original demo's endpoint; pact-producer answers 202 once the
      # sink took the event.
      METHOD=POST REQ_PATH="/pact/producer?message=$MESSAGE" STATUS=202 ;;
    contactlog)
      # As pact-translation emits it: binary mode, JSON data.
      METHOD=POST REQ_PATH=/ CONTENT_TYPE=application/json LOADER=peer-load
      BODY='{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265,"observed_at":"'$OBSERVED_AT'",'
      BODY+='"street":"","city":"Minneapolis","state":"MN","zipcode":"55415","country":"US","geocoder":"offline"}'
      HEADERS=(
        -H 'ce-specversion: 1.0'
        -H 'ce-id: peers-{seq}'
        -H 'ce-source: /pact/translation'
        -H 'ce-type: dev.pact.contact.translated'
        -H "ce-time: $OBSERVED_AT"
        -H 'ce-partitionkey: 1-2'
        -H "ce-traceparent: $TRACEPARENT"
      ) ;;
    query) METHOD=GET REQ_PATH=/contacts/$QUERY_MMID ;;
  esac
}

# db_of NAME: the database of a server of the contactlog or query job (none
# for the others).
db_of() {
  case $(job_of "$1") in
    contactlog | query) echo "pact_peers_${1//-/_}" ;;
  esac
}
db_url() { echo "${PG_URL%/*}/$1"; }
# pg URL ARGS...: psql, quiet, without the server's notices.
pg() { PGOPTIONS='-c client_min_messages=warning' timeout 300 psql -qAt -v ON_ERROR_STOP=1 "$@"; }

# --- the servers ---------------------------------------------------------------
# server_spec NAME: sets the job's request (job_spec), CMD (argv), ENVS
# (NAME=VALUE) and CWD; `{port}` in either becomes the port of the run.
server_spec() {
  CWD=$ROOT ENVS=()
  local job db
  job=$(job_of "$1") db=$(db_of "$1")
  job_spec "$job"
  case $job in
    producer) ENVS=(K_SINK="http://127.0.0.1:$SINK_PORT/") ;;
    # Plain text for every server: sqlx and libpq (psycopg) prefer TLS when
    # the server offers it, node-postgres and the actix peers' NoTls do not;
    # the same work for all.
    contactlog | query) ENVS=(DATABASE_URL="$(db_url "$db")?sslmode=disable") ;;
  esac
  case $1 in
    node-faas-js-runtime)
      CWD=$PEERS/node ENVS=(FUNC_LOG_LEVEL=warn)
      CMD=(node node_modules/faas-js-runtime/bin/cli.js --port '{port}' index.js) ;;
    python-func-python)
      CWD=$PEERS/python ENVS=(LISTEN_ADDRESS='127.0.0.1:{port}' LOG_LEVEL=warning)
      CMD=("$PY_VENV/bin/python" main.py) ;;
    rust-actix-cloudevents) ENVS=(RUST_LOG=warn) CMD=("$ACTIX") ;;
    bare-hyper) CMD=("$BARE") ;;
    pact-translation) ENVS=(PACT_LOG=warn) CMD=("$TRANSLATION") ;;
    node-*)
      # faas-js-runtime serves `/` only: the message and the person come
      # in the query string there.
      case $job in
        producer) REQ_PATH="/?message=$MESSAGE" ;;
        query) REQ_PATH="/?mmid=$QUERY_MMID" ;;
      esac
      CWD=$PEERS/node ENVS+=(FUNC_LOG_LEVEL=warn)
      CMD=(node node_modules/faas-js-runtime/bin/cli.js --port '{port}' "$job.js") ;;
    python-*)
      local template=cloudevents
      [[ $job == contactlog ]] || template=http
      CWD=$PEERS/python ENVS+=(LISTEN_ADDRESS='127.0.0.1:{port}' LOG_LEVEL=warning)
      CMD=("$PY_VENV/bin/python" main.py "$job" "$template") ;;
    rust-actix-*) ENVS+=(RUST_LOG=warn) CMD=("$ACTIX-$job") ;;
    pact-*)
      ENVS+=(PACT_LOG=warn)
      # Open access, as the peers have none (DESIGN.md section 5).
      [[ $job == query ]] && ENVS+=(PACT_QUERY_AUTH=none)
      CMD=("$PACT_BIN/$1") ;;
  esac
  [[ ${CMD[0]} == */* && ! -x ${CMD[0]} ]] && fail "$1: ${CMD[0]} is not built"
  return 0
}

# With two cores or more: the server on CPU 0, hey on CPU 1.
SERVER_PIN=() LOAD_PIN=() HEY_CPUS=$(nproc) COLD_PIN=()
if (( $(nproc) >= 2 )); then
  SERVER_PIN=(taskset -c 0) LOAD_PIN=(taskset -c 1) HEY_CPUS=1 COLD_PIN=(--server-cpus 0)
fi

STARTED=()
stop_server() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
DATABASES=()
stop_all() {
  local pid db
  for pid in "${STARTED[@]}"; do stop_server "$pid"; done
  for db in "${DATABASES[@]}"; do
    pg "$PG_URL" -c "DROP DATABASE IF EXISTS $db (FORCE)" >/dev/null 2>&1 || true
  done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# start_server NAME PORT: starts it pinned, sets SERVER_PID (the server's own
# pid: env and taskset exec it).
start_server() {
  local name=$1 port=$2
  server_spec "$name"
  local envs=("${ENVS[@]//\{port\}/$port}") cmd=("${CMD[@]//\{port\}/$port}")
  (cd "$CWD" && exec env PORT="$port" "${envs[@]}" "${SERVER_PIN[@]}" "${cmd[@]}") \
    >"$RAW/$name-$port.log" 2>&1 &
  SERVER_PID=$!
  STARTED+=("$SERVER_PID")
}

# seq_of TEXT: `{seq}` made unique (curl sends one request at a time).
seq_of() { local t=$1; echo "${t//\{seq\}/probe-$(date +%s%N)}"; }

# one_request PORT [OUTFILE]: the job's request (server_spec set it) once;
# prints the status (000: no answer).
one_request() {
  local args=(-X "$METHOD") h
  [[ -n $CONTENT_TYPE ]] && args+=(-H "Content-Type: $CONTENT_TYPE")
  for h in "${HEADERS[@]}"; do
    if [[ $h == -H ]]; then args+=(-H); else args+=("$(seq_of "$h")"); fi
  done
  [[ -n $BODY ]] && args+=(--data-binary "$(seq_of "$BODY")")
  [[ $METHOD == POST && -z $BODY ]] && args+=(-H 'Content-Length: 0')
  curl -sS -o "${2:-/dev/null}" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1$REQ_PATH" \
    "${args[@]}" 2>/dev/null || true
}

# wait_ready PORT PID: the job's status to its request within 30 s, or
# fail; 503 is "not ready yet" (a function migrating its database).
wait_ready() {
  local port=$1 pid=$2 status=000
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    status=$(one_request "$port" "$RAW/reply-$port.txt")
    [[ $status == 000 || $status == 503 ]] || break
    sleep 0.1
  done
  [[ $status == "$STATUS" ]] || { tail -5 "$RAW"/*-"$port".log >&2 || true; return 1; }
}

# run_load PORT CONCURRENCY REQUESTS OUTFILE: the job's request with its
# LOADER; both print hey's summary.
run_load() {
  local args=(-n "$3" -c "$2" -m "$METHOD" "${HEADERS[@]}")
  [[ -n $CONTENT_TYPE ]] && args+=(-T "$CONTENT_TYPE")
  [[ -n $BODY ]] && args+=(-d "$BODY")
  if [[ $LOADER == peer-load ]]; then
    timeout 300 "${LOAD_PIN[@]}" "$PEER_LOAD" "${args[@]}" "http://127.0.0.1:$1$REQ_PATH" >"$4"
  else
    timeout 300 "${LOAD_PIN[@]}" hey -cpus "$HEY_CPUS" -t 10 "${args[@]}" "http://127.0.0.1:$1$REQ_PATH" >"$4"
  fi
}

# hey_figure FILE WHAT [STATUS]: requests/s, the count of answers with
# STATUS (200), of other statuses and of errors, or the 99th percentile (ms).
hey_figure() {
  local want="[${3:-200}]"
  case $2 in
    rps) awk '/Requests\/sec:/ { print $2 }' "$1" ;;
    ok) awk -v w="$want" '$1 == w { n += $2 } END { print n + 0 }' "$1" ;;
    other) awk -v w="$want" '/^ *\[[0-9]+\]/ && $1 != w { n += $2 } END { print n + 0 }' "$1" ;;
    errors) awk '/^Error distribution:/ { e = 1; next } e && /^ *\[[0-9]+\]/ { gsub(/[][]/, "", $1); n += $1 } END { print n + 0 }' "$1" ;;
    p99) awk '$1 == "99%" && $2 == "in" { printf "%.3f", $3 * 1000 }' "$1" ;;
  esac
}

# --- the databases -------------------------------------------------------------
# The query job's contacts: SEED_ROWS rows among 10,000 people, each person
# in 20 of them (10 as mmid1, 10 as mmid2) at 100,000 rows, spread over the
# last days; the same for every server.
SEED_SQL="INSERT INTO contactlist (mmid1, mmid2, street, city, state, zipcode, country, lat, lon,
    observed_at, geocoder, event_source, event_id)
  SELECT i % 10000 + 1, (i % 10000 + 1 + i / 10000 % 9999) % 10000 + 1, '', 'Minneapolis', 'MN',
    '55415', 'US', 44.9778 + (i % 100) * 0.0001, -93.265, now() - i * interval '5 seconds',
    'offline', '/pact/translation', 'seed-' || i
  FROM generate_series(0, $SEED_ROWS - 1) AS i;
  ANALYZE contactlist;"

# prepare_db NAME: a fresh database for a contactlog or query server, with
# pact's schema: PACT's own function migrates it (its migrations table is
# then its own), a peer's gets migrations/postgres applied by psql. The
# query job's is seeded.
prepare_db() {
  local name=$1 db url pid
  db=$(db_of "$name")
  [[ -n $db ]] || return 0
  url=$(db_url "$db")
  [[ " ${DATABASES[*]} " == *" $db "* ]] || DATABASES+=("$db")
  pg "$PG_URL" -c "DROP DATABASE IF EXISTS $db (FORCE)" -c "CREATE DATABASE $db" >/dev/null \
    || fail "$name: could not create database $db"
  if [[ $name == pact-* ]]; then
    local port=$(( PORT_BASE + 2 )) ready=''
    (exec env PORT="$port" DATABASE_URL="$url" PACT_LOG=warn PACT_QUERY_AUTH=none "$PACT_BIN/$name") \
      >"$RAW/migrate-$name.log" 2>&1 &
    pid=$!
    STARTED+=("$pid")
    for _ in $(seq 300); do
      if curl -fs --max-time 2 "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    stop_server "$pid"
    [[ -n $ready ]] || { tail -5 "$RAW/migrate-$name.log" >&2; fail "$name did not migrate $db"; }
  else
    local file
    for file in "$ROOT"/migrations/postgres/*.sql; do
      pg "$url" -f "$file" >/dev/null || fail "$name: $file failed on $db"
    done
  fi
  if [[ $(job_of "$name") == query ]]; then
    pg "$url" -c "$SEED_SQL" >/dev/null || fail "$name: seeding $db failed"
  fi
}

# The producer job's K_SINK: bare hyper answers 200 to every POST. It runs
# on the load generator's CPU, so its work is not the producer's.
if wants_any '*-producer'; then
  [[ -x $BARE ]] || fail "the sink, $BARE, is not built"
  (exec env PORT="$SINK_PORT" "${LOAD_PIN[@]}" "$BARE") >"$RAW/sink.log" 2>&1 &
  STARTED+=("$!")
  for _ in $(seq 100); do
    curl -fs -o /dev/null --max-time 2 -X POST "http://127.0.0.1:$SINK_PORT/" && break
    sleep 0.1
  done
fi

RESULTS=$RAW/results.tsv
: >"$RESULTS"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }

echo "## Machine"
echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); kernel $(uname -r)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds, $COLD_RUNS cold starts and $REQUESTS requests at c=$CONCURRENCY ($REQUESTS_C1 at c=1) per server per round"
echo "pinning: server ${SERVER_PIN[*]:-none}, hey ${LOAD_PIN[*]:-none}; hey $(dpkg-query -W -f='${Version}' hey 2>/dev/null || echo '(version unknown)')"
if wants_any '*-contactlog' || wants_any '*-query'; then
  echo "PostgreSQL $(pg "$PG_URL" -c 'SHOW server_version') on the same machine; $SEED_ROWS contacts seeded for the query job"
fi
echo

# --- the rounds --------------------------------------------------------------
index=0
for round in $(seq "$ROUNDS"); do
  for name in $SERVERS; do
    index=$(( index + 1 ))
    port=$(( PORT_BASE + index * 20 ))
    log "round $round: $name"

    prepare_db "$name"
    server_spec "$name"
    cold_args=()
    for e in "${ENVS[@]}"; do cold_args+=(--env "$e"); done
    if [[ $(job_of "$name") == translation ]]; then
      cold_args+=(--csv)
    else
      cold_args+=(--method "$METHOD" --path "$REQ_PATH" --expect "$STATUS" --retry-503 --data "$BODY")
      [[ -n $CONTENT_TYPE ]] && cold_args+=(--header "Content-Type: $CONTENT_TYPE")
      for h in "${HEADERS[@]}"; do [[ $h == -H ]] || cold_args+=(--header "$h"); done
    fi
    timeout 300 python3 "$ROOT/benches/coldstart.py" --json --runs "$COLD_RUNS" --timeout 20 \
      --port $(( port + 1 )) --cwd "$CWD" "${COLD_PIN[@]}" --label "$name" "${cold_args[@]}" -- "${CMD[@]}" \
      >"$RAW/cold-$name-$round.json" || fail "$name: cold start failed (no $STATUS)"
    python3 -c 'import json, sys; [print(x) for x in json.load(open(sys.argv[1]))["first_200_ms"]]' \
      "$RAW/cold-$name-$round.json" | while read -r ms; do record "$round" "$name" cold_ms "$ms"; done

    start_server "$name" "$port"
    pid=$SERVER_PID
    wait_ready "$port" "$pid" || fail "$name did not answer $STATUS to the job's request"
    answered=$(( COLD_RUNS + 1 ))
    sleep 0.5
    for key in VmRSS RssAnon RssFile RssShmem; do
      record "$round" "$name" "$key" "$(status_kb "$pid" "$key")"
    done

    # A short warm-up at the same concurrency, not measured.
    run_load "$port" "$CONCURRENCY" $(( REQUESTS / 10 > CONCURRENCY ? REQUESTS / 10 : CONCURRENCY )) \
      "$RAW/warmup-$name-$round.txt" || fail "$name: $LOADER failed in the warm-up"
    answered=$(( answered + $(hey_figure "$RAW/warmup-$name-$round.txt" ok "$STATUS") ))
    for c in "$CONCURRENCY" 1; do
      n=$REQUESTS
      (( c == 1 )) && n=$REQUESTS_C1
      (( n > 0 )) || continue
      out=$RAW/hey-$name-c$c-$round.txt
      before=$(cpu_ticks "$pid")
      run_load "$port" "$c" "$n" "$out" || fail "$name: $LOADER failed at c=$c"
      after=$(cpu_ticks "$pid")
      ok=$(hey_figure "$out" ok "$STATUS") other=$(hey_figure "$out" other "$STATUS")
      errors=$(hey_figure "$out" errors)
      (( ok > 0 && other == 0 )) || fail "$name at c=$c: $ok answers $STATUS, $other other statuses ($out)"
      answered=$(( answered + ok ))
      record "$round" "$name" "rps_c$c" "$(hey_figure "$out" rps)"
      record "$round" "$name" "p99_ms_c$c" "$(hey_figure "$out" p99)"
      record "$round" "$name" "errors_c$c" "$errors"
      record "$round" "$name" "cpu_us_c$c" \
        "$(awk -v t=$(( after - before )) -v hz="$CLK_TCK" -v n="$ok" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
    done
    kill -0 "$pid" 2>/dev/null || fail "$name exited during the run"
    if [[ $(job_of "$name") == contactlog ]]; then
      # Every event answered 200 is one row: none lost, none taken for a duplicate.
      rows=$(pg "$(db_url "$(db_of "$name")")" -c 'SELECT count(*) FROM contactlist')
      (( rows == answered )) || fail "$name: $rows rows for $answered events answered 200"
    fi
    stop_server "$pid"
  done
done

# --- the table ---------------------------------------------------------------
echo "## Side by side: medians over $ROUNDS rounds (raw figures: $RESULTS)"
echo
if [[ ${QUICK:-0} == 1 ]]; then
  echo "QUICK: a check that every server answers; too few requests for the figures to mean anything."
  echo
fi
job_lines=()
for job in $JOBS; do
  job_spec "$job"
  servers=()
  for name in $SERVERS; do [[ $(job_of "$name") == "$job" ]] && servers+=("$name"); done
  (( ${#servers[@]} )) && job_lines+=("$job $STATUS ${servers[*]}")
done
python3 - "$RESULTS" "$CONCURRENCY" "${job_lines[@]}" <<'EOF'
import statistics
import sys

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
c = sys.argv[2]
jobs = [line.split() for line in sys.argv[3:]]
titles = {
    "translation": "translation: a binary-mode untranslated event (text/csv) in, a translated event out",
    "producer": "producer: `POST /pact/producer?message=…` → one binary-mode event POSTed to K_SINK, 202",
    "contactlog": "contactlog: a binary-mode translated event, each with its own id → one row in PostgreSQL",
    "query": "query: `GET /contacts/{mmid}` on the seeded contacts → that person's contacts as JSON",
}
labels = {
    "node-faas-js-runtime": "Node `faas-js-runtime` (kn func Node functions)",
    "python-func-python": "Python `func-python` (kn func Python functions)",
    "rust-actix-cloudevents": "actix-web + cloudevents-sdk (kn func's Rust template)",
    "bare-hyper": "bare hyper, fixed reply (the ceiling)",
    "pact-translation": "**pact-translation** (static build as shipped; offline geocoder, reply mode)",
    "node-producer": "Node `faas-js-runtime` + fetch (`POST /?message=`: the runtime serves `/` only)",
    "python-producer": "Python `func-python` (http) + httpx",
    "rust-actix-producer": "actix-web + reqwest + cloudevents-sdk",
    "pact-producer": "**pact-producer** (static build as shipped)",
    "node-contactlog": "Node `faas-js-runtime` + `pg`",
    "python-contactlog": "Python `func-python` + psycopg 3 async pool",
    "rust-actix-contactlog": "actix-web + cloudevents-sdk + deadpool-postgres",
    "pact-contactlog": "**pact-contactlog** (static build as shipped; group commit)",
    "node-query": "Node `faas-js-runtime` + `pg` (`GET /?mmid=`: the runtime serves `/` only)",
    "python-query": "Python `func-python` (http) + psycopg 3 async pool",
    "rust-actix-query": "actix-web + deadpool-postgres",
    "pact-query": "**pact-query** (static build as shipped)",
}
values = {}
for _, name, metric, value in rows:
    if value != "":
        values.setdefault((name, metric), []).append(float(value))

def med(name, metric):
    v = values.get((name, metric))
    if not v:
        raise SystemExit(f"peers.sh: no {metric} for {name}")
    return statistics.median(v)

def mib(kb):
    return f"{kb / 1024:.1f} MiB"

def table(status, servers):
    head = ["server", f"cold start, exec → first {status}", "idle VmRSS (RssAnon + RssFile + RssShmem)",
            f"CPU per event at c={c}", f"events/s at c={c}", f"p99 at c={c}"]
    if has_c1:
        head.append("events/s at c=1")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name in servers:
        row(name)

def row(name):
    cells = [
        labels[name],
        f"{med(name, 'cold_ms'):.1f} ms",
        f"{mib(med(name, 'VmRSS'))} ({mib(med(name, 'RssAnon'))} + {mib(med(name, 'RssFile'))}"
        f" + {mib(med(name, 'RssShmem'))})",
        f"{med(name, f'cpu_us_c{c}'):.1f} µs",
        f"{med(name, f'rps_c{c}'):,.0f}",
        f"{med(name, f'p99_ms_c{c}'):.2f} ms",
    ]
    if has_c1:
        cells.append(f"{med(name, 'rps_c1'):,.0f}")
    errors = sum(values.get((name, f"errors_c{c}"), [])) + sum(values.get((name, "errors_c1"), []))
    if errors:
        cells[0] += f" ({errors:.0f} requests failed without an answer)"
    print("| " + " | ".join(cells) + " |")

has_c1 = any(m == "rps_c1" for (_, m) in values)
for job, status, *servers in jobs:
    print(f"### {titles[job]}")
    print()
    table(status, servers)
    print()
EOF
echo "raw outputs: $RAW"
