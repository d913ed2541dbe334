#!/usr/bin/env bash
# npm test [-- TAP_ARGS]: the build (the process and benchmark tests run dist/) beside the type check (src and
# tests), then the whole suite beside lint; exits non-zero if any of them failed. The type check runs before
# tap starts because tap may rebuild its own types on its first run (when .taprc's plugins change).
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
npm run -s typecheck >"$out/typecheck" 2>&1 & types=$!
npm run -s build || { echo "build failed" >&2; exit 1; }
wait "$types" || { cat "$out/typecheck"; echo "type check failed" >&2; status=1; }
npm run -s lint >"$out/lint" 2>&1 & lint=$!
tap "$@" || { echo "the test suite failed" >&2; status=1; }
wait "$lint" || { cat "$out/lint"; echo "lint failed" >&2; status=1; }
exit "$status"
