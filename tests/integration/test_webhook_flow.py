"""End to end over real HTTP: signed push webhook -> kiwid -> Redis stream -> kiwi-worker ->
libgit2 clone -> events on pub/sub, against a real redis-server and real git servers."""

import hashlib
import hmac
import json
import os
import socket
import time
import uuid

import pytest

from kiwi_harness import (EventListener, GitDaemon, GitHttpServer, Kiwi, base_environment,
                          github_push_payload, wait_until)

SECRET = "webhook-secret-for-tests-0001"
TOKEN = "glpat-TOKEN-never-in-logs-7731"
ZERO = "0" * 40


@pytest.fixture
def env():
    with base_environment() as state:
        state["first"] = state["repo"].commit(
            {"README.md": "hello kiwi\n", "src/main.go": "package main\n"}, "first")
        yield state


def start_kiwi(env, services=None, **kw):
    if services is None:
        services = [{"name": "app", "git_url": env["repo"].file_url, "branch": "main",
                     "webhook_secret": SECRET}]
    env["kiwi"] = Kiwi(env["root"], env["redis"].url, services, **kw).start()
    return env["kiwi"]


def build_done(build_id):
    return lambda ev: ev["build_id"] == build_id and ev["type"] in ("build.succeeded",
                                                                  "build.failed")


def test_signed_push_is_cloned_at_the_pushed_commit(env):
    kiwi = start_kiwi(env)
    repo = env["repo"]
    second = repo.commit({"README.md": "second version\n", "new.txt": "new file\n"}, "second")
    events = EventListener(env["redis"].client(), "kiwi:events:app")
    status, _, body = kiwi.github_push("app", SECRET,
                                       github_push_payload("main", env["first"], second))
    assert status == 202, body
    assert body["status"] == "queued"
    build_id = body["build_id"]
    done = events.until(build_done(build_id))
    assert done["type"] == "build.succeeded", events.events
    mine = [e for e in events.events if e["build_id"] == build_id]
    types = [e["type"] for e in mine]
    assert types[0] == "build.queued"
    assert "stage.started" in types and "stage.succeeded" in types
    clone_ok = next(e for e in mine if e["type"] == "stage.succeeded")
    assert clone_ok["stage"] == "clone" and clone_ok["sha"] == second
    for e in mine:
        assert set(e) == {"v", "type", "build_id", "service", "ref", "sha", "stage", "status",
                          "ts", "seq", "message"}
        assert e["v"] == 1 and e["service"] == "app" and e["ref"] == "refs/heads/main"
    seqs = [e["seq"] for e in mine]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # The workspace held exactly the pushed commit's files.
    ws = os.path.join(kiwi.data_dir, "workspaces", build_id)
    with open(os.path.join(ws, "README.md")) as f:
        assert f.read() == "second version\n"
    assert os.path.exists(os.path.join(ws, "new.txt"))
    assert not os.path.exists(os.path.join(ws, ".git"))
    # A late subscriber can replay the same events from the build's stream, and the build
    # record says how it ended; the build holds no lease and no service slot any more.
    r = env["redis"].client()
    replay = [json.loads(f["event"]) for _, f in r.xrange(f"kiwi:{{q}}:build:{build_id}:events")]
    assert [e["seq"] for e in replay] == seqs
    record = r.hgetall(f"kiwi:{{q}}:build:{build_id}")
    assert record["status"] == "succeeded" and record["sha"] == second
    assert r.zcard("kiwi:{q}:leases") == 0 and r.scard("kiwi:{q}:svc:app:active") == 0
    assert r.llen("kiwi:{q}:svc:app:waiting") == 0
    events.close()


def test_workspace_is_removed_when_the_job_ends_by_default(env):
    kiwi = start_kiwi(env, worker_extra={"keep_workspaces": False})
    events = EventListener(env["redis"].client(), "kiwi:events:app")
    status, _, body = kiwi.github_push("app", SECRET,
                                       github_push_payload("main", ZERO, env["first"]))
    assert status == 202
    assert events.until(build_done(body["build_id"]))["type"] == "build.succeeded"
    ws = os.path.join(kiwi.data_dir, "workspaces", body["build_id"])
    wait_until(lambda: not os.path.exists(ws), timeout=5, what="workspace removal")
    assert os.path.isdir(os.path.join(kiwi.data_dir, "mirrors", "app.git"))


