#!/usr/bin/env bash
# PACT's functions side by side with the runtimes a `kn func` user would pick
# instead (issue 18; figures and method in docs/performance.md, "Against the
# runtimes users would pick instead").
#
# Every server answers the same binary-mode `dev.pact.contact.untranslated`
# CloudEvent whose data is a `text/csv` contact line with a binary-mode JSON
# `dev.pact.contact.translated` event (bare-hyper: a fixed reply). In ONE run,
# on 127.0.0.1 only, for each server and in interleaved rounds:
#   - cold start: exec -> first 200 on a POST of the event (benches/coldstart.py);
#   - idle memory after start and one event: VmRSS, RssAnon, RssFile, RssShmem
#     (/proc/PID/status);
#   - CPU per event at concurrency 64: the server's utime+stime
#     (/proc/PID/stat, every thread) over the run divided by the 200s answered;
#   - events/s at concurrency 64 and 1 (hey, bounded request counts).
# With two or more cores the server runs pinned to one (taskset) and hey to
# another. Medians over the rounds are printed as a markdown table; raw
# figures stay in OUT_DIR.
#
# It installs what is missing for the peers (npm ci, a Python venv, the actix
# build; `hey` from Debian by apt-get), builds the actix peer and the
# bare-hyper example in the PROFILE given (release unless QUICK), and PACT's
# functions as they ship (static release binaries, always). It fails when a server does not
# answer 200 (to the probe, or to any request of a load run) or the table
# cannot be made; never on the figures themselves.
#
# Settings (environment):
#   SERVERS="node-faas-js-runtime python-func-python rust-actix-cloudevents bare-hyper pact-translation"
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
#   OUT_DIR=<dir>     where raw outputs go (default: a new /tmp/pact-peers.*)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benches/proc.sh
source "$ROOT/benches/proc.sh"
PEERS=$ROOT/benches/peers
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
ALL_SERVERS="node-faas-js-runtime python-func-python rust-actix-cloudevents bare-hyper pact-translation"
SERVERS=${SERVERS:-$ALL_SERVERS}
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

# --- what the peers need -----------------------------------------------------
if ! command -v hey >/dev/null; then
  log "hey is missing: installing Debian's package with apt-get"
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq hey >/dev/null
fi
for tool in hey python3 curl; do
  command -v "$tool" >/dev/null || fail "$tool is missing"
done

if wants node-faas-js-runtime && [[ ! -f $PEERS/node/node_modules/faas-js-runtime/package.json ]]; then
  command -v npm >/dev/null || fail "node and npm are missing (apt-get install -y nodejs npm)"
  log "installing the Node peer (npm ci)"
  timeout 600 npm ci --prefix "$PEERS/node" --no-audit --no-fund --silent
fi
PY_VENV=$PEERS/python/.venv
if wants python-func-python && ! "$PY_VENV/bin/python" -c 'import func_python' 2>/dev/null; then
  log "installing the Python peer (a venv with func-python)"
  timeout 300 python3 -m venv "$PY_VENV"
  timeout 600 "$PY_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$PEERS/python/requirements.txt"
fi

ACTIX=$TARGET_DIR/peers/$PROFILE_DIR/peer-rust-actix
# PACT's functions as they ship in the images: static (static-pie) release
# binaries, built by scripts/images.sh the way the images are (all four
# together, so the build is the very one the images and tests/images use).
TRANSLATION=$ROOT/target/$(uname -m)-unknown-linux-gnu/release/pact-translation
# bare_hyper goes to a target directory of its own: built with pact-runtime's
# dev-dependencies, it would otherwise make cargo rebuild pact-translation's
# dependencies (with fat LTO, minutes) every time the two are built in turn.
BARE=$TARGET_DIR/peers/$PROFILE_DIR/examples/bare_hyper
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  if wants rust-actix-cloudevents; then
    log "building the actix peer ($PROFILE)"
    timeout 1800 cargo build --profile "$PROFILE" --locked --quiet --manifest-path "$PEERS/rust-actix/Cargo.toml" \
      --target-dir "$TARGET_DIR/peers"
  fi
  if wants pact-translation; then
    log "building PACT's functions (static, release, as scripts/images.sh builds them)"
    timeout 3600 "$ROOT/scripts/images.sh" --binaries producer translation contactlog query >/dev/null
  fi
  if wants bare-hyper; then
    log "building the bare-hyper example ($PROFILE)"
    (cd "$ROOT" && timeout 1800 cargo build --profile "$PROFILE" --locked --quiet -p pact-runtime --example bare_hyper \
      --target-dir "$TARGET_DIR/peers")
  fi
