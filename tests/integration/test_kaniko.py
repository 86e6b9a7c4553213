"""The Kaniko build backend end to end: a signed push webhook to a real kiwid, a real
kiwi-worker cloning from a real git server over http with a token, then building on a
Kubernetes runtime. No Kubernetes API server can run on our machines (ENVIRONMENT.md): the
runtime is the stub API server (tests/support/k8s_stub.py) playing Jobs, pods and logs with
recorded real API objects (tests/support/kaniko_cluster.py). Every scenario must leave no Job
and no Secret behind, and no secret in any event, log or answer."""

import base64
import json
import os
import sys
import time

import pytest

from kiwi_harness import (EventListener, GitHttpServer, GitRepo, Kiwi, RedisServer,
                          free_port, github_push_payload, rmtree, tempdir, wait_until)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from k8s_stub import K8sStub, make_self_signed  # noqa: E402
from kaniko_cluster import DIGEST, KanikoCluster  # noqa: E402

SECRET = "UNIQUE-kaniko-webhook-secret-4c1d"
GIT_TOKEN = "UNIQUE-kaniko-git-token-9e2a77"
REG_USER, REG_PASSWORD = "robot$kiwi", "UNIQUE-kaniko-registry-pass-51b0"
SA_TOKEN = "UNIQUE-kaniko-sa-token-0d93c1"
FORBIDDEN_TOKEN = "UNIQUE-kaniko-forbidden-token-7a2e"
SECRETS = [SECRET, GIT_TOKEN, REG_PASSWORD, SA_TOKEN, FORBIDDEN_TOKEN]
REGISTRY_HOST = "harbor.example.com"
BUILD_TIMEOUT_S = 10


@pytest.fixture(scope="module")
def env():
    root = tempdir()
    redis_server = RedisServer(root).start()
    repo = GitRepo(root, "shop")
    first = repo.commit({"README.md": "shop\n"}, "first")
    git = GitHttpServer(root, os.path.join(root, "repos"), GIT_TOKEN).start()
    cert, key = make_self_signed(root)
    stub = K8sStub(cert, key, SA_TOKEN, forbidden_token=FORBIDDEN_TOKEN,
                   log_path=os.path.join(root, "k8s-requests.jsonl")).start()
    cluster = KanikoCluster(stub)
    services = [
        {"name": "shop", "git_url": git.url("shop"), "branch": "main", "token": GIT_TOKEN,
         "git_username": "user", "webhook_secret": SECRET, "dockerfile": {"mode": "auto"},
         "registry": "harbor", "image": "team/shop", "build_runtime": "builds-k8s",
         "tag_rule": "${BRANCH}-${SHORT_SHA}", "cancel_superseded": False},
        {"name": "web", "git_url": git.url("shop"), "branch": "main", "token": GIT_TOKEN,
         "git_username": "user", "webhook_secret": SECRET,
         "dockerfile": {"mode": "wizard", "language": "node"},
         "registry": "harbor", "image": "team/web", "build_runtime": "builds-k8s",
         "cancel_superseded": False},
        {"name": "denied", "git_url": git.url("shop"), "branch": "main", "token": GIT_TOKEN,
         "git_username": "user", "webhook_secret": SECRET, "dockerfile": {"mode": "auto"},
         "registry": "harbor", "image": "team/denied", "build_runtime": "denied-k8s"},
        {"name": "down", "git_url": git.url("shop"), "branch": "main", "token": GIT_TOKEN,
         "git_username": "user", "webhook_secret": SECRET, "dockerfile": {"mode": "auto"},
         "registry": "harbor", "image": "team/down", "build_runtime": "down-k8s"}]
    extra = {
        "registries": [{"name": "harbor", "url": "https://" + REGISTRY_HOST,
                        "username": REG_USER, "password": REG_PASSWORD}],
        "runtimes": [{"name": "builds-k8s", "type": "kubernetes", "api_url": stub.url,
                      "ca_file": cert, "token": SA_TOKEN, "namespace": "ci-builds",
                      "kaniko": {"poll_interval_ms": 100, "pending_timeout_s": 1,
                                 "memory_limit": "3Gi"}},
                     {"name": "denied-k8s", "type": "kubernetes", "api_url": stub.url,
                      "ca_file": cert, "token": FORBIDDEN_TOKEN, "namespace": "ci-builds"},
                     # Nothing listens there: a cluster that cannot be reached.
                     {"name": "down-k8s", "type": "kubernetes",
                      "api_url": f"https://127.0.0.1:{free_port()}", "ca_file": cert,
                      "token": SA_TOKEN}],
    }
    kiwi = Kiwi(root, redis_server.url, services, workers=1,
                worker_extra={"build_timeout_s": BUILD_TIMEOUT_S}, extra=extra).start()
    events = EventListener(redis_server.client(), "kiwi:events:shop")
    events.pubsub.subscribe("kiwi:events:web", "kiwi:events:denied", "kiwi:events:down")
    wait_until(lambda: events.pubsub.get_message(timeout=0.1), what="subscription")
    state = {"root": root, "kiwi": kiwi, "repo": repo, "first": first, "stub": stub,
             "cluster": cluster, "redis": redis_server, "events": events,
             "admin": kiwi.admin_token()}
    yield state
    kiwi.stop()
    stub.stop()
    git.stop()
    redis_server.stop()
    rmtree(root)


