#!/usr/bin/env bash
# The README's run command: installs what is missing, builds the release binaries (build/release)
# and runs Kiwi on this machine with a demo service whose git repository is created under ./var:
# a private redis-server (AOF on; skipped when KIWI_REDIS_URL is set), kiwid and one kiwi-worker.
# Then prints the command that commits, sends a signed push webhook and shows the build's events.
# Ctrl-C stops everything (worker, kiwid, redis; SIGTERM, up to 10 s each) and exits 0.
# Environment: KIWI_PORT (default 8080), KIWI_REDIS_URL (unix:///path or redis://host:port/db),
#   KIWI_VAR_DIR (default ./var), KIWI_BIN_DIR (use the binaries there instead of building).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/install-deps.sh
if [[ -n ${KIWI_BIN_DIR:-} ]]; then
  bin=$(cd "$KIWI_BIN_DIR" && pwd)
else
  export CCACHE_DIR=${CCACHE_DIR:-${HOME:-/root}/.cache/ccache}
  cmake --preset release >/dev/null
  cmake --build --preset release
  bin=$root/build/release
fi

var=${KIWI_VAR_DIR:-$root/var}
mkdir -p "$var"
var=$(cd "$var" && pwd)
mkdir -p "$var/redis" "$var/log" "$var/data" "$var/demo"
port=${KIWI_PORT:-8080}

names=() pids=()
# shellcheck disable=SC2317  # called from the traps below
stop() {
  local code=$1
  trap - INT TERM EXIT
  echo
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -0 "${pids[i]}" 2>/dev/null || continue
    echo "stopping ${names[i]} (pid ${pids[i]})"
    kill -TERM "${pids[i]}" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "${pids[i]}" 2>/dev/null; then
      echo "${names[i]} still running after 10 s: SIGKILL"
      kill -KILL "${pids[i]}" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true  # the log pipes, which end with their program
  exit "$code"
}
trap 'stop 0' INT TERM
trap 'stop $?' EXIT

# Runs a program in the background, its output to $var/log/<name>.log and to the terminal with
# a [name] prefix. The log pipe ignores Ctrl-C (which reaches the whole process group) and ends
# when the program closes its output, so shutdown messages are kept and the program never
# writes to a closed pipe.
start() {
  local name=$1; shift
  "$@" > >(trap '' INT TERM HUP; tee -a "$var/log/$name.log" | sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!) names+=("$name")
}

if [[ -n ${KIWI_REDIS_URL:-} ]]; then
  redis_url=$KIWI_REDIS_URL
else
  sock=$var/redis/redis.sock
  if redis-cli -s "$sock" ping >/dev/null 2>&1; then
    echo "a redis-server already serves $sock (an earlier demo still running?); stop it first" >&2
    exit 1
  fi
  # Not through start(): Redis' own log goes to the file only.
  redis-server --port 0 --unixsocket "$sock" --unixsocketperm 700 --dir "$var/redis" \
    --appendonly yes --appendfsync everysec --save '' >>"$var/log/redis.log" 2>&1 &
  pids+=($!) names+=(redis-server)
  redis_url=unix://$sock
  for _ in $(seq 50); do
    [[ $(redis-cli -s "$sock" ping 2>/dev/null) == PONG ]] && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  [[ $(redis-cli -s "$sock" ping 2>/dev/null) == PONG ]] ||
    { echo "redis-server did not start; see $var/log/redis.log" >&2; exit 1; }
fi

# The demo service's repository: a bare repository with a first commit (README, Dockerfile),
# made once through a temporary clone.
repo=$var/demo/demo-app.git
if [[ ! -d $repo ]]; then
  git init -q --bare -b main "$repo"
  tmp=$(mktemp -d /tmp/kiwi-demo.XXXXXX)
  git clone -q "$repo" "$tmp/w" 2>/dev/null
  git -C "$tmp/w" symbolic-ref HEAD refs/heads/main
  printf '# demo-app\n\nA tiny service that Kiwi builds on every push to main.\n' >"$tmp/w/README.md"
  printf 'FROM localhost/busybox:latest\nRUN echo "built by Kiwi on $(date -u)" > /srv-built\nCOPY README.md /srv/README.md\nCMD ["cat", "/srv/README.md"]\n' \
    >"$tmp/w/Dockerfile"
  git -C "$tmp/w" add README.md Dockerfile
  git -C "$tmp/w" -c user.name="Kiwi Demo" -c user.email=demo@kiwi.invalid commit -q -m "first commit"
  git -C "$tmp/w" push -q origin main
  rm -rf "$tmp"
  echo "created the demo repository $repo"
