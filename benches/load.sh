#!/usr/bin/env bash
# Load benchmark of one PACT function against the ceiling, a bare hyper server.
#
#   benches/load.sh            # build, then measure; results as tables on stdout
#   SERVERS="pact-translation contract-floor axum-floor bare-hyper" benches/load.sh
#
# Servers (SERVERS, default "pact-translation bare-hyper"):
#   pact-translation       reply mode, offline geocoder, PACT_LOG=warn
#   pact-translation-info  the same with the container's log settings
#                          (PACT_LOG=info, PACT_LOG_FORMAT=json)
#   pact-translation-jemalloc, pact-translation-mimalloc
#                          pact-translation with another malloc through LD_PRELOAD
#                          (apt-get install libjemalloc2 libmimalloc2.0): an experiment
#   contract-floor         fixed reply inside pact_runtime's contract (examples/axum_floor.rs)
#   axum-floor             fixed reply from a plain axum Router (examples/axum_floor.rs)
#   bare-hyper             fixed reply from bare hyper 1 (examples/bare_hyper.rs), the ceiling
# Measured:
#   - cold start of pact-translation and bare-hyper: exec -> first 200 on POST /
#     (benches/coldstart.py), COLD_RUNS runs each;
# and for each server:
#   - RSS: idle after start (after one event), peak (VmHWM) after all load;
#   - wrk with one binary-mode CloudEvent per request (benches/binary_event.lua)
#     at each concurrency of CONCURRENCY, DURATION seconds each, REPEAT times
#     (the servers take turns, so a disturbance is likely to show in all);
#   - CPU per event at every concurrency: utime+stime of the server process
#     (/proc/<pid>/stat) over the wrk run, divided by requests served; the
#     ratio to bare-hyper of the same repeat at the highest concurrency.
#
# Everything talks to 127.0.0.1 only, every step has a timeout, and the
# servers this script started are stopped on exit (by pid).
#
# Settings (environment):
#   DURATION=10  REPEAT=2  COLD_RUNS=20  CONCURRENCY="1 16 64"  PORT_BASE=18080
#   SERVERS="pact-translation bare-hyper" (bare-hyper is always measured)
#   SKIP_BUILD=1      use binaries already built (CARGO_TARGET_DIR or ./target)
#   WAIT_IDLE=600     first wait up to this many seconds for load average < 0.5
#   OUT_DIR=...       keep raw outputs here (default: a temporary directory)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benches/proc.sh
source "$ROOT/benches/proc.sh"
DURATION=${DURATION:-10}
REPEAT=${REPEAT:-2}
COLD_RUNS=${COLD_RUNS:-20}
CONCURRENCY=${CONCURRENCY:-"1 16 64"}
PORT_BASE=${PORT_BASE:-18080}
WAIT_IDLE=${WAIT_IDLE:-0}
SERVERS=${SERVERS:-"pact-translation bare-hyper"}
[[ " $SERVERS " == *" bare-hyper "* ]] || SERVERS="$SERVERS bare-hyper"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/pact-load.XXXXXX)}
mkdir -p "$OUT_DIR"
CLK_TCK=$(getconf CLK_TCK)
MAX_C=$(tr ' ' '\n' <<<"$CONCURRENCY" | sort -n | tail -1)

for tool in wrk python3 curl; do
  command -v "$tool" >/dev/null || { echo "load.sh: $tool is missing (apt-get install -y wrk python3 curl)" >&2; exit 1; }
done

log() { printf '# %s\n' "$*" >&2; }

# --- servers ---------------------------------------------------------------
SERVER_PID=""
stop_server() {
  local pid=${1:-$SERVER_PID}
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  [[ $pid == "$SERVER_PID" ]] && SERVER_PID=""
  return 0
}
trap 'stop_server' EXIT
trap 'exit 130' INT TERM

# start_server NAME PORT: exec the server in the background, wait until it listens.
start_server() {
  local name=$1 port=$2
  case $name in
    pact-translation) PORT=$port PACT_LOG=warn "$TRANSLATION" >"$OUT_DIR/$name.log" 2>&1 & ;;
    pact-translation-info)
      PORT=$port PACT_LOG=info PACT_LOG_FORMAT=json "$TRANSLATION" >"$OUT_DIR/$name.log" 2>&1 & ;;
    pact-translation-jemalloc | pact-translation-mimalloc)
      lib=/usr/lib/x86_64-linux-gnu/lib${name##*-}.so.2
      [[ -r $lib ]] || { echo "load.sh: $lib is missing (apt-get install libjemalloc2 libmimalloc2.0)" >&2; exit 1; }
      LD_PRELOAD=$lib PORT=$port PACT_LOG=warn "$TRANSLATION" >"$OUT_DIR/$name.log" 2>&1 & ;;
    contract-floor) PORT=$port FLOOR=contract PACT_LOG=warn "$FLOOR_BIN" >"$OUT_DIR/$name.log" 2>&1 & ;;
    axum-floor) PORT=$port FLOOR=axum "$FLOOR_BIN" >"$OUT_DIR/$name.log" 2>&1 & ;;
    bare-hyper) PORT=$port "$BARE" >"$OUT_DIR/$name.log" 2>&1 & ;;
    *) echo "load.sh: unknown server $name" >&2; exit 1 ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "$name exited at start:" >&2; cat "$OUT_DIR/$name.log" >&2; exit 1; }
    sleep 0.05
  done
  echo "$name is not listening on $port after 5 s" >&2
  exit 1
}