def test_redelivery_answers_duplicate_and_enqueues_nothing(env):
    kiwi = start_kiwi(env, workers=0)
    payload = github_push_payload("main", ZERO, env["first"])
    delivery = str(uuid.uuid4())
    s1, _, b1 = kiwi.github_push("app", SECRET, payload, delivery=delivery)
    s2, _, b2 = kiwi.github_push("app", SECRET, payload, delivery=delivery)
    assert s1 == 202 and s2 == 200
    assert b2 == {"status": "duplicate", "build_id": b1["build_id"]}
    r = env["redis"].client()
    assert r.lrange("kiwi:{q}:svc:app:waiting", 0, -1) == [b1["build_id"]]
    assert r.zcard("kiwi:{q}:service:app:builds") == 1
    assert 0 < r.ttl(f"kiwi:{{q}}:delivery:github:{delivery}") <= 7 * 24 * 3600


def test_a_replay_under_another_delivery_id_is_a_duplicate(env):
    """Whoever captured one signed push cannot make it build again by changing or dropping
    X-GitHub-Delivery (docs/security.md, "Smaller holes")."""
    kiwi = start_kiwi(env, workers=0)
    payload = github_push_payload("main", ZERO, env["first"])
    body = json.dumps(payload).encode()
    s1, _, b1 = kiwi.github_push("app", SECRET, body)
    assert s1 == 202, b1
    s2, _, b2 = kiwi.github_push("app", SECRET, body, delivery=str(uuid.uuid4()))
    assert s2 == 200 and b2 == {"status": "duplicate", "build_id": b1["build_id"]}, b2
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    s3, _, raw = kiwi.request("POST", "/hooks/github/app", body, {
        "Content-Type": "application/json", "X-GitHub-Event": "push",
        "X-Hub-Signature-256": "sha256=" + sig})
    assert s3 == 200 and json.loads(raw) == b2, raw
    r = env["redis"].client()
    assert r.lrange("kiwi:{q}:svc:app:waiting", 0, -1) == [b1["build_id"]]
    keys = r.keys("kiwi:{q}:replay:app:*")
    assert len(keys) == 1 and keys[0].startswith(f"kiwi:{{q}}:replay:app:{env['first']}:")
    assert 0 < r.ttl(keys[0]) <= 24 * 3600
    # Another push of the same commit (another body) builds.
    other = json.dumps(dict(payload, before=env["first"])).encode()
    s4, _, b4 = kiwi.github_push("app", SECRET, other)
    assert s4 == 202 and b4["build_id"] != b1["build_id"], b4


def test_pushes_that_must_not_build_are_ignored(env):
    kiwi = start_kiwi(env, workers=0)
    first = env["first"]
    cases = {
        "other branch": github_push_payload("feature/x", ZERO, first),
        "deleted": dict(github_push_payload("main", first, ZERO), deleted=True),
        "skip ci": github_push_payload("main", ZERO, first, message="docs [skip ci]"),
        "tag": dict(github_push_payload("main", ZERO, first), ref="refs/tags/v1.0.0"),
    }
    for name, payload in cases.items():
        status, _, body = kiwi.github_push("app", SECRET, payload)
        assert status == 200, name
        assert body["status"] == "ignored" and body["reason"], name
    assert env["redis"].client().exists("kiwi:{q}:svc:app:waiting") == 0


