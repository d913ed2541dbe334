#!/usr/bin/env bash
# npm run test:stress [-- RUNS [TAP_ARGS...]]: runs the whole suite (npm test) RUNS times (default 5) while one
# busy loop per core keeps the machine saturated, printing each run's summary and duration; TAP_ARGS go to tap
# (e.g. --disable-coverage). Exits non-zero if any run failed: a test that depends on timing shows up here, not
# at random in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
shift || true
cores=$(nproc)
logs=$(mktemp -d)

loops=()
stop_loops() { if [ ${#loops[@]} -gt 0 ]; then kill "${loops[@]}" 2>/dev/null || true; fi; }
trap stop_loops EXIT
for _ in $(seq "$cores"); do
  node -e 'for (;;) {}' &
  loops+=($!)
done
echo "== $runs run(s) of npm test on node $(node --version), with $cores busy loop(s) on $cores core(s); logs in $logs"

failed=0
for run in $(seq "$runs"); do
  started=$(date +%s)
  if npm test -- "$@" >"$logs/run-$run.log" 2>&1; then result=passed; else result=FAILED; failed=$((failed + 1)); fi
  summary=$(grep -E '^# \{ total' "$logs/run-$run.log" | tail -1 || true)
  echo "run $run/$runs: $result in $(( $(date +%s) - started )) s ${summary:-(no tap summary: see $logs/run-$run.log)}"
  if [ "$result" = FAILED ]; then
    # What failed, with tap's diagnostics; the whole output stays in the log.
    grep -E -A30 '^ *not ok' "$logs/run-$run.log" | head -400 || true
    tail -40 "$logs/run-$run.log"
  fi
done
echo "stress: $((runs - failed)) of $runs runs passed"
[ "$failed" -eq 0 ]
