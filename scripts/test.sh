#!/usr/bin/env bash
# npm test [-- TAP_ARGS]: builds (the process and benchmark tests run dist/), then runs lint, the type check
# (src and tests) and the whole suite side by side; exits non-zero if any of them failed. Lint and type-check
# output is printed after the suite's.
set -uo pipefail
cd "$(dirname "$0")/.."
npm run -s build || { echo "build failed" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npm run -s lint >"$out/lint" 2>&1 & lint=$!
npm run -s typecheck >"$out/typecheck" 2>&1 & types=$!
tap "$@"; suite=$?
status=0
wait "$lint" || { cat "$out/lint"; echo "lint failed" >&2; status=1; }
wait "$types" || { cat "$out/typecheck"; echo "type check failed" >&2; status=1; }
[ "$suite" -eq 0 ] || { echo "the test suite failed" >&2; status=1; }
exit "$status"
