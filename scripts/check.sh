#!/usr/bin/env bash
# The checks before the suite, side by side (they share no output): lint, type check (src and tests) and the
# build (dist/, which the process and benchmark tests run). Each one's output is printed; fails if any fails.
set -uo pipefail
cd "$(dirname "$0")/.."
npm run -s lint & lint=$!
npm run -s typecheck & types=$!
npm run -s build & build=$!
status=0
wait "$lint" || { echo "lint failed" >&2; status=1; }
wait "$types" || { echo "type check failed" >&2; status=1; }
wait "$build" || { echo "build failed" >&2; status=1; }
exit "$status"
