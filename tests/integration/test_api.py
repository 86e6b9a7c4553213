"""The REST API under /api/v1 (docs/api.md) over real HTTP, against a real kiwid, a real
redis-server and real git servers (file:// and lighttpd smart HTTP with basic auth): resources,
validation, the authorization matrix, secrets at rest, connection tests, webhook setup and
builds."""

import base64
import hashlib
import json
import os
import time

import pytest

from kiwi_harness import (EventListener, Kiwi, base_environment, free_port, github_push_payload)
from ssh_git_server import SshGitServer

SECRET = "config-webhook-secret-0001"          # the config-file service's webhook secret
TOKEN = "glpat-UNIQUE-api-token-4f1c9a7e22"     # the git server's personal access token
WEBHOOK_SECRET = "UNIQUE-webhook-secret-93c1e0b7"
REGISTRY_PASSWORD = "UNIQUE-registry-password-5d2a"
RUNTIME_TOKEN = "UNIQUE-k8s-sa-token-8e4b11c0"
ZERO = "0" * 40

CONFIG_REGISTRY = {"name": "cfg-reg", "url": "harbor.example.com"}
CONFIG_RUNTIME = {"name": "cfg-k8s", "type": "kubernetes",
                  "api_url": "https://k8s.example.com:6443", "token": "cfg-runtime-token-1"}


@pytest.fixture
def env():
    with base_environment(web_token=TOKEN) as state:
        state["head"] = state["repo"].commit({"README.md": "hello kiwi\n"}, "first")
        yield state


def start_kiwi(env, workers=0, extra=None, services=None):
    if services is None:
        services = [{"name": "app", "git_url": env["repo"].file_url, "branch": "main",
                     "webhook_secret": SECRET}]
    config = {"registries": [CONFIG_REGISTRY], "runtimes": [CONFIG_RUNTIME]}
    config.update(extra or {})
    env["kiwi"] = Kiwi(env["root"], env["redis"].url, services, workers=workers,
                       extra=config).start()
    return env["kiwi"]


def http_service(env, name="api-svc", **over):
    """A service on the authenticated smart-HTTP server, with the right token."""
    # Clone only: builds of images are test_build_flow.py's.
    s = {"name": name, "git_url": env["web"].url("app"), "branch": "main", "token": TOKEN,
         "git_username": "user", "dockerfile": {"mode": "none"}}
    s.update(over)
    return s


def make_token(kiwi, admin, name, role):
    status, body = kiwi.api("POST", "/tokens", {"name": name, "role": role}, admin)
    assert status == 201, body
    assert body["token"].startswith("kiwi_") and body["role"] == role
    return body["token"]


def dump_redis(client):
    """Every key in Redis with its contents, by type."""
    out = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == "hash":
            out[key] = client.hgetall(key)
        elif kind == "string":
            out[key] = client.get(key)
        elif kind == "stream":
            out[key] = client.xrange(key)
        elif kind == "list":
            out[key] = client.lrange(key, 0, -1)
        elif kind == "set":
            out[key] = sorted(client.smembers(key))
        elif kind == "zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            out[key] = f"<{kind}>"
    return out


def encodings(secret):
    """The secret as it could be written down: plain, base64 at the three alignments, hex."""
    raw = secret.encode()
    forms = {secret, raw.hex()}
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + raw).decode()
        forms.add(enc[4:-4])  # the stable middle, whatever surrounds the secret
        enc = base64.urlsafe_b64encode(b"\0" * pad + raw).decode()
        forms.add(enc[4:-4])
    return forms


# --- 1. CRUD --------------------------------------------------------------------------------

