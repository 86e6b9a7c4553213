"""A stand-in for the GitHub and GitLab REST APIs' webhook endpoints, for tests of
`POST /api/v1/services/{name}/webhook/install` (no GitHub or GitLab can run on our machines).

The answers follow the shapes, status codes and headers that GitHub's and GitLab's API
documentation give for these calls ("REST API endpoints for repository webhooks",
docs.github.com; "Project webhooks API", docs.gitlab.com):
- GitHub: GET/POST /repos/{owner}/{repo}/hooks, PATCH /repos/{owner}/{repo}/hooks/{id};
  `Authorization: Bearer`; 401 {"message": "Bad credentials"}; a token without the
  admin:repo_hook scope gets 404 {"message": "Not Found"} with its scopes in X-OAuth-Scopes;
  the hook's secret is never echoed (GitHub shows "********").
- GitLab: GET/POST /api/v4/projects/{url-encoded path}/hooks, PUT .../hooks/{id};
  `PRIVATE-TOKEN`; 401 {"message": "401 Unauthorized"}; 403 {"error": "insufficient_scope", ...}
  for a token without the api scope; 404 {"message": "404 Project Not Found"}.

Usage: forge_stub.py PORT STATE_FILE CONFIG_JSON
CONFIG_JSON: {"github": {"repos": ["o/r"], "tokens": {"tok": "admin:repo_hook, repo"}},
              "gitlab": {"projects": ["g/p"], "tokens": {"tok": ["api"]}}, "fail_with": null}
Every hook written (with its secret, so tests can compare) is dumped to STATE_FILE as JSON, and
every request's method, path and auth header *name* is appended to it under "requests".
"""

import json
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, STATE_FILE, CONFIG = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
LOCK = threading.Lock()
STATE = {"github": {}, "gitlab": {}, "requests": [], "next_id": 1}


def save():
    with open(STATE_FILE + ".tmp", "w") as f:
        json.dump(STATE, f)
    import os
    os.replace(STATE_FILE + ".tmp", STATE_FILE)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def handle_any(self):
        path = urllib.parse.urlsplit(self.path).path
        with LOCK:
            STATE["requests"].append({"method": self.command, "path": self.path,
                                      "auth": [h for h in ("Authorization", "PRIVATE-TOKEN")
                                               if h in self.headers]})
            save()
        if CONFIG.get("fail_with"):
            return self.reply(CONFIG["fail_with"], {"message": "Server Error"})
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)/hooks(?:/(\d+))?", path)
        if m:
            return self.github(m.group(1), m.group(2))
        m = re.fullmatch(r"/api/v4/projects/([^/]+)/hooks(?:/(\d+))?", path)
        if m:
            return self.gitlab(urllib.parse.unquote(m.group(1)), m.group(2))
        return self.reply(404, {"message": "Not Found"})

    do_GET = do_POST = do_PATCH = do_PUT = handle_any

    def github(self, repo, hook_id):
        cfg = CONFIG["github"]
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        if token not in cfg["tokens"]:
            return self.reply(401, {"message": "Bad credentials",
                                    "documentation_url": "https://docs.github.com/rest"})
        scopes = cfg["tokens"][token]
        headers = {"X-OAuth-Scopes": scopes,
                   "X-Accepted-OAuth-Scopes": "admin:repo_hook, read:repo_hook, repo, "
                                              "write:repo_hook"}
        if repo not in cfg["repos"] or "admin:repo_hook" not in scopes:
            return self.reply(404, {"message": "Not Found",
                                    "documentation_url": "https://docs.github.com/rest/webhooks/"
                                                         "repos#create-a-repository-webhook"},
                              headers)
        hooks = STATE["github"].setdefault(repo, [])
        if self.command == "GET" and hook_id is None:
            return self.reply(200, [self.github_view(h) for h in hooks], headers)
        if self.command == "POST" and hook_id is None:
            body = self.body()
            if any(h["config"]["url"] == body["config"]["url"] for h in hooks):
                return self.reply(422, {"message": "Validation Failed", "errors": [
                    {"resource": "Hook", "code": "custom",
                     "message": "Hook already exists on this repository"}]}, headers)
            with LOCK:
                hook = {"type": "Repository", "id": STATE["next_id"], "name": body["name"],
                        "active": body["active"], "events": body["events"],
                        "config": body["config"]}
                STATE["next_id"] += 1
                hooks.append(hook)
                save()
            return self.reply(201, self.github_view(hook), headers)
        if self.command == "PATCH" and hook_id is not None:
            for hook in hooks:
                if hook["id"] == int(hook_id):
                    body = self.body()
                    with LOCK:
                        hook.update({k: v for k, v in body.items() if k != "config"})
                        hook["config"].update(body.get("config", {}))
                        save()
                    return self.reply(200, self.github_view(hook), headers)
        return self.reply(404, {"message": "Not Found"}, headers)

    @staticmethod
    def github_view(hook):
        view = json.loads(json.dumps(hook))
        if "secret" in view["config"]:
            view["config"]["secret"] = "********"
        return view

    def gitlab(self, project, hook_id):
        cfg = CONFIG["gitlab"]
        token = self.headers.get("PRIVATE-TOKEN")
        if token not in cfg["tokens"]:
            return self.reply(401, {"message": "401 Unauthorized"})
        if "api" not in cfg["tokens"][token]:
            return self.reply(403, {"error": "insufficient_scope",
                                    "error_description": "The request requires higher "
                                    "privileges than provided by the access token.",
                                    "scope": "api"})
        if project not in cfg["projects"]:
            return self.reply(404, {"message": "404 Project Not Found"})
        hooks = STATE["gitlab"].setdefault(project, [])
        public = ("id", "url", "push_events", "tag_push_events", "push_events_branch_filter",
                  "enable_ssl_verification")
        if self.command == "GET" and hook_id is None:
            return self.reply(200, [{k: h.get(k) for k in public} for h in hooks])
        if self.command == "POST" and hook_id is None:
            with LOCK:
                hook = dict(self.body(), id=STATE["next_id"])
                STATE["next_id"] += 1
                hooks.append(hook)
                save()
            return self.reply(201, {k: hook.get(k) for k in public})
        if self.command == "PUT" and hook_id is not None:
            for hook in hooks:
                if hook["id"] == int(hook_id):
                    with LOCK:
                        hook.update(self.body())
                        save()
                    return self.reply(200, {k: hook.get(k) for k in public})
        return self.reply(404, {"message": "404 Not found"})


save()
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