def test_bad_input_gets_a_clear_error_and_one_warning(env):
    kiwi = start_kiwi(env, workers=0, extra={"max_body_bytes": 4096})
    small = json.dumps({"ref": "refs/heads/main"}).encode()

    # Unknown service -> 404.
    status, _, body = kiwi.github_push("nope", SECRET, small)
    assert status == 404 and "unknown service" in body["error"]
    # Wrong signature -> 401; missing signature -> 401.
    status, _, body = kiwi.github_push("app", "some-other-secret-value", small)
    assert status == 401 and "X-Hub-Signature-256" in body["error"]
    status, _, data = kiwi.request("POST", "/hooks/github/app", small,
                                   {"X-GitHub-Event": "push"})
    assert status == 401 and "missing" in json.loads(data)["error"]
    # Signed but not JSON -> 400.
    status, _, body = kiwi.github_push("app", SECRET, b"{this is not json")
    assert status == 400 and "JSON" in body["error"]
    # Too large -> 413 (declared length and chunked).
    big = b"{" + b" " * 8000 + b"}"
    status, _, data = kiwi.request("POST", "/hooks/github/app", big, {"X-GitHub-Event": "push"})
    assert status == 413 and "max_body_bytes" in json.loads(data)["error"]
    with socket.create_connection(("127.0.0.1", kiwi.port), timeout=5) as s:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (big[:4000], big[4000:]))
        s.sendall(b"POST /hooks/github/app HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413")
    # Wrong method -> 405.
    status, _, data = kiwi.request("GET", "/hooks/github/app")
    assert status == 405 and "error" in json.loads(data)
    # GitLab: wrong token -> 401.
    status, _, data = kiwi.request("POST", "/hooks/gitlab/app", small,
                                   {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"})
    assert status == 401
    assert env["redis"].client().exists("kiwi:{q}:svc:app:waiting") == 0

    def warnings():
        return [l for l in kiwi.kiwid.output().splitlines() if " warning " in l]
    wait_until(lambda: len(warnings()) >= 8, timeout=5, what="warnings")
    time.sleep(0.2)
    out = kiwi.kiwid.output()
    assert len(warnings()) == 8, out  # exactly one per rejected request
    assert SECRET not in out


def test_gitlab_push_hook_with_token_builds(env):
    kiwi = start_kiwi(env)
    with open(os.path.join(os.environ.get("KIWI_SOURCE_DIR", "."), "tests/fixtures/gitlab/push_branch.json")) as f:
        payload = json.load(f)
    payload["ref"] = "refs/heads/main"
    payload["before"] = ZERO
    payload["after"] = env["first"]
    payload["checkout_sha"] = env["first"]
    events = EventListener(env["redis"].client(), "kiwi:events")
    status, _, data = kiwi.request(
        "POST", "/hooks/gitlab/app", json.dumps(payload).encode(),
        {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": SECRET,
         "X-Gitlab-Event-UUID": str(uuid.uuid4())})
    assert status == 202, data
    build_id = json.loads(data)["build_id"]
    assert events.until(build_done(build_id))["type"] == "build.succeeded"


def test_clone_over_git_daemon_and_http_with_token_and_secrets_stay_out(env):
    repos = os.path.dirname(env["repo"].bare)
    daemon = GitDaemon(repos).start()
    web = GitHttpServer(env["root"], repos, TOKEN).start()
    try:
        services = [
            {"name": "via-git", "git_url": daemon.url("app"), "branch": "main",
             "webhook_secret": SECRET},
            {"name": "via-http", "git_url": web.url("app"), "branch": "main", "token": TOKEN,
             "git_username": "user", "webhook_secret": SECRET},
            {"name": "bad-token", "git_url": web.url("app"), "branch": "main",
             "token": "wrong-" + TOKEN, "git_username": "user", "webhook_secret": SECRET},
        ]
        kiwi = start_kiwi(env, services=services)
        events = EventListener(env["redis"].client(), "kiwi:events")
        ids = {}
        for name in ("via-git", "via-http", "bad-token"):
            status, _, body = kiwi.github_push(name, SECRET,
                                               github_push_payload("main", ZERO, env["first"]))
            assert status == 202, body
            ids[name] = body["build_id"]
        results = {}
        for name, build_id in ids.items():
            results[name] = events.until(build_done(build_id), timeout=30)
        assert results["via-git"]["type"] == "build.succeeded"
        assert results["via-http"]["type"] == "build.succeeded"
        assert results["bad-token"]["type"] == "build.failed"
        assert results["bad-token"]["message"].startswith(
            "Authentication failed: check that the token hasn't expired and has "
            "read_repository permission")
        ws = os.path.join(kiwi.data_dir, "workspaces", ids["via-http"], "README.md")
        with open(ws) as f:
            assert f.read() == "hello kiwi\n"
        # Secrets never appear in events, build records, or any process output.
        r = env["redis"].client()
        everything = json.dumps(events.events)
        for build_id in ids.values():
            everything += json.dumps(r.hgetall(f"kiwi:{{q}}:build:{build_id}"))
            everything += json.dumps(r.xrange(f"kiwi:{{q}}:build:{build_id}:events"))
        kiwi.stop()
        everything += kiwi.all_output()
        for secret in (TOKEN, SECRET):
            assert secret not in everything
    finally:
        web.stop()
        daemon.stop()


def test_missing_commit_and_missing_repository_fail_with_the_users_message(env):
    services = [
        {"name": "app", "git_url": env["repo"].file_url, "branch": "main",
         "webhook_secret": SECRET},
        {"name": "gone", "git_url": "file://" + env["root"] + "/repos/missing.git",
         "branch": "main", "webhook_secret": SECRET},
    ]
    kiwi = start_kiwi(env, services=services)
    events = EventListener(env["redis"].client(), "kiwi:events")
    bogus = "1234567890abcdef1234567890abcdef12345678"
    _, _, b1 = kiwi.github_push("app", SECRET, github_push_payload("main", ZERO, bogus))
    _, _, b2 = kiwi.github_push("gone", SECRET, github_push_payload("main", ZERO, env["first"]))
    e1 = events.until(build_done(b1["build_id"]))
    e2 = events.until(build_done(b2["build_id"]))
    assert e1["type"] == "build.failed"
    assert e1["message"] == f"Commit {bogus} not found on branch main"
    assert e2["type"] == "build.failed"
    assert e2["message"].startswith("Repository not found: check that the URL ends with .git")


def test_redis_down_gives_503_fast_and_recovers(env):
    kiwi = start_kiwi(env, workers=0)
    payload = github_push_payload("main", ZERO, env["first"])
    env["redis"].stop()
    started = time.monotonic()
    status, headers, body = kiwi.github_push("app", SECRET, payload)
    elapsed = time.monotonic() - started
    assert status == 503 and "Retry-After" in headers
    assert elapsed < 1.0, elapsed
    status, _, _ = kiwi.request("GET", "/readyz")
    assert status == 503
    env["redis"].start()
    wait_until(lambda: kiwi.request("GET", "/readyz")[0] == 200, timeout=10, what="readyz")
    status, _, body = kiwi.github_push("app", SECRET, payload)
    assert status == 202, body


def test_health_and_metrics(env):
    kiwi = start_kiwi(env, workers=0)
    assert kiwi.request("GET", "/healthz")[0] == 200
    assert kiwi.request("GET", "/readyz")[0] == 200
    kiwi.github_push("app", SECRET, github_push_payload("main", ZERO, env["first"]))
    kiwi.github_push("app", "wrong-secret-wrong-secret", b"{}")
    status, headers, data = kiwi.request("GET", "/metrics")
    text = data.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert 'kiwi_webhook_requests_total{provider="github",status="202"} 1' in text
    assert 'kiwi_webhook_requests_total{provider="github",status="401"} 1' in text
    assert "kiwi_enqueue_duration_seconds_count 1" in text
    assert 'kiwi_enqueue_duration_seconds_bucket{le="+Inf"} 1' in text


def test_sigterm_finishes_in_flight_requests_then_exits_0(env):
    kiwi = start_kiwi(env)
    body = json.dumps(github_push_payload("main", ZERO, env["first"])).encode()
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    idle = socket.create_connection(("127.0.0.1", kiwi.port))  # an idle keep-alive connection
    s = socket.create_connection(("127.0.0.1", kiwi.port))
    head = (f"POST /hooks/github/app HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: push\r\nX-GitHub-Delivery: {uuid.uuid4()}\r\n"
            f"X-Hub-Signature-256: sha256={sig}\r\nContent-Length: {len(body)}\r\n\r\n")
    s.sendall(head.encode() + body[:100])  # the request is in flight
    time.sleep(0.2)
    kiwi.kiwid.proc.send_signal(15)
    time.sleep(0.3)
    # New connections are refused once kiwid stops accepting.
    refused = False
    try:
        socket.create_connection(("127.0.0.1", kiwi.port), timeout=1).close()
    except OSError:
        refused = True
    assert refused
    s.sendall(body[100:])
    s.settimeout(5)
    reply = s.recv(65536).decode()
    assert reply.startswith("HTTP/1.1 202"), reply
    assert "connection: close" in reply.lower()
    assert kiwi.kiwid.proc.wait(timeout=10) == 0
    idle.close()
    s.close()
    # The worker drains and exits 0 too.
    assert kiwi.workers[0].terminate() == 0