def test_crud_of_services_registries_and_runtimes(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()

    # Services.
    status, body = kiwi.api("POST", "/services", http_service(env), admin)
    assert status == 201, body
    assert body["source"] == "api" and body["name"] == "api-svc"
    assert body["token"] == "***" and body["webhook_secret"] == "***"  # secret generated
    assert body["webhook_url"]["github"].endswith("/hooks/github/api-svc")
    assert body["webhook_url"]["gitlab"].endswith("/hooks/gitlab/api-svc")
    status, body = kiwi.api("POST", "/services", http_service(env), admin)
    assert status == 409 and body["field"] == "name", body
    status, body = kiwi.api("GET", "/services", token=admin)
    assert status == 200
    sources = {s["name"]: s["source"] for s in body["items"]}
    assert sources == {"app": "config", "api-svc": "api"}
    status, body = kiwi.api("GET", "/services/api-svc", token=admin)
    assert status == 200 and body["branch"] == "main" and body["source"] == "api"
    status, body = kiwi.api("PUT", "/services/api-svc",
                            {"git_url": env["web"].url("app"), "branch": "develop",
                             "git_username": "user", "build_tags": True}, admin)
    assert status == 200, body
    assert body["branch"] == "develop" and body["build_tags"] is True
    assert body["token"] == "***" and body["webhook_secret"] == "***"  # left out: kept
    status, body = kiwi.api("GET", "/services/api-svc", token=admin)
    assert body["branch"] == "develop" and body["build_tags"] is True and body["token"] == "***"
    status, body = kiwi.api("PUT", "/services/api-svc", http_service(env, name="renamed"), admin)
    assert status == 422 and body["field"] == "name", body
    status, body = kiwi.api("PUT", "/services/ghost", http_service(env, name="ghost"), admin)
    assert status == 404, body
    status, body = kiwi.api("DELETE", "/services/api-svc", token=admin)
    assert status == 200 and body == {"deleted": "api-svc"}
    assert kiwi.api("GET", "/services/api-svc", token=admin)[0] == 404
    assert kiwi.api("DELETE", "/services/api-svc", token=admin)[0] == 404
    # The config file's service is read-only.
    status, body = kiwi.api("POST", "/services",
                            {"name": "app", "git_url": env["repo"].file_url, "branch": "main"},
                            admin)
    assert status == 409 and "config file" in body["error"], body
    status, body = kiwi.api("PUT", "/services/app",
                            {"git_url": env["repo"].file_url, "branch": "main"}, admin)
    assert status == 409 and "config file" in body["error"], body
    assert kiwi.api("DELETE", "/services/app", token=admin)[0] == 409
    status, body = kiwi.api("GET", "/services/app", token=admin)
    assert status == 200 and body["source"] == "config" and body["webhook_secret"] == "***"

    # Registries.
    reg = {"name": "harbor", "url": "harbor.company.com", "username": "robot",
           "password": REGISTRY_PASSWORD}
    status, body = kiwi.api("POST", "/registries", reg, admin)
    assert status == 201, body
    assert body["source"] == "api" and body["password"] == "***" and body["username"] == "robot"
    status, body = kiwi.api("POST", "/registries", reg, admin)
    assert status == 409 and body["field"] == "name", body
    status, body = kiwi.api("GET", "/registries", token=admin)
    assert status == 200
    assert {r["name"]: r["source"] for r in body["items"]} == {"cfg-reg": "config",
                                                                "harbor": "api"}
    status, body = kiwi.api("GET", "/registries/harbor", token=admin)
    assert status == 200 and body["url"] == "harbor.company.com" and body["password"] == "***"
    # A new host: the kept password does not go along, it must be sent again
    # (test_credentials.py).
    status, body = kiwi.api("PUT", "/registries/harbor",
                            {"url": "https://registry.local:5000", "username": "robot",
                             "password": "***", "insecure": True}, admin)
    assert status == 422 and body["field"] == "password", body
    status, body = kiwi.api("PUT", "/registries/harbor",
                            {"url": "https://registry.local:5000", "username": "robot",
                             "password": REGISTRY_PASSWORD, "insecure": True}, admin)
    assert status == 200, body
    status, body = kiwi.api("GET", "/registries/harbor", token=admin)
    assert body["url"] == "https://registry.local:5000" and body["insecure"] is True
    assert body["password"] == "***"
    status, body = kiwi.api("DELETE", "/registries/harbor", token=admin)
    assert status == 200, body
    assert kiwi.api("GET", "/registries/harbor", token=admin)[0] == 404
    assert kiwi.api("DELETE", "/registries/harbor", token=admin)[0] == 404
    status, body = kiwi.api("POST", "/registries", CONFIG_REGISTRY, admin)
    assert status == 409 and "config file" in body["error"], body
    assert kiwi.api("PUT", "/registries/cfg-reg", {"url": "x.example.com"}, admin)[0] == 409
    assert kiwi.api("DELETE", "/registries/cfg-reg", token=admin)[0] == 409
    status, body = kiwi.api("GET", "/registries/cfg-reg", token=admin)
    assert status == 200 and body["source"] == "config"

    # Runtimes.
    k8s = {"name": "prod-k8s", "type": "kubernetes", "api_url": "https://k8s.company.com:6443",
           "token": RUNTIME_TOKEN, "namespace": "builds"}
    status, body = kiwi.api("POST", "/runtimes", k8s, admin)
    assert status == 201, body
    assert body["source"] == "api" and body["token"] == "***" and body["namespace"] == "builds"
    status, body = kiwi.api("POST", "/runtimes",
                            {"name": "dock", "type": "docker", "socket": "/run/docker.sock"},
                            admin)
    assert status == 201 and body["type"] == "docker", body
    assert kiwi.api("POST", "/runtimes", k8s, admin)[0] == 409
    status, body = kiwi.api("GET", "/runtimes", token=admin)
    assert {r["name"]: r["source"] for r in body["items"]} == {
        "cfg-k8s": "config", "prod-k8s": "api", "dock": "api"}
    status, body = kiwi.api("PUT", "/runtimes/prod-k8s",
                            {"type": "kubernetes", "api_url": "https://k8s.company.com:6443",
                             "namespace": "ci"}, admin)
    assert status == 200, body
    status, body = kiwi.api("GET", "/runtimes/prod-k8s", token=admin)
    assert body["namespace"] == "ci" and body["token"] == "***"  # the token was kept
    for name in ("prod-k8s", "dock"):
        assert kiwi.api("DELETE", f"/runtimes/{name}", token=admin)[0] == 200
        assert kiwi.api("GET", f"/runtimes/{name}", token=admin)[0] == 404
    assert kiwi.api("POST", "/runtimes", CONFIG_RUNTIME, admin)[0] == 409
    assert kiwi.api("PUT", "/runtimes/cfg-k8s", CONFIG_RUNTIME, admin)[0] == 409
    assert kiwi.api("DELETE", "/runtimes/cfg-k8s", token=admin)[0] == 409
    status, body = kiwi.api("GET", "/runtimes/cfg-k8s", token=admin)
    assert status == 200 and body["source"] == "config" and body["token"] == "***"


# --- 2. Validation ----------------------------------------------------------------------------

def test_each_bad_field_is_named_in_a_422(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    status, body = kiwi.api("POST", "/runtimes",
                            {"name": "dock", "type": "docker", "socket": "/run/docker.sock"},
                            admin)
    assert status == 201, body
    base = {"name": "svc", "git_url": env["repo"].file_url, "branch": "main"}
    service_cases = [
        # (what, overrides, field, words the message must hold)
        ("name not DNS-1123", {"name": "User_API"}, "name", "DNS-1123"),
        ("git_url scheme", {"git_url": "ftp://example.com/app.git"}, "git_url", "https://"),
        ("git_url web page", {"git_url": "https://github.com/org/app"}, "git_url",
         "https://github.com/org/app.git"),
        ("git_url credentials", {"git_url": "https://u:p@example.com/app.git"}, "git_url",
         "credentials"),
        ("branch with refs/", {"branch": "refs/heads/main"}, "branch", "refs/heads"),
        ("branch missing", {"branch": None}, "branch", ""),
        ("dockerfile ..", {"dockerfile": {"mode": "path", "path": "../Dockerfile"}},
         "dockerfile.path", ".."),
        ("tag_rule variable", {"tag_rule": "${BRANCH}-${COMMIT}"}, "tag_rule", "COMMIT"),
        ("registry unknown", {"registry": "ghost-reg", "image": "library/app"}, "registry",
         "ghost-reg"),
        ("build_runtime docker", {"build_runtime": "dock"}, "build_runtime", "kubernetes"),
        ("build_runtime unknown", {"build_runtime": "ghost-rt"}, "build_runtime", "kubernetes"),
        ("webhook_secret short", {"webhook_secret": "short"}, "webhook_secret", "16"),
        ("unknown key", {"colour": "green"}, "colour", "unknown"),
    ]
    problems = []

    def expect(what, method, path, body, field, words):
        status, answer = kiwi.api(method, path, body, admin)
        if status != 422 or answer.get("field") != field or words not in answer.get("error", ""):
            problems.append((what, status, answer))

    for what, over, field, words in service_cases:
        body = dict(base, **over)
        body = {k: v for k, v in body.items() if v is not None}
        expect(what, "POST", "/services", body, field, words)
    expect("registry url with path", "POST", "/registries",
           {"name": "reg", "url": "harbor.company.com/library"}, "url", "no path")
    expect("registry password alone", "POST", "/registries",
           {"name": "reg", "url": "harbor.company.com", "password": "x"}, "username", "both")
    expect("runtime api_url http", "POST", "/runtimes",
           {"name": "k8s", "type": "kubernetes", "api_url": "http://k8s.company.com",
            "token": "t"}, "api_url", "https://")
    expect("runtime named local", "POST", "/runtimes",
           {"name": "local", "type": "docker", "socket": "/run/docker.sock"}, "name", "local")
    expect("runtime type", "POST", "/runtimes", {"name": "x", "type": "nomad"}, "type", "")
    expect("token role", "POST", "/tokens", {"name": "bot", "role": "root"}, "role", "")
    assert problems == [], json.dumps(problems, indent=1)

    # Nothing was stored by the rejected requests.
    assert [s["name"] for s in kiwi.api("GET", "/services", token=admin)[1]["items"]] == ["app"]
    # Not JSON -> 400; a wrong method -> 405; an unknown route -> 404.
    for raw in (b"{not json", b"[1, 2]", b""):
        status, answer = kiwi.api("POST", "/services", raw=raw or None, token=admin)
        assert status == 400 and "JSON" in answer["error"], (raw, status, answer)
    status, answer = kiwi.api("DELETE", "/queue", token=admin)
    assert status == 405 and "GET" in answer["error"]
    status, answer = kiwi.api("PATCH", "/services/app", {"branch": "x"}, admin)
    assert status == 405
    status, answer = kiwi.api("GET", "/no-such-thing", token=admin)
    assert status == 404 and "error" in answer
    status, answer = kiwi.api("GET", "/services/app/nothing/here", token=admin)
    assert status == 404


# --- 3. Authorization -------------------------------------------------------------------------

ROLES = ["none", "bad", "viewer", "developer", "deployer", "admin"]
RANK = {"viewer": 1, "developer": 2, "deployer": 3, "admin": 4}

# Every route of docs/api.md with the role it needs. Requests that the allowed roles make are
# harmless: unknown names (404) or bodies that fail validation (422).
ROUTES = [
    ("GET", "/services", None, "viewer"),
    ("POST", "/services", {}, "admin"),
    ("GET", "/services/app", None, "viewer"),
    ("PUT", "/services/ghost", {"git_url": "file:///nowhere.git", "branch": "main"}, "admin"),
    ("DELETE", "/services/ghost", None, "admin"),
    ("POST", "/services/test-connection", {}, "developer"),
    ("POST", "/services/ghost/test-connection", None, "developer"),
    ("GET", "/services/app/webhook", None, "viewer"),
    ("POST", "/services/ghost/webhook/rotate-secret", None, "admin"),
    ("POST", "/services/ghost/webhook/install", None, "admin"),
    ("GET", "/services/ghost/dockerfile/preview", None, "viewer"),
    ("GET", "/services/app/builds", None, "viewer"),
    ("POST", "/services/app/builds", {"commit": "not-a-sha"}, "developer"),
    ("GET", "/builds/no-such-build", None, "viewer"),
    ("POST", "/builds/no-such-build/cancel", None, "developer"),
    ("POST", "/services/app/deployments", {"environment": "nowhere"}, "developer"),
    ("GET", "/services/app/deployments", None, "viewer"),
    ("GET", "/deployments/no-such-deployment", None, "viewer"),
    ("POST", "/deployments/no-such-deployment/rollback", None, "developer"),
    ("GET", "/queue", None, "viewer"),
    ("GET", "/dead-letters", None, "viewer"),
    ("GET", "/registries", None, "viewer"),
    ("POST", "/registries", {}, "admin"),
    ("GET", "/registries/cfg-reg", None, "viewer"),
    ("PUT", "/registries/ghost", {"url": "x.example.com"}, "admin"),
    ("DELETE", "/registries/ghost", None, "admin"),
    ("POST", "/registries/ghost/test", None, "developer"),
    ("GET", "/runtimes", None, "viewer"),
    ("POST", "/runtimes", {}, "admin"),
    ("GET", "/runtimes/cfg-k8s", None, "viewer"),
    ("PUT", "/runtimes/ghost", {"type": "docker", "socket": "/run/docker.sock"}, "admin"),
    ("DELETE", "/runtimes/ghost", None, "admin"),
    ("POST", "/runtimes/ghost/test", None, "developer"),
    ("GET", "/tokens", None, "admin"),
    ("POST", "/tokens", {}, "admin"),
    ("DELETE", "/tokens/ghost", None, "admin"),
    ("GET", "/openapi.json", None, "viewer"),
]


def test_authorization_matrix_for_every_route_and_role(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    tokens = {"none": None, "bad": "kiwi_" + "0" * 40, "admin": admin,
              "viewer": make_token(kiwi, admin, "viewer-bot", "viewer"),
              "developer": make_token(kiwi, admin, "dev-bot", "developer"),
              "deployer": make_token(kiwi, admin, "deploy-bot", "deployer")}
    wrong = []
    for i, (method, path, body, needed) in enumerate(ROUTES):
        # A good token does not clear the bad-token record of an address (issue 14): each
        # route's two unauthenticated calls come from an address of their own, so the
        # throttle never builds up.
        for role in ROLES:
            source = f"127.0.0.{2 + i}" if role in ("none", "bad") else None
            status, answer = kiwi.api(method, path, body, tokens[role], source=source)
            if role in ("none", "bad"):
                expected = "401"
                ok = status == 401
            elif RANK[role] < RANK[needed]:
                expected = "403"
                ok = status == 403 and needed in answer.get("error", "")
            else:
                expected = "not 401/403"
                ok = status not in (401, 403) and status < 500
            if not ok:
                wrong.append(f"{method} {path} as {role}: {status} (expected {expected}) {answer}")
    assert wrong == [], "\n".join(wrong)
    # A malformed header is the same as none.
    status, _, _ = kiwi.request("GET", "/api/v1/services", headers={"Authorization": admin})
    assert status == 401


def test_openapi_document_is_served(env):
    kiwi = start_kiwi(env)
    status, body = kiwi.api("GET", "/openapi.json", token=kiwi.admin_token())
    assert status == 200, body  # docs/api.md: GET /api/v1/openapi.json
    assert "openapi" in body
    # It describes every route of this file's authorization matrix (docs/api.md's routes).
    def shape(path):
        path = path[len("/api/v1"):] if path.startswith("/api/v1/") else path
        return tuple("{}" if part.startswith("{") else part for part in path.split("/"))
    described = {(m.upper(), shape(p)) for p, ops in body["paths"].items() for m in ops}
    names = {"app", "ghost", "cfg-reg", "cfg-k8s", "no-such-build", "no-such-deployment"}
    for method, path, _, _ in ROUTES:
        route = tuple("{}" if part in names else part for part in path.split("/"))
        assert (method, route) in described, (method, path, sorted(body["paths"]))


def test_repeated_bad_tokens_are_slowed_down_and_a_good_one_does_not_clear_it(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    times = []
    for i in range(5):
        started = time.monotonic()
        status, _ = kiwi.api("GET", "/queue", token=f"kiwi_bad{i}")
        times.append(time.monotonic() - started)
        assert status == 401
    assert times[0] < 1.0 and times[1] < 1.0, times  # a typo or two costs nothing
    assert 0.2 < times[4] < 6.0, times
    assert times[4] > times[0], times
    # A good token is answered (after its wait) but does not clear the record (issue 14): the
    # next bad token still waits.
    assert kiwi.api("GET", "/queue", token=admin)[0] == 200
    started = time.monotonic()
    assert kiwi.api("GET", "/queue", token="kiwi_bad-again")[0] == 401
    assert time.monotonic() - started > 0.2


def test_the_third_bad_token_already_waits_as_documented(env):
    """docs/api.md: "the third bad token in a minute and every one after it wait"."""
    kiwi = start_kiwi(env)
    times = []
    for i in range(3):
        started = time.monotonic()
        assert kiwi.api("GET", "/queue", token=f"kiwi_bad{i}")[0] == 401
        times.append(time.monotonic() - started)
    assert times[2] > 0.2, times


# --- 4. Secrets at rest -----------------------------------------------------------------------

def test_secrets_are_sealed_in_redis_masked_in_answers_and_absent_from_logs(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    developer = make_token(kiwi, admin, "dev-bot", "developer")
    viewer = make_token(kiwi, admin, "view-bot", "viewer")
    status, body = kiwi.api("POST", "/services",
                            http_service(env, webhook_secret=WEBHOOK_SECRET), admin)
    assert status == 201, body
    status, body = kiwi.api("POST", "/registries",
                            {"name": "harbor", "url": "harbor.company.com", "username": "robot",
                             "password": REGISTRY_PASSWORD}, admin)
    assert status == 201, body
    status, body = kiwi.api("POST", "/runtimes",
                            {"name": "prod-k8s", "type": "kubernetes",
                             "api_url": "https://k8s.company.com", "token": RUNTIME_TOKEN},
                            admin)
    assert status == 201, body
    status, body = kiwi.api("POST", "/services/api-svc/test-connection", token=developer)
    assert status == 200 and body["ok"] is True, body

    secrets = [TOKEN, WEBHOOK_SECRET, REGISTRY_PASSWORD, RUNTIME_TOKEN, admin, developer, viewer]
    stored = json.dumps(dump_redis(env["redis"].client()))
    assert "kiwi:{r}:services" in stored and "kiwi:{r}:registries" in stored
    assert "kiwi:{r}:runtimes" in stored and "kiwi:{r}:api_tokens" in stored
    for secret in secrets:
        for form in encodings(secret):
            assert form not in stored, f"{secret!r} is in Redis as {form!r}"

    # The API masks every secret, for every role.
    for token in (admin, developer, viewer):
        shown = json.dumps([kiwi.api("GET", p, token=token)[1] for p in (
            "/services", "/services/api-svc", "/registries", "/registries/harbor", "/runtimes",
            "/runtimes/prod-k8s")])
        for secret in secrets:
            assert secret not in shown
    svc = kiwi.api("GET", "/services/api-svc", token=viewer)[1]
    assert svc["token"] == "***" and svc["webhook_secret"] == "***"
    # The webhook page shows the secret to admins only.
    assert kiwi.api("GET", "/services/api-svc/webhook", token=admin)[1]["webhook_secret"] == \
        WEBHOOK_SECRET
    for token in (developer, viewer):
        status, body = kiwi.api("GET", "/services/api-svc/webhook", token=token)
        assert status == 200 and body["webhook_secret"] == "***", body

    # A PUT that sends "***" keeps the stored token and webhook secret: the saved service still
    # authenticates against the git server.
    svc = {k: v for k, v in svc.items() if k not in ("source", "webhook_url")}
    svc["build_tags"] = True
    status, body = kiwi.api("PUT", "/services/api-svc", svc, admin)
    assert status == 200, body
    assert body["build_tags"] is True
    status, body = kiwi.api("POST", "/services/api-svc/test-connection", token=developer)
    assert status == 200 and body["ok"] is True and body["default_branch"] == "main", body
    assert kiwi.api("GET", "/services/api-svc/webhook", token=admin)[1]["webhook_secret"] == \
        WEBHOOK_SECRET
    # ... and a PUT with a new token really replaces it.
    status, body = kiwi.api("PUT", "/services/api-svc", dict(svc, token="glpat-wrong-0000"),
                            admin)
    assert status == 200, body
    status, body = kiwi.api("POST", "/services/api-svc/test-connection", token=developer)
    assert status == 422 and body["error"].startswith("Authentication failed:"), body
    status, body = kiwi.api("PUT", "/services/api-svc", dict(svc, token=TOKEN), admin)
    assert status == 200, body
    assert kiwi.api("POST", "/services/api-svc/test-connection", token=developer)[0] == 200
    # The registry and runtime keep their secrets through "***" too (they are still sealed).
    status, body = kiwi.api("PUT", "/registries/harbor",
                            {"url": "harbor.company.com", "username": "robot",
                             "password": "***"}, admin)
    assert status == 200 and body["password"] == "***", body

    stored = json.dumps(dump_redis(env["redis"].client()))
    for secret in secrets:
        assert secret not in stored
    kiwi.stop()
    log = kiwi.kiwid.output()
    assert "api-svc" in log  # the log is the right one
    for secret in secrets + ["glpat-wrong-0000"]:
        assert secret not in log, secret


def test_put_accepts_what_get_shows(env):
    """Edit forms send back what GET showed, "***" and all (docs/api.md: a PUT that sends
    "***" keeps the stored value); the read-only keys GET adds must not make that a 422."""
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    assert kiwi.api("POST", "/services", http_service(env), admin)[0] == 201
    assert kiwi.api("POST", "/registries", {"name": "harbor", "url": "harbor.company.com",
                                            "username": "robot",
                                            "password": REGISTRY_PASSWORD}, admin)[0] == 201
    assert kiwi.api("POST", "/runtimes", {"name": "prod-k8s", "type": "kubernetes",
                                          "api_url": "https://k8s.company.com",
                                          "token": RUNTIME_TOKEN}, admin)[0] == 201
    for path in ("/services/api-svc", "/registries/harbor", "/runtimes/prod-k8s"):
        status, shown = kiwi.api("GET", path, token=admin)
        assert status == 200, shown
        status, body = kiwi.api("PUT", path, shown, admin)
        assert status == 200, (path, body)
        assert body == shown, path
    status, body = kiwi.api("POST", "/services/api-svc/test-connection", token=admin)
    assert status == 200 and body["ok"], body


# --- 5. Test connection -----------------------------------------------------------------------

def test_connection_test_against_the_authenticated_git_server(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    developer = make_token(kiwi, admin, "dev-bot", "developer")
    web = env["web"]
    form = {"git_url": web.url("app"), "token": TOKEN, "git_username": "user"}

    status, body = kiwi.api("POST", "/services/test-connection", form, developer)
    assert status == 200, body
    assert body == {"ok": True, "branches": ["main"], "default_branch": "main",
                    "branch_exists": True}
    status, body = kiwi.api("POST", "/services/test-connection", dict(form, branch="develop"),
                            developer)
    assert status == 200 and body["branch_exists"] is False, body

    status, body = kiwi.api("POST", "/services/test-connection",
                            dict(form, token="glpat-wrong-token-1"), developer)
    assert status == 422, body
    assert body["ok"] is False and body["kind"] == "authentication"
    assert body["error"].startswith("Authentication failed:"), body
    assert "glpat-wrong-token-1" not in json.dumps(body)

    status, body = kiwi.api("POST", "/services/test-connection",
                            dict(form, git_url=web.url("missing")), developer)
    assert status == 422 and body["kind"] == "not_found", body
    assert body["error"].startswith("Repository not found:"), body

    started = time.monotonic()
    # (An admin reads why; a developer one "unreachable" answer: test_credentials.py.)
    status, body = kiwi.api("POST", "/services/test-connection",
                            dict(form, git_url=f"http://127.0.0.1:{free_port()}/git/app.git"),
                            admin)
    assert status == 422 and body["kind"] == "timeout", body
    assert body["error"].startswith("Connection timeout:"), body
    assert time.monotonic() - started < 12

    # A form with a bad field is a 422 naming it, before any connection.
    status, body = kiwi.api("POST", "/services/test-connection",
                            dict(form, git_url="https://github.com/org/app"), developer)
    assert status == 422 and body["field"] == "git_url", body

    # The same for saved services (config file and API).
    status, body = kiwi.api("POST", "/services", http_service(env), admin)
    assert status == 201, body
    status, body = kiwi.api("POST", "/services/api-svc/test-connection", token=developer)
    assert status == 200 and body["ok"] and body["default_branch"] == "main", body
    status, body = kiwi.api("POST", "/services/app/test-connection", token=developer)
    assert status == 200 and body["branches"] == ["main"], body
    status, body = kiwi.api("POST", "/services", http_service(env, name="bad-token",
                                                              token="glpat-nope-0000"), admin)
    assert status == 201
    status, body = kiwi.api("POST", "/services/bad-token/test-connection", token=developer)
    assert status == 422 and body["error"].startswith("Authentication failed:"), body
    assert kiwi.api("POST", "/services/ghost/test-connection", token=developer)[0] == 404


def test_ssh_service_hides_its_key_and_tests_its_connection_over_real_sshd(env):
    ssh = SshGitServer(env["root"]).start()
    try:
        kiwi = start_kiwi(env)
        admin = kiwi.admin_token()
        developer = make_token(kiwi, admin, "dev-bot", "developer")
        key = ssh.client_key
        key_body = key.splitlines()[1]  # a line of the key's own material
        svc = {"name": "ssh-svc", "git_url": ssh.url(env["repo"].bare), "branch": "main",
               "ssh_key": key}
        status, body = kiwi.api("POST", "/services", svc, admin)
        assert status == 201, body
        assert body["ssh_key"] == "***" and "ssh_known_hosts" not in body, body
        status, body = kiwi.api("GET", "/services/ssh-svc", token=admin)
        assert status == 200 and body["ssh_key"] == "***", body

        # Unpinned: the branches, and the host key reported with the line that would pin it.
        status, body = kiwi.api("POST", "/services/ssh-svc/test-connection", token=developer)
        assert status == 200, body
        assert body["ok"] is True and body["branches"] == ["main"], body
        assert body["host_key"] == ssh.fingerprint and body["host_key_pinned"] is False, body
        assert body["known_hosts_line"] == ssh.known_hosts_line, body

        # Pinned to another key: refused, naming the key the server presented.
        shown = {k: v for k, v in kiwi.api("GET", "/services/ssh-svc", token=admin)[1].items()
                 if k not in ("source", "webhook_url")}
        wrong_pin = ssh.other_known_hosts_line
        status, body = kiwi.api("PUT", "/services/ssh-svc", dict(shown, ssh_known_hosts=wrong_pin),
                                admin)
        assert status == 200 and body["ssh_known_hosts"] == wrong_pin, body
        status, body = kiwi.api("POST", "/services/ssh-svc/test-connection", token=developer)
        assert status == 422 and body["kind"] == "host_key", body
        assert body["error"] == (f"SSH host key verification failed: [127.0.0.1]:{ssh.port} "
                                 f"presented {ssh.fingerprint}, which is not in ssh_known_hosts")
        # Pinned to the reported line ("***" kept the key): through.
        status, body = kiwi.api("PUT", "/services/ssh-svc",
                                dict(shown, ssh_known_hosts=ssh.known_hosts_line), admin)
        assert status == 200, body
        status, body = kiwi.api("POST", "/services/ssh-svc/test-connection", token=developer)
        assert status == 200 and body["host_key_pinned"] is True, body

        # The form without a key says what to set.
        status, body = kiwi.api("POST", "/services/test-connection",
                                {"git_url": svc["git_url"]}, developer)
        assert status == 422 and body["kind"] == "authentication", body
        assert "set the service's ssh_key" in body["error"], body

        assert key_body not in json.dumps(dump_redis(env["redis"].client()))
        kiwi.stop()
        assert "ssh-svc" in kiwi.kiwid.output()
        assert key_body not in kiwi.kiwid.output()
    finally:
        ssh.stop()


# --- 6. Webhook setup and a worker that builds an API-registered service ----------------------

def test_webhook_setup_rotation_and_worker_builds_an_api_registered_service(env):
    kiwi = start_kiwi(env, workers=1)
    admin = kiwi.admin_token()
    developer = make_token(kiwi, admin, "dev-bot", "developer")
    status, body = kiwi.api("POST", "/services",
                            http_service(env, webhook_secret=WEBHOOK_SECRET), admin)
    assert status == 201, body

    status, page = kiwi.api("GET", "/services/api-svc/webhook", token=admin)
    assert status == 200, page
    assert page["github"]["payload_url"].endswith("/hooks/github/api-svc")
    assert page["gitlab"]["payload_url"].endswith("/hooks/gitlab/api-svc")
    assert page["github"]["payload_url"].startswith("http://127.0.0.1:")
    assert page["github"]["events"] == ["push"] and page["github"]["steps"]
    assert page["webhook_secret"] == WEBHOOK_SECRET
    assert kiwi.api("GET", "/services/ghost/webhook", token=admin)[0] == 404

    status, rotated = kiwi.api("POST", "/services/api-svc/webhook/rotate-secret", token=admin)
    assert status == 200, rotated
    new_secret = rotated["webhook_secret"]
    assert len(new_secret) >= 16 and new_secret not in (WEBHOOK_SECRET, "***")
    assert kiwi.api("GET", "/services/api-svc/webhook", token=admin)[1]["webhook_secret"] == \
        new_secret
    assert kiwi.api("POST", "/services/app/webhook/rotate-secret", token=admin)[0] == 409

    events = EventListener(env["redis"].client(), "kiwi:events:api-svc")
    payload = github_push_payload("main", ZERO, env["head"])
    status, _, body = kiwi.github_push("api-svc", WEBHOOK_SECRET, payload)
    assert status == 401, body
    status, _, body = kiwi.github_push("api-svc", new_secret, payload)
    assert status == 202, body
    build_id = body["build_id"]
    done = events.until(lambda e: e["build_id"] == build_id and e["type"] in (
        "build.succeeded", "build.failed"), timeout=30)
    assert done["type"] == "build.succeeded", events.events
    types = [e["type"] for e in events.events if e["build_id"] == build_id]
    assert types[0] == "build.queued" and "stage.succeeded" in types
    with open(os.path.join(kiwi.data_dir, "workspaces", build_id, "README.md")) as f:
        assert f.read() == "hello kiwi\n"

    status, build = kiwi.api("GET", f"/builds/{build_id}", token=developer)
    assert status == 200, build
    assert build["status"] == "succeeded" and build["sha"] == env["head"]
    assert build["stages"]["clone"]["status"] == "succeeded"
    assert build["stages"]["clone"]["started_at"] and build["stages"]["clone"]["finished_at"]
    for hidden in ("lease", "worker", "delivery"):
        assert hidden not in build
    # Durations come from the stage timestamps: per stage, and the build's from its first
    # stage's start to its end; the history shows the same record.
    clone = build["stages"]["clone"]
    assert clone["duration_ms"] == int(clone["finished_at"]) - int(clone["started_at"]) >= 0
    assert build["duration_ms"] == int(build["finished_at"]) - int(clone["started_at"])
    status, history = kiwi.api("GET", "/services/api-svc/builds", token=developer)
    assert status == 200, history
    assert [b["id"] for b in history["items"]] == [build_id]
    listed = history["items"][0]
    assert listed["status"] == "succeeded" and listed["sha"] == env["head"]
    assert listed["trigger"] == "webhook", listed
    assert listed["duration_ms"] == build["duration_ms"]
    assert listed["stages"]["clone"]["duration_ms"] == clone["duration_ms"]
    events.close()
    kiwi.stop()
    out = kiwi.all_output()
    for secret in (TOKEN, WEBHOOK_SECRET, new_secret, admin, developer):
        assert secret not in out


def test_dead_letters_show_a_build_that_ran_out_of_attempts(env):
    kiwi = start_kiwi(env, workers=1, extra={"queue": {"max_attempts": 1}})
    admin = kiwi.admin_token()
    closed = f"http://127.0.0.1:{free_port()}/git/app.git"
    status, body = kiwi.api("POST", "/services", http_service(env, name="down", git_url=closed),
                            admin)
    assert status == 201, body
    events = EventListener(env["redis"].client(), "kiwi:events:down")
    status, body = kiwi.api("POST", "/services/down/builds", {"commit": env["head"]}, admin)
    assert status == 202, body
    build_id = body["build_id"]
    done = events.until(lambda e: e["build_id"] == build_id and e["type"] == "build.failed",
                        timeout=30)
    assert done["message"].startswith("Connection timeout:"), done
    status, dead = kiwi.api("GET", "/dead-letters?limit=5", token=admin)
    assert status == 200, dead
    assert len(dead["items"]) == 1, dead
    item = dead["items"][0]
    assert item["build"] == build_id and item["service"] == "down"
    assert item["error"].startswith("Connection timeout:") and item["attempts"] == "1"
    assert item["ts"]
    status, queue = kiwi.api("GET", "/queue", token=admin)
    assert status == 200 and queue["dead_letters"] == 1, queue
    # Requeue (admin only): the build runs again with its attempts reset, the entry is gone.
    developer = make_token(kiwi, admin, "dev-bot", "developer")
    status, body = kiwi.api("POST", f"/dead-letters/{item['id']}/requeue", token=developer)
    assert status == 403, body
    status, body = kiwi.api("POST", f"/dead-letters/{item['id']}/requeue", token=admin)
    assert status == 202 and body == {"build_id": build_id, "status": "queued"}, body
    requeued = events.until(lambda e: e["build_id"] == build_id and
                            e["type"] == "build.requeued", timeout=10)
    # The second failure: the first is still in the listener's history.
    events.until(lambda e: e["build_id"] == build_id and e["type"] == "build.failed" and
                 e["seq"] > requeued["seq"], timeout=30)
    status, body = kiwi.api("POST", f"/dead-letters/{item['id']}/requeue", token=admin)
    assert status == 404, body
    status, dead = kiwi.api("GET", "/dead-letters?limit=5", token=admin)
    assert len(dead["items"]) == 1 and dead["items"][0]["id"] != item["id"], dead
    events.close()


# --- 7. Builds --------------------------------------------------------------------------------

def test_start_list_show_and_cancel_builds_without_a_worker(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    developer = make_token(kiwi, admin, "dev-bot", "developer")
    viewer = make_token(kiwi, admin, "view-bot", "viewer")
    repo = env["repo"]
    status, body = kiwi.api("POST", "/services",
                            http_service(env, cancel_superseded=False), admin)
    assert status == 201, body

    # By branch: kiwid resolves the head with ls-remote (over the authenticated server).
    status, first = kiwi.api("POST", "/services/api-svc/builds", {"branch": "main"}, developer)
    assert status == 202, first
    assert first["status"] == "queued" and first["sha"] == env["head"] and first["build_id"]
    second_sha = repo.commit({"b.txt": "b\n"}, "second")
    status, second = kiwi.api("POST", "/services/api-svc/builds", {}, developer)
    assert status == 202 and second["sha"] == second_sha, second  # default: the service's branch
    status, third = kiwi.api("POST", "/services/api-svc/builds", {"commit": env["head"]},
                             developer)
    assert status == 202 and third["sha"] == env["head"], third
    assert first["number"] < second["number"] < third["number"]
    # Config-file services too.
    status, body = kiwi.api("POST", "/services/app/builds", {"branch": "main"}, developer)
    assert status == 202 and body["sha"] == second_sha, body

    for bad in ("abc", env["head"].upper(), env["head"] + "0", "g" * 40):
        status, body = kiwi.api("POST", "/services/api-svc/builds", {"commit": bad}, developer)
        assert status == 422 and body["field"] == "commit", (bad, body)
    status, body = kiwi.api("POST", "/services/api-svc/builds", {"branch": "nope"}, developer)
    assert status == 422 and body["field"] == "branch", body
    assert kiwi.api("POST", "/services/ghost/builds", {}, developer)[0] == 404
    assert kiwi.api("POST", "/services/api-svc/builds", {}, viewer)[0] == 403

    # Newest first, with pagination.
    status, page = kiwi.api("GET", "/services/api-svc/builds", token=viewer)
    assert status == 200
    assert [b["id"] for b in page["items"]] == [third["build_id"], second["build_id"],
                                                first["build_id"]], page
    assert [b["sha"] for b in page["items"]] == [env["head"], second_sha, env["head"]]
    assert [b["status"] for b in page["items"]] == ["queued"] * 3
    assert "next_offset" not in page, page
    status, page1 = kiwi.api("GET", "/services/api-svc/builds?limit=2&offset=0", token=viewer)
    assert len(page1["items"]) == 2 and page1["next_offset"] == 2, page1
    status, page2 = kiwi.api("GET", "/services/api-svc/builds?limit=2&offset=2", token=viewer)
    assert len(page2["items"]) == 1 and "next_offset" not in page2, page2
    assert page1["items"] + page2["items"] == page["items"]
    assert [b["trigger"] for b in page["items"]] == ["manual"] * 3
    assert kiwi.api("GET", "/services/ghost/builds", token=viewer)[0] == 404

    status, build = kiwi.api("GET", f"/builds/{first['build_id']}", token=viewer)
    assert status == 200, build
    assert build["status"] == "queued" and build["sha"] == env["head"]
    assert build["service"] == "api-svc" and build["branch"] == "main"
    assert isinstance(build["stages"], dict)
    assert kiwi.api("GET", "/builds/no-such-build", token=viewer)[0] == 404

    # Queue: the documented shape.
    status, queue = kiwi.api("GET", "/queue", token=viewer)
    assert status == 200, queue
    assert isinstance(queue["outcomes"], dict)
    assert queue["running"] == 0 and queue["retrying"] == 0 and queue["dead_letters"] == 0
    assert queue["waiting"] == {"app": 1, "api-svc": 3}, queue
    status, dead = kiwi.api("GET", "/dead-letters", token=viewer)
    assert status == 200 and dead == {"items": []}, dead

    # Cancel a queued build: 200 cancelled; again: 409 (it already ended).
    status, body = kiwi.api("POST", f"/builds/{third['build_id']}/cancel", token=developer)
    assert status == 200 and body["status"] == "cancelled", body
    status, build = kiwi.api("GET", f"/builds/{third['build_id']}", token=viewer)
    assert build["status"] == "cancelled", build
    assert kiwi.api("GET", "/queue", token=viewer)[1]["waiting"]["api-svc"] == 2
    assert kiwi.api("POST", "/builds/no-such-build/cancel", token=developer)[0] == 404
    status, body = kiwi.api("POST", f"/builds/{third['build_id']}/cancel", token=developer)
    assert status == 409, body


# --- 8. Tokens --------------------------------------------------------------------------------

def test_tokens_are_created_listed_without_secrets_and_revoked(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    status, created = kiwi.api("POST", "/tokens", {"name": "ci-bot", "role": "developer"}, admin)
    assert status == 201, created
    token = created["token"]
    assert token.startswith("kiwi_") and created["name"] == "ci-bot"
    assert kiwi.api("POST", "/tokens", {"name": "ci-bot", "role": "viewer"}, admin)[0] == 409
    assert kiwi.api("POST", "/tokens", {"name": "Bad Name", "role": "viewer"}, admin)[0] == 422

    # It works, with its role's rights.
    assert kiwi.api("GET", "/services", token=token)[0] == 200
    assert kiwi.api("POST", "/services/test-connection", {}, token)[0] == 422
    assert kiwi.api("POST", "/services", {}, token)[0] == 403
    assert kiwi.api("GET", "/tokens", token=token)[0] == 403

    status, listed = kiwi.api("GET", "/tokens", token=admin)
    assert status == 200
    assert [(t["name"], t["role"]) for t in listed["items"]] == [("ci-bot", "developer")]
    text = json.dumps(listed)
    assert token not in text and admin not in text
    assert "hash" not in text and "token\"" not in text
    assert hashlib.sha256(token.encode()).hexdigest() not in text

    status, body = kiwi.api("DELETE", "/tokens/ci-bot", token=admin)
    assert status == 200, body
    assert kiwi.api("GET", "/services", token=token)[0] == 401
    assert kiwi.api("DELETE", "/tokens/ci-bot", token=admin)[0] == 404
    assert kiwi.api("GET", "/tokens", token=admin)[1] == {"items": []}
    # The name can be used again, with a new token.
    status, again = kiwi.api("POST", "/tokens", {"name": "ci-bot", "role": "viewer"}, admin)
    assert status == 201 and again["token"] != token
    assert kiwi.api("GET", "/services", token=again["token"])[0] == 200
    assert kiwi.api("GET", "/services", token=token)[0] == 401
