#!/usr/bin/env bash
# The README's test command (and CI's, via .ci/run): installs what is missing, builds with the
# `ci` preset (-Werror, build/ci) and runs every test: unit tests and the integration tests,
# which start their own redis-server, git servers, kiwid and kiwi-worker.
# Exits with ctest's status. Extra arguments go to ctest (e.g. -R unit).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export CCACHE_DIR=${CCACHE_DIR:-${HOME:-/root}/.cache/ccache}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", b - a }'; }

t0=$(now)
cmake --preset ci >/dev/null
cmake --build --preset ci
t1=$(now)
echo "== build: $(elapsed "$t0" "$t1")"
code=0
ctest --preset ci --output-on-failure -j2 "$@" || code=$?
t2=$(now)
echo "== build: $(elapsed "$t0" "$t1"), tests: $(elapsed "$t1" "$t2"), ctest exit code $code"
exit "$code"