def push(env, files, message, service="shop"):
    # Every push is a new commit, even when its Dockerfile is one an earlier test pushed.
    sha = env["repo"].commit(dict(files, **{"PUSHED": message + "\n"}), message)
    status, _, body = env["kiwi"].github_push(
        service, SECRET, github_push_payload("main", env["first"], sha, message))
    assert status == 202, body
    return sha, body["build_id"]


def finished(env, build_id, timeout=30):
    return env["events"].until(
        lambda ev: ev["build_id"] == build_id and ev["type"] in (
            "build.succeeded", "build.failed", "build.cancelled", "build.retrying"),
        timeout=timeout)


def assert_nothing_left(env):
    cluster = env["cluster"]
    wait_until(lambda: not cluster.live_jobs() and not cluster.live_secrets(), timeout=10,
               what="the build's Job and Secret deleted")


def assert_no_secret_anywhere(env, *texts):
    everything = (json.dumps(env["events"].events) + env["kiwi"].all_output() +
                  "".join(texts))
    for s in SECRETS:
        assert s not in everything


def job_requests(env, build_id):
    return [r for r in env["stub"].requests() if r["method"] == "POST" and
            r["path"].endswith("/jobs") and
            r["body"]["metadata"]["labels"]["kiwi.dev/build-id"] == build_id]


def secret_requests(env, build_id):
    return [r for r in env["stub"].requests() if r["method"] == "POST" and
            r["path"].endswith("/secrets") and
            r["body"]["metadata"]["labels"]["kiwi.dev/build-id"] == build_id]


def assert_no_git_credential_in_executor(pod):
    """Kaniko runs RUN steps inside its own container: the git token must reach only the clone
    (init) container, as a file from the Secret; the executor gets it neither by environment,
    nor by argument, nor by a mounted volume."""
    volumes = {v["name"]: v for v in pod["volumes"]}

    def secret_keys(volume):
        v = volumes[volume]
        return [i["key"] for i in v.get("secret", {}).get("items", [])] if "secret" in v else []

    [executor] = pod["containers"]
    assert executor["name"] == "kaniko"
    assert not executor.get("env") and not executor.get("envFrom"), executor
    assert not [a for a in executor["args"] if "git" in a.lower()], executor["args"]
    for m in executor["volumeMounts"]:
        assert "git-credentials" not in secret_keys(m["name"]), m
        if "secret" in volumes[m["name"]]:
            assert volumes[m["name"]]["secret"].get("items"), m  # never a whole Secret
    [clone] = pod["initContainers"]
    assert [m for m in clone["volumeMounts"] if "git-credentials" in secret_keys(m["name"])]
    assert not [e for e in clone["env"] if "valueFrom" in e]