fi
# The demo's base image, made once in the worker's buildah storage from Debian's busybox-static
# (no registry or internet needed): localhost/busybox:latest.
buildah_cmd=(buildah --root "$var/data/buildah/storage" --runroot "$var/data/buildah/run"
             --storage-driver overlay)
if ! "${buildah_cmd[@]}" inspect --type image localhost/busybox:latest >/dev/null 2>&1; then
  tmp=$(mktemp -d /tmp/kiwi-base.XXXXXX)
  mkdir -p "$tmp/rootfs/bin"
  cp /bin/busybox "$tmp/rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [[ $applet == busybox || -e $tmp/rootfs/bin/$applet ]] || ln -s busybox "$tmp/rootfs/bin/$applet"
  done
  tar --numeric-owner -cf "$tmp/bb.tar" -C "$tmp/rootfs" .
  c=$("${buildah_cmd[@]}" from scratch)
  "${buildah_cmd[@]}" add "$c" "$tmp/bb.tar" / >/dev/null
  "${buildah_cmd[@]}" config --cmd '["/bin/sh"]' --env PATH=/bin "$c"
  "${buildah_cmd[@]}" commit --quiet "$c" localhost/busybox:latest >/dev/null
  "${buildah_cmd[@]}" rm "$c" >/dev/null
  rm -rf "$tmp"
  echo "made the demo's base image localhost/busybox:latest"
fi
# The webhook secret: 32 random hex characters, made once and kept.
if [[ ! -s $var/demo/webhook_secret ]]; then
  (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$var/demo/webhook_secret")
fi
secret=$(cat "$var/demo/webhook_secret")
# RUN steps get Kiwi's isolated bridge network, which only a root worker can set up
# (docs/security.md); as another user the demo builds with no network at all, which its
# Dockerfile does not need. Never "host".
build_network=isolated
if [[ $(id -u) -ne 0 ]]; then
  build_network=none
  echo "not root: the demo's builds run with build.network \"none\" (isolated needs root)"
fi
(umask 077; cat >"$var/kiwi.demo.json" <<JSON
{
  "listen": "127.0.0.1:$port",
  "redis": "$redis_url",
  "data_dir": "$var/data",
  "worker": { "concurrency": 2 },
  "build": { "network": "$build_network" },
  "services": [
    { "name": "demo-app", "git_url": "file://$repo", "branch": "main",
      "webhook_secret": "$secret" }
  ]
}
JSON
)
check=$("$bin/kiwid" --check-config --config "$var/kiwi.demo.json" 2>&1) ||
  { echo "$check" >&2; echo "kiwid rejected $var/kiwi.demo.json" >&2; exit 2; }
if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
  echo "port $port is already in use (an earlier demo still running?); stop it or set KIWI_PORT" >&2
  exit 1
fi

start kiwid "$bin/kiwid" --config "$var/kiwi.demo.json"
kiwid_pid=${pids[-1]}
start kiwi-worker "$bin/kiwi-worker" --config "$var/kiwi.demo.json"
ready=0
for _ in $(seq 100); do
  kill -0 "$kiwid_pid" 2>/dev/null || break
  if curl -sf -o /dev/null "http://127.0.0.1:$port/readyz"; then ready=1; break; fi
  sleep 0.1
done
if [[ $ready -eq 0 ]] || ! kill -0 "$kiwid_pid" 2>/dev/null; then
  echo "kiwid did not become ready on 127.0.0.1:$port within 10 s; see $var/log/kiwid.log" >&2
  exit 1
fi

send=scripts/send-push.sh
[[ $var == "$root/var" ]] || send="scripts/send-push.sh $var/kiwi.demo.json"
# The URL may carry a Redis password: never print it.
shown_redis_url=$(sed -E 's#^([a-z]+://)[^@/]*@#\1***@#' <<<"$redis_url")
cat <<MSG

Kiwi is running: kiwid on http://127.0.0.1:$port (ready), one kiwi-worker, Redis at $shown_redis_url.
Logs: $var/log/. In another terminal, commit to the demo repository and send the signed push
webhook; it prints kiwid's answer and the build's events as they happen:

    $send "my first change"

The REST API and kiwictl (docs/api.md, docs/kiwictl.md) use the admin token kiwid wrote:

    export KIWI_URL=http://127.0.0.1:$port KIWI_TOKEN=\$(cat $var/data/admin.token)
    build/release/kiwictl service list
    build/release/kiwictl build start demo-app -f

Ctrl-C here stops everything.
MSG
# Runs until Ctrl-C, or until one of the programs exits by itself.
wait -n "${pids[@]}" || true
for ((i = 0; i < ${#pids[@]}; i++)); do
  kill -0 "${pids[i]}" 2>/dev/null || echo "${names[i]} exited unexpectedly; see $var/log/" >&2
done
exit 1
