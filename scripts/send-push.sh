#!/usr/bin/env bash
# For the demo (scripts/demo.sh): commits to the demo repository, sends kiwid the signed GitHub
# push webhook for that commit, and shows the build's events until it finishes.
#   scripts/send-push.sh [commit message]
set -euo pipefail
cd "$(dirname "$0")/.."
var=$PWD/var
message=${1:-"change $(date -u +%H:%M:%S)"}
[[ -f $var/kiwi.demo.json ]] || { echo "run scripts/demo.sh first" >&2; exit 1; }
port=$(sed -n 's/.*"listen": "127.0.0.1:\([0-9]*\)".*/\1/p' "$var/kiwi.demo.json")
secret=$(cat "$var/demo/webhook_secret")
redis_url=$(cat "$var/demo/redis_url")
repo=$var/demo/demo-app.git

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [[ -n ${sub:-} ]] && kill $sub 2>/dev/null || true' EXIT
git clone -q "$repo" "$tmp/w"
before=$(git -C "$tmp/w" rev-parse HEAD)
echo "$message" >>"$tmp/w/CHANGES"
git -C "$tmp/w" add -A
git -C "$tmp/w" -c user.name=Kiwi -c user.email=demo@kiwi.invalid commit -q -m "$message"
git -C "$tmp/w" push -q origin main
after=$(git -C "$tmp/w" rev-parse HEAD)

body=$(python3 - "$before" "$after" "$message" "$repo" <<'PY'
import json, sys, time
before, after, message, repo = sys.argv[1:]
commit = {"id": after, "message": message, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
          "author": {"name": "Kiwi", "email": "demo@kiwi.invalid"}}
print(json.dumps({"ref": "refs/heads/main", "before": before, "after": after, "created": False,
                  "deleted": False, "forced": False, "commits": [commit], "head_commit": commit,
                  "repository": {"full_name": "demo/demo-app", "clone_url": "file://" + repo},
                  "pusher": {"name": "demo"}}))
PY
)
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)

if [[ $redis_url == unix://* ]]; then cli=(redis-cli -s "${redis_url#unix://}"); else
  hp=${redis_url#redis://}; hp=${hp%%/*}; cli=(redis-cli -h "${hp%%:*}" -p "${hp##*:}"); fi
# Subscribe before sending, so no event is missed.
"${cli[@]}" --raw SUBSCRIBE kiwi:events:demo-app >"$tmp/events" 2>&1 &
sub=$!
sleep 0.3
echo "POST /hooks/github/demo-app (commit ${after:0:12}):"
printf '%s' "$body" | curl -s -w '\nHTTP %{http_code}\n' -X POST \
  -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' \
  -H "X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)" \
  -H "X-Hub-Signature-256: sha256=$sig" --data-binary @- "http://127.0.0.1:$port/hooks/github/demo-app"
echo "events on kiwi:events:demo-app:"
shown=0
for _ in $(seq 300); do
  mapfile -t lines < <(grep '^{' "$tmp/events")
  for ((i=shown; i<${#lines[@]}; i++)); do echo "  ${lines[i]}"; done
  shown=${#lines[@]}
  if grep -q 'build\.\(succeeded\|failed\)' "$tmp/events"; then break; fi
  sleep 0.1
done