def test_a_push_builds_with_kaniko_and_records_the_digest(env):
    env["cluster"].scenario = "success"
    sha, build_id = push(env, {"Dockerfile": "FROM busybox\nRUN echo hey\n"}, "kaniko build")
    final = finished(env, build_id)
    assert final["type"] == "build.succeeded", [e["message"] for e in env["events"].events
                                                if e["build_id"] == build_id]
    status, build = env["kiwi"].api("GET", f"/builds/{build_id}", token=env["admin"])
    assert status == 200
    assert build["digest"] == DIGEST
    assert build["image"] == f"{REGISTRY_HOST}/team/shop:main-{sha[:7]}"
    assert build["stages"]["build"]["status"] == "succeeded"

    # The Job Kiwi asked for: a clone container fetching the exact commit into a volume, and
    # the executor reading it as a dir:// context.
    [job] = job_requests(env, build_id)
    assert job["auth"] == "valid" and job["path"] == "/apis/batch/v1/namespaces/ci-builds/jobs"
    spec = job["body"]["spec"]
    assert spec["backoffLimit"] == 0 and 0 < spec["activeDeadlineSeconds"] <= BUILD_TIMEOUT_S
    container = spec["template"]["spec"]["containers"][0]
    assert container["image"].startswith("ghcr.io/osscontainertools/kaniko:")
    port = env["kiwi"].config["services"][0]["git_url"].split(":")[2].split("/")[0]
    args = container["args"]
    assert "--context=dir:///workspace" in args
    assert "--dockerfile=Dockerfile" in args
    assert f"--destination={REGISTRY_HOST}/team/shop:main-{sha[:7]}" in args
    assert "--cache=true" in args and f"--cache-repo={REGISTRY_HOST}/team/shop/cache" in args
    assert "--digest-file=/dev/termination-log" in args
    assert container["resources"]["limits"]["memory"] == "3Gi"
    assert all(s not in json.dumps(job["body"]) for s in SECRETS)  # secrets only in the Secret
    pod = spec["template"]["spec"]
    [clone] = pod["initContainers"]
    clone_env = {e["name"]: e["value"] for e in clone["env"]}
    assert clone_env["KIWI_GIT_URL"] == f"http://127.0.0.1:{port}/git/shop.git"
    assert clone_env["KIWI_GIT_REF"] == "refs/heads/main" and clone_env["KIWI_GIT_SHA"] == sha
    assert_no_git_credential_in_executor(pod)

    # The Secret: the registry's config.json and the git token.

    # The Secret: the registry's config.json and the git token.
    [secret] = secret_requests(env, build_id)
    data = secret["body"]["stringData"]
    auths = json.loads(data["config.json"])["auths"]
    assert base64.b64decode(auths[REGISTRY_HOST]["auth"]).decode() == \
        f"{REG_USER}:{REG_PASSWORD}"
    assert data["git-credentials"] == f"http://user:{GIT_TOKEN}@127.0.0.1:{port}\n"
    # ... owned by the Job (the uid of the recorded 201), so the cluster removes it with the Job
    # should the worker die.
    name = job["body"]["metadata"]["name"]
    [patch] = [r for r in env["stub"].requests()
               if r["method"] == "PATCH" and r["path"].endswith("/secrets/" + name)]
    [owner] = patch["body"]["metadata"]["ownerReferences"]
    assert owner["kind"] == "Job" and owner["name"] == name and patch["status"] == 200
    assert owner["uid"] == "6b71340e-c902-4afd-9943-1c3e0f26f678"

    # The pod's log became the build log, read as text and over SSE.
    headers = {"Authorization": "Bearer " + env["admin"]}
    status, _, text = env["kiwi"].request("GET", f"/api/v1/builds/{build_id}/logs",
                                          headers=headers)
    text = text.decode()
    assert status == 200
    assert "[build] INFO[0005] Run echo hey" in text and "[build] hey" in text
    assert text.count("INFO[0005] Run echo hey") == 1  # reconnects do not repeat lines
    status, _, sse = env["kiwi"].request("GET", f"/api/v1/builds/{build_id}/logs?follow=1",
                                         headers=headers, timeout=20)
    assert "Pushed gcr.io/imjasonh/kaniko-built@sha256" in sse.decode()
    assert_nothing_left(env)
    assert_no_secret_anywhere(env, text, sse.decode(), json.dumps(build))
    deletes = [r for r in env["stub"].requests() if r["method"] == "DELETE"]
    assert any(r["path"].endswith("/jobs/" + job["body"]["metadata"]["name"]) and
               r["query"].get("propagationPolicy") == ["Background"] for r in deletes)


