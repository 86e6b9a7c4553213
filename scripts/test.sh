#!/usr/bin/env bash
# The README's test command (and CI's, via .ci/run): installs what is missing, builds with the
# `ci` preset (-Werror, build/ci) and runs every test: unit tests and the integration tests,
# which start their own redis-server, git servers, kiwid and kiwi-worker.
# Then the hardening stages (README "Hardening"): the unit and webhook tests again under
# ASan+UBSan (scripts/sanitized-tests.sh), a bounded fuzz run of every target (scripts/fuzz.sh)
# and clang-tidy on what changed since the tree was last checked whole (scripts/tidy.sh
# --since-clean), when KIWI_HARDENING=1. They are off by default, CI's run included, until one
# cold run of them on a 2-core machine has been measured (README "Hardening").
# Exits non-zero if any stage failed. Extra arguments go to ctest (e.g. -R unit).
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
if [[ ${KIWI_HARDENING:-0} != 0 ]]; then
  # Each stage's wall and CPU time (bash's `time`), so CI's budget can be read off the log.
  TIMEFORMAT='== %R s wall, %U s user + %S s system CPU'
  stage() {
    echo "== stage $1"
    time bash "${@:2}" || { echo "== stage $1 failed"; code=1; }
  }
  stage sanitized-tests scripts/sanitized-tests.sh
  stage fuzz scripts/fuzz.sh
  # clang-tidy on the sources changed since the commit at which the whole tree last passed
  # (.clang-tidy-clean): the whole tree is ~15-25 CPU minutes (scripts/tidy.sh without arguments).
  stage tidy scripts/tidy.sh --since-clean
  echo "== all stages: $(elapsed "$t0" "$(now)"), exit code $code"
fi
exit "$code"
