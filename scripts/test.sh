#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test (unit tests and
# integration tests that start their own redis-server, git servers, kiwid and kiwi-worker).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
start=$(date +%s)
cmake --preset ci >/dev/null
cmake --build --preset ci
built=$(date +%s)
echo "build: $((built - start)) s"
set +e
ctest --preset ci --output-on-failure -j2
code=$?
set -e
echo "tests: $(($(date +%s) - built)) s"
exit $code