# to_ms VALUE: wrk's "512.00us" / "1.23ms" / "1.05s" in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}

one_event() {
  curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/" \
    -H 'Content-Type: application/json' -H 'ce-specversion: 1.0' \
    -H 'ce-id: 0195a3c2-7d1e-7000-8000-000000000001' -H 'ce-source: /pact/producer' \
    -H 'ce-type: dev.pact.contact.untranslated' -H "ce-time: $OBSERVED_AT" \
    --data "{\"mmid1\":1,\"mmid2\":2,\"lat\":44.9778,\"lon\":-93.265,\"observed_at\":\"$OBSERVED_AT\"}"
}

# run_wrk PORT C OUTFILE
run_wrk() {
  local port=$1 c=$2 out=$3 threads=2
  (( c < 2 )) && threads=1
  timeout $(( DURATION + 20 )) wrk -t"$threads" -c"$c" -d"${DURATION}s" --timeout 5s --latency \
    -s "$ROOT/benches/binary_event.lua" "http://127.0.0.1:$port/" >"$out"
}

# --- preparation -----------------------------------------------------------
if [[ $WAIT_IDLE -gt 0 ]]; then
  waited=0
  while awk '{ exit !($1 >= 0.5) }' /proc/loadavg && (( waited < WAIT_IDLE )); do
    log "load average $(cut -d' ' -f1-3 /proc/loadavg); waiting ($waited s of $WAIT_IDLE)"
    sleep 30; waited=$(( waited + 30 ))
  done
fi

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  log "building release binaries"
  (cd "$ROOT" && cargo build --release --quiet -p pact-translation --bin pact-translation &&
    cargo build --release --quiet -p pact-runtime --example bare_hyper --example axum_floor)
fi
TRANSLATION=$TARGET_DIR/release/pact-translation
BARE=$TARGET_DIR/release/examples/bare_hyper
FLOOR_BIN=$TARGET_DIR/release/examples/axum_floor
for bin in "$TRANSLATION" "$BARE" "$FLOOR_BIN"; do
  [[ -x $bin ]] || { echo "load.sh: $bin is not built" >&2; exit 1; }
done

OBSERVED_AT=$(date -u -d '1 minute ago' +%Y-%m-%dT%H:%M:%SZ)
export OBSERVED_AT

echo "## Machine"
echo "nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); kernel $(uname -r)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); duration ${DURATION}s per wrk run, $REPEAT repeats, wrk and server share the cores"
echo "binaries: $(stat -c '%n %s B' "$TRANSLATION"); $(stat -c '%n %s B' "$BARE")"
echo

# --- cold start ------------------------------------------------------------
echo "## Cold start: exec -> first 200 on POST / ($COLD_RUNS runs each)"
python3 "$ROOT/benches/coldstart.py" --runs "$COLD_RUNS" --port $(( PORT_BASE + 100 )) \
  --label pact-translation --env PACT_LOG=warn --json -- "$TRANSLATION" >"$OUT_DIR/cold-translation.json"
python3 "$ROOT/benches/coldstart.py" --runs "$COLD_RUNS" --port $(( PORT_BASE + 200 )) \
  --label bare-hyper --json -- "$BARE" >"$OUT_DIR/cold-bare.json"
python3 - "$OUT_DIR/cold-translation.json" "$OUT_DIR/cold-bare.json" <<'EOF'
import json, sys
print(f"{'server':<18}{'listening med':>14}{'p90':>8}{'first 200 med':>15}{'p90':>8}{'min':>8}{'max':>8}  (ms)")
for path in sys.argv[1:]:
    s = json.load(open(path))
    print(f"{s['label']:<18}{s['ready_ms_median']:>14.2f}{s['ready_ms_p90']:>8.2f}"
          f"{s['first_200_ms_median']:>15.2f}{s['first_200_ms_p90']:>8.2f}"
          f"{s['first_200_ms_min']:>8.2f}{s['first_200_ms_max']:>8.2f}")
EOF
echo

# --- load ------------------------------------------------------------------
RESULTS=$OUT_DIR/results.tsv
MEMORY=$OUT_DIR/memory.tsv
: >"$RESULTS"; : >"$MEMORY"
index=0
for run in $(seq "$REPEAT"); do
  for name in $SERVERS; do
    index=$(( index + 1 ))
    port=$(( PORT_BASE + index ))
    log "run $run: $name on 127.0.0.1:$port"
    start_server "$name" "$port"
    pid=$SERVER_PID
    [[ -r /proc/$pid/stat ]] || { echo "load.sh: no process $pid for $name" >&2; exit 1; }
    status=$(one_event "$port")
    [[ $status == 200 ]] || { echo "$name answered $status to one event" >&2; exit 1; }
    sleep 0.5
    idle_kb=$(status_kb "$pid" VmRSS)
    # A short warm-up at the highest concurrency, not measured.
    DURATION=2 run_wrk "$port" "$MAX_C" "$OUT_DIR/warmup-$name-$run.txt"
    for c in $CONCURRENCY; do
      out=$OUT_DIR/wrk-$name-c$c-run$run.txt
      before=$(cpu_ticks "$pid")
      run_wrk "$port" "$c" "$out"
      after=$(cpu_ticks "$pid")
      requests=$(awk '/requests in/ { print $1 }' "$out")
      rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
      p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
      p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
      non2xx=$(awk '/Non-2xx/ { print $NF }' "$out"); non2xx=${non2xx:-0}
      sockerr=$(awk '/Socket errors/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$out"); sockerr=${sockerr:-0}
      ticks=$(( after - before ))
      cpu_us=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
      cores=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v d="$DURATION" 'BEGIN { printf "%.2f", t / hz / d }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$c" "$rps" "$p50" "$p99" \
        "$requests" "$non2xx" "$sockerr" "$cpu_us" "$cores" >>"$RESULTS"
    done
    peak_kb=$(status_kb "$pid" VmHWM)
    after_kb=$(status_kb "$pid" VmRSS)
    printf '%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$idle_kb" "$peak_kb" "$after_kb" >>"$MEMORY"
    stop_server "$pid"
  done
done

echo "## Throughput and latency (wrk, one binary-mode CloudEvent per request, ${DURATION}s each)"
{
  printf 'run\tserver\tconc\treq/s\tp50_ms\tp99_ms\trequests\tnon2xx\tsock_err\tcpu_us/req\tserver_cores\n'
  cat "$RESULTS"
} | column -t -s $'\t'
echo

echo "## Best run (highest req/s) and spread over $REPEAT runs"
python3 - "$RESULTS" <<'EOF'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter="\t"))
groups = {}
for r in rows:
    groups.setdefault((r[1], int(r[2])), []).append(r)
