"""Deploys, history and rollback end to end with real parts: a push builds with real buildah
from the busybox base, pushes to a real docker-registry with htpasswd, and the worker deploys it
by digest to development on podman serving the Docker Engine API; the container answers HTTP
(busybox httpd). A second push is revision 2; rollback brings revision 1's content back as
revision 3; production deploys need the deployer role; a worker SIGKILLed during a deploy is
reclaimed and the deploy ends cleanly, never two deploys of one environment at once; no
container is left behind. Needs the Docker deployer (branch i16-docker)."""

import os
import shutil
import signal
import tempfile
import urllib.request

import pytest

from kiwi_harness import (EventListener, GitRepo, Kiwi, RedisServer, github_push_payload,
                          kiwictl, rmtree, tempdir, wait_until)
from podman_service import PodmanService
from test_build_flow import BASE, REG_PASSWORD, REG_USER, Registry, make_busybox_base

SECRET = "UNIQUE-deploy-webhook-secret-5b2c"
DB_PASSWORD = "UNIQUE-secret-env-value-91ad"

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("buildah", "docker-registry", "podman")),
    reason="buildah, docker-registry and podman are installed by scripts/install-deps.sh")


@pytest.fixture
def env():
    root = tempdir()
    redis_server = RedisServer(root).start()
    registry = Registry(root)
    podman = PodmanService(root, insecure_registries=[registry.url.removeprefix("http://")])
    data_dir = os.path.join(root, "data")
    work = tempfile.mkdtemp(prefix="kiwi-base-", dir=root)
    make_busybox_base(os.path.join(data_dir, "buildah"), work)
    repo = GitRepo(root, "site")
    first = repo.commit({"README.md": "site\n"}, "first")
    state = {"root": root, "redis": redis_server, "registry": registry, "podman": podman,
             "repo": repo, "first": first, "kiwi": None}
    yield state
    if state["kiwi"]:
        state["kiwi"].stop()
    podman.stop()
    registry.stop()
    redis_server.stop()
    rmtree(root)


def start_kiwi(env, workers=1):
    service = {"name": "site", "git_url": env["repo"].file_url, "branch": "main",
               "webhook_secret": SECRET, "dockerfile": {"mode": "auto"},
               "registry": "local-reg", "image": "team/site",
               "deploy": [{"name": "development", "runtime": "local-docker", "port": 8080,
                           "secret_env": {"DB_PASSWORD": DB_PASSWORD}, "deadline_s": 120},
                          {"name": "production", "runtime": "local-docker", "port": 8080,
                           "replicas": 2, "deadline_s": 120}]}
    registry = {"name": "local-reg", "url": env["registry"].url, "username": REG_USER,
                "password": REG_PASSWORD, "insecure": True}
    runtime = {"name": "local-docker", "type": "docker", "socket": env["podman"].socket}
    env["kiwi"] = Kiwi(env["root"], env["redis"].url, [service], workers=workers,
                       worker_extra={"build_timeout_s": 300},
                       extra={"registries": [registry], "runtimes": [runtime],
                              "queue": {"visibility_timeout_ms": 3000}}).start()
    return env["kiwi"]


def dockerfile(content):
    return (f"FROM {BASE}\n"
            f"RUN mkdir /www && echo {content} > /www/index.html\n"
            'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n')


def push(env, kiwi, content):
    sha = env["repo"].commit({"Dockerfile": dockerfile(content)}, content)
    status, _, body = kiwi.github_push("site", SECRET,
                                       github_push_payload("main", env["first"], sha, content))
    assert status == 202, body
    return body["build_id"]


def ended(build_id):
    return lambda ev: ev["build_id"] == build_id and ev["type"] in (
        "build.succeeded", "build.failed", "build.cancelled")


def history(kiwi, token, env_name="development"):
    status, body = kiwi.api("GET", f"/services/site/deployments?env={env_name}", token=token)
    assert status == 200, body
    return body["items"]