def test_a_failing_run_step_fails_with_the_exit_code_and_the_last_lines(env):
    env["cluster"].scenario = "run-fails"
    _, build_id = push(env, {"Dockerfile": "FROM alpine:3.12\nRUN xx\n"}, "failing step")
    final = finished(env, build_id)
    assert final["type"] == "build.failed", final
    assert "Build step failed (exit code 1)" in final["message"]
    assert "RUN xx" in final["message"]  # the last lines of the executor's log
    assert_nothing_left(env)


def test_an_executor_image_that_cannot_be_pulled_is_named(env):
    env["cluster"].scenario = "image-pull"
    _, build_id = push(env, {"Dockerfile": "FROM busybox\n"}, "pull fails")
    final = finished(env, build_id)
    assert final["type"] == "build.failed", final
    assert 'executor image "notanimage/thatexistsanywhere:badtag" cannot be pulled' in \
        final["message"]
    assert "ImagePullBackOff" in final["message"]
    assert_nothing_left(env)


def test_a_pod_that_cannot_be_scheduled_fails_after_the_pending_timeout(env):
    env["cluster"].scenario = "unschedulable"
    _, build_id = push(env, {"Dockerfile": "FROM busybox\n"}, "no room")
    final = finished(env, build_id)
    assert final["type"] == "build.failed", final
    assert ("cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu, "
            "1 Insufficient memory.") in final["message"]
    assert "kaniko.cpu_request" in final["message"]
    assert_nothing_left(env)


def test_an_out_of_memory_executor_says_which_limit_to_raise(env):
    env["cluster"].scenario = "oom"
    _, build_id = push(env, {"Dockerfile": "FROM nginx:1.16.0-alpine\n"}, "big build")
    final = finished(env, build_id)
    assert final["type"] == "build.failed", final
    assert "OOMKilled" in final["message"] and "kaniko.memory_limit" in final["message"]
    assert_nothing_left(env)


def test_cancel_stops_the_build_and_deletes_the_job(env):
    env["cluster"].scenario = "slow"
    _, build_id = push(env, {"Dockerfile": "FROM nginx:1.16.0-alpine\n"}, "to cancel")
    env["events"].until(lambda ev: ev["build_id"] == build_id and ev["type"] == "stage.log" and
                        "Retrieving image manifest" in ev["message"], timeout=20)
    asked = time.monotonic()
    status, body = env["kiwi"].api("POST", f"/builds/{build_id}/cancel", token=env["admin"])
    assert status in (200, 202), body
    final = finished(env, build_id)
    took = time.monotonic() - asked
    assert final["type"] == "build.cancelled", final
    assert took < 3, took
    assert_nothing_left(env)


