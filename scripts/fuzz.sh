#!/usr/bin/env bash
# Runs the property-based fuzzing of PACT's parsers for as long as asked:
# event intake in every mode, CSV, the bounded JSON reader, the binary-mode
# header codec and event ids (functions/runtime/tests/fuzz.rs), and pact-query's
# cursors and query parameters (the proptest properties of its cursor and
# params modules). Each round draws new random cases; a failing case is
# saved beside its test (*.proptest-regressions) and tried first next time.
#
# Usage: scripts/fuzz.sh [SECONDS]   (default 60)
#        PROPTEST_CASES=N scripts/fuzz.sh 3600   (cases per property per round)
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-60}"
export PROPTEST_CASES="${PROPTEST_CASES:-20000}"

# Release builds, built once: the same code, many more cases per second,
# and a run that does not rebuild when the tree changes under it.
test_binary() {
  cargo test --release --locked --no-run --message-format=json "$@" 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1
}
runtime_fuzz="$(test_binary -p pact-runtime --test fuzz)"
query_lib="$(test_binary -p pact-query --lib)"
if [ ! -x "$runtime_fuzz" ] || [ ! -x "$query_lib" ]; then
  echo "fuzz: could not build the test binaries" >&2
  exit 1
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
rounds=0
round() {
  # Run from the crate's folder, where the regressions file lives.
  if ! (cd "$1" && "${@:2}") >"$log" 2>&1; then
    cat "$log"
    echo "fuzz: a property failed in round $((rounds + 1)); the case is saved for the next run" >&2
    exit 1
  fi
}

started=$SECONDS
while (( SECONDS - started < duration )); do
  round functions/runtime "$runtime_fuzz" --test-threads 1
  round functions/query "$query_lib" --test-threads 1 cursor:: params::
  rounds=$((rounds + 1))
done
echo "fuzz: ${rounds} rounds of ${PROPTEST_CASES} cases per property in $((SECONDS - started)) s, no failure"