order = ["pact-translation", "pact-translation-info", "pact-translation-jemalloc",
         "pact-translation-mimalloc", "contract-floor", "axum-floor", "bare-hyper"]
print(f"{'server':<22}{'conc':>5}{'req/s best':>12}{'req/s range':>22}{'p99 ms best':>13}{'p99 range':>18}{'cpu us/req':>12}")
for (name, c), rs in sorted(groups.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
    best = max(rs, key=lambda r: float(r[3]))
    rps = [float(r[3]) for r in rs]
    p99 = [float(r[5]) for r in rs]
    print(f"{name:<22}{c:>5}{float(best[3]):>12.0f}{f'{min(rps):.0f}-{max(rps):.0f}':>22}"
          f"{float(best[5]):>13.3f}{f'{min(p99):.3f}-{max(p99):.3f}':>18}{float(best[9]):>12.2f}")
EOF
echo

echo "## CPU per event at concurrency $MAX_C, as a multiple of bare hyper in the same repeat"
python3 - "$RESULTS" "$MAX_C" <<'EOF'
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1]), delimiter="\t") if r[2] == sys.argv[2]]
runs = sorted({r[0] for r in rows}, key=int)
names = list(dict.fromkeys(r[1] for r in rows))
print(f"{'run':>4}" + "".join(f"  {n + ' us/req':>28} {'ratio':>6}" for n in names))
for run in runs:
    cpu = {r[1]: float(r[9]) for r in rows if r[0] == run}
    bare = cpu["bare-hyper"]
    print(f"{run:>4}" + "".join(f"  {cpu[n]:>28.2f} {cpu[n] / bare:>6.2f}" for n in names))
EOF
echo

echo "## Memory (KiB, /proc/<pid>/status)"
{
  printf 'run\tserver\tidle_VmRSS\tpeak_VmHWM\tVmRSS_after_load\n'
  cat "$MEMORY"
} | column -t -s $'\t'
echo
echo "raw outputs: $OUT_DIR"