def test_the_build_deadline_ends_a_build_that_runs_too_long(env):
    env["cluster"].scenario = "slow"
    _, build_id = push(env, {"Dockerfile": "FROM nginx:1.16.0-alpine\nRUN sleep 1\n"},
                       "too slow")
    final = finished(env, build_id, timeout=BUILD_TIMEOUT_S + 20)
    assert final["type"] == "build.failed", final
    assert "did not finish before the build deadline" in final["message"]
    assert_nothing_left(env)


def test_a_wizard_dockerfile_reaches_kaniko_through_the_secret(env):
    env["cluster"].scenario = "success"
    _, build_id = push(env, {"package.json": '{"name": "web", "version": "1.0.0", '
                                             '"scripts": {"start": "node index.js"}}',
                             "package-lock.json": '{"lockfileVersion": 3}',
                             "index.js": "console.log('hi')\n"}, "node app", service="web")
    final = finished(env, build_id)
    assert final["type"] == "build.succeeded", final
    [job] = job_requests(env, build_id)
    container = job["body"]["spec"]["template"]["spec"]["containers"][0]
    assert "--dockerfile=/kiwi/Dockerfile" in container["args"]
    assert {"name": "dockerfile", "mountPath": "/kiwi", "readOnly": True} in \
        container["volumeMounts"]
    [secret] = secret_requests(env, build_id)
    dockerfile = secret["body"]["stringData"]["Dockerfile"]
    assert dockerfile.startswith("# syntax") or "FROM " in dockerfile
    status, build = env["kiwi"].api("GET", f"/builds/{build_id}", token=env["admin"])
    assert build["dockerfile"] == dockerfile and build["dockerfile_path"] == ".kiwi/Dockerfile"
    assert_nothing_left(env)


def test_a_service_account_without_rights_is_told_which_ones_it_needs(env):
    _, build_id = push(env, {"Dockerfile": "FROM busybox\n"}, "no rights", service="denied")
    final = finished(env, build_id)
    assert final["type"] == "build.failed", final
    assert 'runtime "denied-k8s" may not create the build Secret in namespace "ci-builds"' in \
        final["message"]
    assert "grant its service account create/get/delete on jobs and secrets" in final["message"]
    assert_nothing_left(env)
    assert_no_secret_anywhere(env)


def test_a_retried_build_replaces_what_its_dead_attempt_left(env):
    # The worker of an earlier attempt died mid-build: its Secret and running Job (same names:
    # they are the build's) are still there. The new attempt removes both and builds.
    env["cluster"].scenario = "success"
    env["cluster"].leftover_next = True
    _, build_id = push(env, {"Dockerfile": "FROM busybox\nRUN echo hey\n"}, "retried")
    final = finished(env, build_id)
    assert final["type"] == "build.succeeded", final
    name = job_requests(env, build_id)[0]["body"]["metadata"]["name"]
    calls = [(r["method"], r["path"].rsplit("/", 1)[-1], r["status"])
             for r in env["stub"].requests() if name in r["path"] or
             (r["method"] == "POST" and r["body"]["metadata"]["name"] == name)]
    assert calls[:2] == [("POST", "secrets", 409), ("DELETE", name, 200)], calls
    assert ("POST", "jobs", 409) in calls and ("POST", "jobs", 201) in calls
    assert calls.count(("POST", "secrets", 201)) == 1
    assert_nothing_left(env)


def test_an_unreachable_cluster_is_a_transient_failure_that_is_retried(env):
    _, build_id = push(env, {"Dockerfile": "FROM busybox\n"}, "cluster down", service="down")
    final = finished(env, build_id)
    assert final["type"] == "build.retrying", final
    assert "cannot reach the Kubernetes API of runtime \"down-k8s\"" in final["message"], final
    assert "check the runtime's api_url" in final["message"]
    status, body = env["kiwi"].api("POST", f"/builds/{build_id}/cancel", token=env["admin"])
    assert status in (200, 202), body
    assert_no_secret_anywhere(env)
