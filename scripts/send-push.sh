#!/usr/bin/env bash
# For the demo (scripts/demo.sh): commits to the demo repository (through a temporary clone,
# pushed to the bare repository), sends kiwid the signed GitHub push webhook for that commit,
# prints kiwid's answer, and shows the build's events until it finishes (30 s at most).
#   scripts/send-push.sh [--dry-run] [config.json] [commit message]
# config.json defaults to ${KIWI_VAR_DIR:-./var}/kiwi.demo.json, written by scripts/demo.sh. The
# service is "demo-app" if the config has it, else the first service with a file:// git_url.
# Port, secret and Redis come from that config (and <data_dir>/kiwid.port when the port is 0).
# --dry-run: commits in the temporary clone only (nothing pushed, nothing sent) and prints the
# payload and the request that would be sent.
# Exit status: 0 when the build succeeded, 1 otherwise (refused webhook, build.failed, timeout).
set -euo pipefail
cd "$(dirname "$0")/.."
dry_run=0
if [[ ${1:-} == --dry-run ]]; then dry_run=1; shift; fi
config=${KIWI_VAR_DIR:-$PWD/var}/kiwi.demo.json
if [[ $# -gt 0 && ( -f $1 || $1 == *.json ) ]]; then config=$1; shift; fi
message=${1:-"change at $(date -u +%H:%M:%S)"}
[[ -f $config ]] || { echo "$config not found: run scripts/demo.sh first" >&2; exit 1; }

tmp=$(mktemp -d /tmp/kiwi-send-push.XXXXXX)
sub=""
cleanup() {
  if [[ -n $sub ]]; then kill "$sub" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Settings from the config, one per line; the secret goes to a file in the private temp dir,
# never to output.
mapfile -t settings < <(python3 - "$config" "$tmp/secret" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
services = cfg.get("services", [])
svc = next((s for s in services if s.get("name") == "demo-app"), None) or \
      next((s for s in services if s.get("git_url", "").startswith("file://")), None)
if svc is None:
    sys.exit("the config has no service with a file:// git_url to commit to")
open(sys.argv[2], "w").write(svc["webhook_secret"])
host, _, port = cfg.get("listen", "127.0.0.1:8080").rpartition(":")
print(svc["name"]); print(svc["git_url"][len("file://"):]); print(svc["branch"])
print(host if host not in ("", "0.0.0.0", "[::]") else "127.0.0.1"); print(port)
# Redis: the URL without its password (printed, so it may show) and the password, from the URL
# or redis_password_file, into the private temp dir for redis-cli's REDISCLI_AUTH.
from urllib.parse import unquote
scheme, sep, rest = cfg["redis"].partition("://")
authority = rest if scheme == "unix" else rest.split("/", 1)[0]  # unix://user:pw@/path
creds, where = rest.split("@", 1) if "@" in authority else ("", rest)  # both %-encoded
user, _, password = creds.partition(":")
if cfg.get("redis_password_file"):
    password = open(cfg["redis_password_file"]).read().rstrip("\n")
open(sys.argv[2] + ".redis", "w").write(unquote(password))
print(scheme + sep + (user + "@" if user else "") + where); print(cfg["data_dir"])
PY
)
[[ ${#settings[@]} -eq 7 ]] || { echo "cannot read $config" >&2; exit 1; }
service=${settings[0]} repo=${settings[1]} branch=${settings[2]} host=${settings[3]}
port=${settings[4]} redis_url=${settings[5]} data_dir=${settings[6]}
if [[ $port == 0 ]]; then
  port=$(cat "$data_dir/kiwid.port" 2>/dev/null) || [[ $dry_run -eq 1 ]] ||
    { echo "kiwid is not running (no $data_dir/kiwid.port)" >&2; exit 1; }
fi
[[ $host == *:* && $host != \[* ]] && host="[$host]"
url=http://$host:$port/hooks/github/$service
channel=kiwi:events:$service

if [[ $dry_run -eq 0 ]]; then
  # Before committing: kiwid must be up, and the subscription to the build's events in place
  # (subscribed before sending, so no event is missed).
  curl -sf -o /dev/null "http://$host:$port/readyz" ||
    { echo "kiwid is not ready at http://$host:$port (is scripts/demo.sh running?)" >&2; exit 1; }
  # The password reaches redis-cli through its environment, never its command line (ps).
  redis_user=
  if [[ $redis_url == unix://* ]]; then
    where=${redis_url#unix://}
    [[ $where == *@* ]] && redis_user=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "${where%%@*}")
    cli=(redis-cli -s "${where#*@}")
    [[ -n $redis_user ]] && cli+=(--user "$redis_user")
  else
    cli=(redis-cli -u "$redis_url")
  fi
  [[ -s $tmp/secret.redis ]] && export REDISCLI_AUTH="$(cat "$tmp/secret.redis")"
  "${cli[@]}" --raw SUBSCRIBE "$channel" >"$tmp/events" 2>&1 &
  sub=$!
  for _ in $(seq 50); do
    grep -qx "$channel" "$tmp/events" && break
    kill -0 "$sub" 2>/dev/null || break
    sleep 0.1
  done
  grep -qx "$channel" "$tmp/events" ||
    { echo "cannot subscribe to $channel at $redis_url:" >&2
      cat "$tmp/events" >&2; exit 1; }
fi

# The commit, made in a temporary clone and pushed to the service's repository.
git clone -q --branch "$branch" "$repo" "$tmp/w"
before=$(git -C "$tmp/w" rev-parse HEAD)
echo "$message" >>"$tmp/w/CHANGES"
git -C "$tmp/w" add CHANGES
git -C "$tmp/w" -c user.name="Kiwi Demo" -c user.email=demo@kiwi.invalid commit -q -m "$message"
after=$(git -C "$tmp/w" rev-parse HEAD)
if [[ $dry_run -eq 0 ]]; then
  git -C "$tmp/w" push -q origin "$branch"
fi

# The GitHub push payload, shaped like GitHub's (fields from the commit itself).
git -C "$tmp/w" log -1 --format='%H%n%T%n%aI%n%an%n%ae%n%cn%n%ce%n%B' "$after" >"$tmp/commit"
git -C "$tmp/w" diff-tree --no-commit-id --name-status -r "$after" >"$tmp/files"
python3 - "$tmp/commit" "$tmp/files" "$before" "$branch" "$repo" "$service" >"$tmp/body.json" <<'PY'
import json, sys
commit_file, files_file, before, branch, repo, service = sys.argv[1:]
sha, tree, ts, an, ae, cn, ce, *msg = open(commit_file).read().split("\n")
message = "\n".join(msg).strip()
changes = {"A": [], "D": [], "M": []}
for line in open(files_file).read().splitlines():
    status, _, path = line.partition("\t")
    changes.get(status[:1], changes["M"]).append(path)
full_name = "kiwi-demo/" + service
html = "https://github.com/" + full_name
commit = {"id": sha, "tree_id": tree, "distinct": True, "message": message, "timestamp": ts,
          "url": html + "/commit/" + sha,
          "author": {"name": an, "email": ae, "username": "kiwi-demo"},
          "committer": {"name": cn, "email": ce, "username": "kiwi-demo"},
          "added": changes["A"], "removed": changes["D"], "modified": changes["M"]}
user = {"login": "kiwi-demo", "id": 1, "type": "User", "site_admin": False}
payload = {
    "ref": "refs/heads/" + branch, "before": before, "after": sha,
    "repository": {"id": 1, "name": service, "full_name": full_name, "private": True,
                   "owner": {"name": "kiwi-demo", "login": "kiwi-demo"}, "html_url": html,
                   "clone_url": "file://" + repo, "default_branch": branch, "master_branch": branch},
    "pusher": {"name": "kiwi-demo", "email": "demo@kiwi.invalid"}, "sender": user,
    "created": False, "deleted": False, "forced": False, "base_ref": None,
    "compare": html + "/compare/" + before[:12] + "..." + sha[:12],
    "commits": [commit], "head_commit": commit}
sys.stdout.write(json.dumps(payload, indent=2) + "\n")
PY
sig=$(openssl dgst -sha256 -hmac "$(cat "$tmp/secret")" -r <"$tmp/body.json" | cut -d' ' -f1)
delivery=$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)
headers=(-H 'Content-Type: application/json' -H 'User-Agent: GitHub-Hookshot/kiwi-demo'
         -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $delivery"
         -H "X-Hub-Signature-256: sha256=$sig")

if [[ $dry_run -eq 1 ]]; then
  echo "dry run: commit ${after:0:12} on $branch made in a temporary clone only (not pushed)"
  echo "POST $url"
  for ((i = 1; i < ${#headers[@]}; i += 2)); do echo "${headers[i]}"; done
  echo
  cat "$tmp/body.json"
  exit 0
fi

echo "pushed ${after:0:12} to $branch of $repo"
echo "POST $url (X-GitHub-Delivery: $delivery)"
status=$(curl -sS -o "$tmp/response" -w '%{http_code}' -X POST "${headers[@]}" \
         --data-binary @"$tmp/body.json" "$url") || status=000
echo "HTTP $status $(cat "$tmp/response" 2>/dev/null)"
build_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("build_id", ""))' \
           "$tmp/response" 2>/dev/null || true)
if [[ $status != 2* || -z $build_id ]]; then
  echo "kiwid did not queue a build" >&2
  exit 1
fi

echo "events of build $build_id on $channel:"
shown=0 result=""
deadline=$((SECONDS + 30))
while [[ $SECONDS -lt $deadline ]]; do
  mapfile -t lines < <(grep -F "$build_id" "$tmp/events" | grep '^{' || true)
  for ((i = shown; i < ${#lines[@]}; i++)); do
    echo "  ${lines[i]}"
    if [[ ${lines[i]} =~ \"type\":\ ?\"build\.(succeeded|failed)\" ]]; then
      result=${BASH_REMATCH[1]}
    fi
  done
  shown=${#lines[@]}
  [[ -n $result ]] && break
  sleep 0.1
done
case $result in
  succeeded) echo "build $build_id succeeded" ;;
  failed) echo "build $build_id failed"; exit 1 ;;
  *) echo "no build.succeeded/build.failed for $build_id within 30 s (is kiwi-worker running?)"; exit 1 ;;
esac
