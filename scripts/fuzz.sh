#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, the `fuzz` preset: clang, ASan+UBSan) and runs each for a
# bounded time from a seed corpus made of the real fixtures in tests/fixtures (fuzz/README.md).
# Fails on any crash, leak, sanitizer report or timeout, and prints the input that caused it.
#   scripts/fuzz.sh              every target, KIWI_FUZZ_SECONDS (default 60) each, two at once
#   scripts/fuzz.sh config sse_parser   only these
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR=${CCACHE_DIR:-${HOME:-/root}/.cache/ccache}
seconds=${KIWI_FUZZ_SECONDS:-60}
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(push_event webhook_signature sse_parser config dockerfile_outline dockerfile_wizard)
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

work=build/fuzz/run
rm -rf "$work"
mkdir -p "$work"
fixtures=tests/fixtures

# Seeds: the fixtures as they are, except where a target reads a format of its own.
seed_dirs() {
  case $1 in
    push_event | webhook_signature) echo "$fixtures/github $fixtures/gitlab" ;;
    sse_parser) echo "fuzz/seeds/sse_parser" ;;
    dockerfile_outline)
      mkdir -p "$work/seeds-$1"
      for f in "$fixtures"/wizard/*/Dockerfile; do
        cp "$f" "$work/seeds-$1/$(basename "$(dirname "$f")").Dockerfile"
      done
      echo "$work/seeds-$1 fuzz/seeds/$1" ;;
    config)
      # The example configuration, and each of its services, registries and runtimes alone (the
      # API's resource parsers read one at a time).
      /usr/bin/python3 - config/kiwi.example.json "$work/seeds-$1" <<'EOF'
import json, os, sys
config = json.load(open(sys.argv[1]))
os.makedirs(sys.argv[2], exist_ok=True)
json.dump(config, open(os.path.join(sys.argv[2], "kiwi.example.json"), "w"), indent=2)
for kind in ("services", "registries", "runtimes"):
    for i, item in enumerate(config.get(kind, [])):
        json.dump(item, open(os.path.join(sys.argv[2], f"{kind}-{i}.json"), "w"), indent=2)
EOF
      echo "$work/seeds-$1" ;;
    dockerfile_wizard)
      # Each wizard fixture repository packed as the target reads it: "path\n" contents "\0".
      /usr/bin/python3 - "$fixtures/wizard" "$work/seeds-$1" <<'EOF'
import os, sys
os.makedirs(sys.argv[2], exist_ok=True)
for name in sorted(os.listdir(sys.argv[1])):
    repo = os.path.join(sys.argv[1], name, "repo")
    packed = b""
    for root, _, files in sorted(os.walk(repo)):
        for f in sorted(files):
            path = os.path.join(root, f)
            packed += os.path.relpath(path, repo).encode() + b"\n" + open(path, "rb").read() + b"\0"
    open(os.path.join(sys.argv[2], name), "wb").write(packed)
EOF
      echo "$work/seeds-$1" ;;
  esac
}

run_target() {
  local t=$1 out=$work/$1
  mkdir -p "$out/corpus" "$out/artifacts"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a leak or a runaway buffer.
  # shellcheck disable=SC2046
  if build/fuzz/fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$out/artifacts/" "$out/corpus" $(seed_dirs "$t") \
      >"$out/log" 2>&1; then
    echo "== fuzz $t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/log" |
      grep -o '[0-9]*$') runs in ${seconds} s, no crash"
    return 0
  fi
  echo "== fuzz $t FAILED; its log:"
  tail -n 80 "$out/log"
  for a in "$out"/artifacts/*; do
    [[ -e $a ]] || continue
    echo "== crashing input $a ($(stat -c %s "$a") bytes), base64:"
    base64 -w 100 "$a" | head -c 20000
    echo
  done
  return 1
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Two at a time (CI has two cores); each target's status is kept in its own file.
pids=()
for t in "${targets[@]}"; do
  (run_target "$t" && touch "$work/$t.ok") &
  pids+=($!)
  if [[ ${#pids[@]} -ge 2 ]]; then
    wait "${pids[0]}" || true
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || true; done
failed=0
for t in "${targets[@]}"; do
  [[ -e $work/$t.ok ]] || failed=1
done
exit "$failed"
