#!/usr/bin/env bash
# Heap allocations and instructions per request, in-process, counted by
# valgrind (DHAT and callgrind).
#
#   benches/allocs.sh [scenario ...]
#
# Runs the `allocs` bench program of pact-translation (functions/translation/
# benches/allocs.rs) twice per scenario under `valgrind --tool=dhat` and twice
# under `valgrind --tool=callgrind`: R1 and R2 requests, with the same set-up
# and the same number of requests built. (total(R2) - total(R1)) / (R2 - R1)
# is what one request allocates, and how many instructions it executes.
# Deterministic (the same on a busy machine, unlike timings); a few minutes.
#
# Settings: R1=200 R2=400; SKIP_BUILD=1 to use the bench binary already built.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
R1=${R1:-200}
R2=${R2:-400}
SCENARIOS=("$@")
if [[ ${#SCENARIOS[@]} -eq 0 ]]; then
  SCENARIOS=(router/bare_axum router/contract_floor translate/binary translate/binary_csv_out
    translate/structured translate/csv_line ingest/binary ingest/csv_line encode/build encode/reply_into_response)
fi
command -v valgrind >/dev/null || { echo "allocs.sh: valgrind is missing" >&2; exit 1; }

bin=$(cd "$ROOT" && cargo bench -p pact-translation --bench allocs --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "allocs" and m.get("executable"):
        print(m["executable"])')
[[ -x $bin ]] || { echo "allocs.sh: could not build the allocs bench" >&2; exit 1; }

# totals SCENARIO ROUNDS: "<bytes> <blocks>"
totals() {
  timeout 300 valgrind --tool=dhat --dhat-out-file=/dev/null "$bin" "$1" "$2" "$R2" 2>&1 |
    awk '/Total:/ { gsub(",", ""); print $3, $6 }'
}

# instructions SCENARIO ROUNDS: instructions executed (callgrind's Ir)
instructions() {
  timeout 600 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$R2" 2>&1 |
    awk '/Collected :/ { print $4 }'
}

printf '%-30s %14s %14s %14s\n' "per request" "allocations" "bytes" "instructions"
for s in "${SCENARIOS[@]}"; do
  read -r bytes1 blocks1 < <(totals "$s" "$R1")
  read -r bytes2 blocks2 < <(totals "$s" "$R2")
  ir1=$(instructions "$s" "$R1")
  ir2=$(instructions "$s" "$R2")
  awk -v s="$s" -v a1="$blocks1" -v a2="$blocks2" -v b1="$bytes1" -v b2="$bytes2" \
    -v i1="$ir1" -v i2="$ir2" -v n=$(( R2 - R1 )) \
    'BEGIN { printf "%-30s %14.1f %14.0f %14.0f\n", s, (a2 - a1) / n, (b2 - b1) / n, (i2 - i1) / n }'
done
