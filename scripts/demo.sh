#!/usr/bin/env bash
# The README's run command: installs what is missing, builds, and runs Kiwi on this machine
# with a demo service whose git repository is created under ./var:
#   a private redis-server (AOF on; skipped when KIWI_REDIS_URL is set), kiwid, one kiwi-worker.
# Then prints the command that sends a signed push webhook and shows the build's events.
# Ctrl-C stops everything. Environment: KIWI_PORT (default 8080), KIWI_REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/install-deps.sh
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
cmake --preset release >/dev/null
cmake --build --preset release
bin=$root/build/release

var=$root/var
mkdir -p "$var/redis" "$var/log" "$var/data" "$var/demo"
pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping kiwi-worker, kiwid and redis-server..."
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
  done
  exit 0
}
trap stop INT TERM EXIT

if [[ -n ${KIWI_REDIS_URL:-} ]]; then
  redis_url=$KIWI_REDIS_URL
else
  redis-server --port 0 --unixsocket "$var/redis/redis.sock" --unixsocketperm 700 \
    --dir "$var/redis" --appendonly yes --appendfsync everysec --save '' \
    >"$var/log/redis.log" 2>&1 &
  pids+=($!)
  redis_url=unix://$var/redis/redis.sock
  for _ in $(seq 50); do redis-cli -s "$var/redis/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

# The demo service's repository: a bare repo with a first commit, made once.
repo=$var/demo/demo-app.git
if [[ ! -d $repo ]]; then
  git init -q --bare -b main "$repo"
  tmp=$(mktemp -d)
  git -C "$tmp" init -q -b main
  printf '# demo-app\nA service Kiwi builds on every push.\n' >"$tmp/README.md"
  printf 'FROM localhost/busybox:latest\nCOPY README.md /srv/README.md\nCMD ["cat", "/srv/README.md"]\n' >"$tmp/Dockerfile"
  git -C "$tmp" add -A
  git -C "$tmp" -c user.name=Kiwi -c user.email=demo@kiwi.invalid commit -q -m "first commit"
  git -C "$tmp" push -q "$repo" main
  rm -rf "$tmp"
fi
[[ -f $var/demo/webhook_secret ]] || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$var/demo/webhook_secret"
chmod 600 "$var/demo/webhook_secret"
port=${KIWI_PORT:-8080}
cat >"$var/kiwi.demo.json" <<JSON
{
  "listen": "127.0.0.1:$port",
  "redis": "$redis_url",
  "data_dir": "$var/data",
  "worker": { "concurrency": 2 },
  "services": [
    { "name": "demo-app", "git_url": "file://$repo", "branch": "main",
      "webhook_secret": "$(cat "$var/demo/webhook_secret")" }
  ]
}
JSON
chmod 600 "$var/kiwi.demo.json"
echo "$redis_url" >"$var/demo/redis_url"

"$bin/kiwid" --config "$var/kiwi.demo.json" > >(tee -a "$var/log/kiwid.log" | sed 's/^/[kiwid] /') 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "kiwid did not become ready; see $var/log/kiwid.log"; exit 1; }
"$bin/kiwi-worker" --config "$var/kiwi.demo.json" > >(tee -a "$var/log/kiwi-worker.log" | sed 's/^/[worker] /') 2>&1 &
pids+=($!)

cat <<MSG

Kiwi is running: kiwid on http://127.0.0.1:$port, one kiwi-worker, Redis at $redis_url.
In another terminal, push a commit to the demo repository and send its signed webhook:

    scripts/send-push.sh "my first change"

It prints kiwid's answer and the build's events as they happen. Ctrl-C here stops everything.
MSG
wait