fi

# --- the servers ---------------------------------------------------------------
# server_spec NAME: sets CMD (argv), ENVS (NAME=VALUE) and CWD; `{port}` in
# either becomes the port of the run.
server_spec() {
  CWD=$ROOT ENVS=()
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
stop_all() {
  local pid
  for pid in "${STARTED[@]}"; do stop_server "$pid"; done
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

OBSERVED_AT=$(date -u -d '1 minute ago' +%Y-%m-%dT%H:%M:%SZ)
BODY="1,2,44.9778,-93.265,$OBSERVED_AT"
EVENT_HEADERS=(
  -H 'ce-specversion: 1.0'
  -H 'ce-id: 0195a3c2-7d1e-7000-8000-000000000001'
  -H 'ce-source: /pact/producer'
  -H 'ce-type: dev.pact.contact.untranslated'
  -H "ce-time: $OBSERVED_AT"
  -H 'ce-partitionkey: 1-2'
  -H 'ce-traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
)

# one_event PORT [OUTFILE]: the event once; prints the status (000: no answer).
one_event() {
  curl -sS -o "${2:-/dev/null}" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/" \
    -H 'Content-Type: text/csv' "${EVENT_HEADERS[@]}" --data-binary "$BODY" 2>/dev/null || true
}

# wait_ready PORT PID: the event answered 200 within 30 s, or fail.
wait_ready() {
  local port=$1 pid=$2 status=000
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    status=$(one_event "$port" "$RAW/reply-$port.txt")
    [[ $status == 000 ]] || break
    sleep 0.1
  done
  [[ $status == 200 ]] || { tail -5 "$RAW"/*-"$port".log >&2 || true; return 1; }
}



# run_hey PORT CONCURRENCY REQUESTS OUTFILE
run_hey() {
  timeout 300 "${LOAD_PIN[@]}" hey -n "$3" -c "$2" -cpus "$HEY_CPUS" -t 10 -m POST -T text/csv \
    "${EVENT_HEADERS[@]}" -d "$BODY" "http://127.0.0.1:$1/" >"$4"
}

# hey_figure FILE WHAT: requests/s, the count of 200s, of other statuses and
# of errors, or the 99th percentile (ms).
hey_figure() {
  case $2 in
    rps) awk '/Requests\/sec:/ { print $2 }' "$1" ;;
    ok) awk '$1 == "[200]" { n += $2 } END { print n + 0 }' "$1" ;;
    other) awk '/^ *\[[0-9]+\]/ && $1 != "[200]" { n += $2 } END { print n + 0 }' "$1" ;;
    errors) awk '/^Error distribution:/ { e = 1; next } e && /^ *\[[0-9]+\]/ { gsub(/[][]/, "", $1); n += $1 } END { print n + 0 }' "$1" ;;
    p99) awk '$1 == "99%" && $2 == "in" { printf "%.3f", $3 * 1000 }' "$1" ;;
  esac
}

RESULTS=$RAW/results.tsv
: >"$RESULTS"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RESULTS"; }

echo "## Machine"
echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); kernel $(uname -r)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds, $COLD_RUNS cold starts and $REQUESTS requests at c=$CONCURRENCY ($REQUESTS_C1 at c=1) per server per round"
echo "pinning: server ${SERVER_PIN[*]:-none}, hey ${LOAD_PIN[*]:-none}; hey $(dpkg-query -W -f='${Version}' hey 2>/dev/null || echo '(version unknown)')"
echo

# --- the rounds --------------------------------------------------------------
index=0
for round in $(seq "$ROUNDS"); do
  for name in $SERVERS; do
    index=$(( index + 1 ))
    port=$(( PORT_BASE + index * 20 ))
    log "round $round: $name"

    server_spec "$name"
    cold_args=()
    for e in "${ENVS[@]}"; do cold_args+=(--env "$e"); done
    timeout 300 python3 "$ROOT/benches/coldstart.py" --csv --json --runs "$COLD_RUNS" --timeout 20 \
      --port $(( port + 1 )) --cwd "$CWD" "${COLD_PIN[@]}" --label "$name" "${cold_args[@]}" -- "${CMD[@]}" \
      >"$RAW/cold-$name-$round.json" || fail "$name: cold start failed (no 200)"
    python3 -c 'import json, sys; [print(x) for x in json.load(open(sys.argv[1]))["first_200_ms"]]' \
      "$RAW/cold-$name-$round.json" | while read -r ms; do record "$round" "$name" cold_ms "$ms"; done

    start_server "$name" "$port"
    pid=$SERVER_PID
    wait_ready "$port" "$pid" || fail "$name did not answer 200 to the event"
    sleep 0.5
    for key in VmRSS RssAnon RssFile RssShmem; do
      record "$round" "$name" "$key" "$(status_kb "$pid" "$key")"
    done

    # A short warm-up at the same concurrency, not measured.
    run_hey "$port" "$CONCURRENCY" $(( REQUESTS / 10 > CONCURRENCY ? REQUESTS / 10 : CONCURRENCY )) \
      "$RAW/warmup-$name-$round.txt" || fail "$name: hey failed in the warm-up"
    for c in "$CONCURRENCY" 1; do
      n=$REQUESTS
      (( c == 1 )) && n=$REQUESTS_C1
      (( n > 0 )) || continue
      out=$RAW/hey-$name-c$c-$round.txt
      before=$(cpu_ticks "$pid")
      run_hey "$port" "$c" "$n" "$out" || fail "$name: hey failed at c=$c"
      after=$(cpu_ticks "$pid")
      ok=$(hey_figure "$out" ok) other=$(hey_figure "$out" other) errors=$(hey_figure "$out" errors)
      (( ok > 0 && other == 0 )) || fail "$name at c=$c: $ok answers 200, $other other statuses ($out)"
      record "$round" "$name" "rps_c$c" "$(hey_figure "$out" rps)"
      record "$round" "$name" "p99_ms_c$c" "$(hey_figure "$out" p99)"
      record "$round" "$name" "errors_c$c" "$errors"
      record "$round" "$name" "cpu_us_c$c" \
        "$(awk -v t=$(( after - before )) -v hz="$CLK_TCK" -v n="$ok" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
    done
    kill -0 "$pid" 2>/dev/null || fail "$name exited during the run"
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
python3 - "$RESULTS" "$SERVERS" "$CONCURRENCY" <<'EOF'
import statistics
import sys

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
servers, c = sys.argv[2].split(), sys.argv[3]
labels = {
    "node-faas-js-runtime": "Node `faas-js-runtime` (kn func Node functions)",
    "python-func-python": "Python `func-python` (kn func Python functions)",
    "rust-actix-cloudevents": "actix-web + cloudevents-sdk (kn func's Rust template)",
    "bare-hyper": "bare hyper, fixed reply (the ceiling)",
    "pact-translation": "**pact-translation** (static build as shipped; offline geocoder, reply mode)",
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

has_c1 = any(m == "rps_c1" for (_, m) in values)
head = ["server", "cold start, exec → first 200", "idle VmRSS (RssAnon + RssFile + RssShmem)",
        f"CPU per event at c={c}", f"events/s at c={c}", f"p99 at c={c}"]
if has_c1:
    head.append("events/s at c=1")
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for name in servers:
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
EOF
echo
echo "raw outputs: $RAW"