def answer(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode().strip()


def test_push_deploys_history_rollback_and_roles(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    events = EventListener(env["redis"].client(), "kiwi:events:site")
    first = push(env, kiwi, "content-one")
    final = events.until(ended(first), timeout=300)
    assert final["type"] == "build.succeeded", [e["message"] for e in events.events]
    types = [e["type"] for e in events.events if e["build_id"] == first]
    assert "deploy.started" in types and "deploy.succeeded" in types, types
    [rev1] = history(kiwi, admin)
    assert rev1["revision"] == 1 and rev1["status"] == "succeeded" and rev1["trigger"] == "push"
    assert "@sha256:" in rev1["image"] and rev1["build_id"] == first
    assert rev1["config"]["secret_env"]["DB_PASSWORD"] == "***"
    assert answer(rev1["url"]) == "content-one"

    second = push(env, kiwi, "content-two")
    assert events.until(ended(second), timeout=300)["type"] == "build.succeeded"
    rev2, again = history(kiwi, admin)  # newest first
    assert (rev2["revision"], again["id"]) == (2, rev1["id"])
    assert answer(rev2["url"]) == "content-two"

    # Rollback: revision 1's image and config as revision 3, marked rollback_of it.
    url = f"http://127.0.0.1:{kiwi.port}"
    res = kiwictl("deploy", "rollback", "site", "--env", "development", url=url, token=admin)
    assert res.returncode == 0, res
    wait_until(lambda: history(kiwi, admin)[0]["status"] in ("succeeded", "failed"),
               timeout=180, what="rollback deployed")
    rev3 = history(kiwi, admin)[0]
    assert rev3["revision"] == 3 and rev3["rollback_of"] == rev1["id"], rev3
    assert rev3["status"] == "succeeded" and rev3["image"] == rev1["image"]
    assert answer(rev3["url"]) == "content-one"
    res = kiwictl("deploy", "history", "site", "--env", "development", url=url, token=admin)
    assert [line.split()[0] for line in res.stdout.splitlines()[1:]] == ["3", "2", "1"]

    # Production: a developer is refused, a deployer may.
    status, body = kiwi.api("POST", "/tokens", {"name": "dev", "role": "developer"}, admin)
    developer = body["token"]
    status, body = kiwi.api("POST", "/tokens", {"name": "release", "role": "deployer"}, admin)
    deployer = body["token"]
    request = {"environment": "production", "build": second}
    status, body = kiwi.api("POST", "/services/site/deployments", request, developer)
    assert status == 403 and body["field"] == "environment", body
    status, body = kiwi.api("POST", "/services/site/deployments", request, deployer)
    assert status == 202 and body["trigger"] == "release" and body["revision"] == 1, body
    wait_until(lambda: history(kiwi, admin, "production")[0]["status"] != "queued" and
               history(kiwi, admin, "production")[0]["status"] != "running", timeout=180,
               what="production deploy ended")
    assert history(kiwi, admin, "production")[0]["status"] == "succeeded"
    # secret_env never in Redis in clear (sealed in the service and in each revision), nor in
    # logs.
    r = env["redis"].client()
    stored = "".join(str(r.hgetall(k)) for k in r.scan_iter() if r.type(k) in ("hash", b"hash"))
    assert "deployment" in stored and DB_PASSWORD not in stored
    assert DB_PASSWORD not in kiwi.all_output()


def test_a_worker_killed_mid_deploy_is_reclaimed_and_ends_cleanly(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    events = EventListener(env["redis"].client(), "kiwi:events:site")
    build = push(env, kiwi, "content-kill")
    events.until(lambda e: e["build_id"] == build and e["type"] == "deploy.started", timeout=300)
    worker = kiwi.workers[0]
    os.kill(worker.pid, signal.SIGKILL)
    kiwi.add_worker()
    final = events.until(ended(build), timeout=300)
    assert final["type"] == "build.succeeded", [e["message"] for e in events.events]
    [rev] = history(kiwi, admin)
    assert rev["status"] == "succeeded" and rev["revision"] == 1  # the same revision, rerun
    # Never two deploys at once: between a deploy.started and its end, no other started.
    running = 0
    for e in events.events:
        if e.get("environment") != "development":
            continue
        if e["type"] == "deploy.started":
            running = 1  # a rerun after the kill restarts the same revision
        elif e["type"] in ("deploy.succeeded", "deploy.failed"):
            running -= 1
        assert running in (0, 1)
    # What the killed deploy left was replaced: one container of the revision, running.
    containers = env["podman"].containers("kiwi.service=site", "kiwi.env=development")
    assert [c["State"] for c in containers] == ["running"], containers
    assert containers[0]["Labels"]["kiwi.deployment"] == rev["id"]
    assert answer(rev["url"]) == "content-kill"
