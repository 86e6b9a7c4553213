"""Push to image, end to end with real parts: a signed GitHub push webhook to a real kiwid, a
real kiwi-worker cloning from a real git repository and building with real buildah from a base
image made here from Debian's busybox-static (no internet), pushing to a real docker-registry
with htpasswd auth. The image is read back through the registry's v2 API and its digest
compared with the build record; the log is read as text and followed over SSE, with no secret
in it."""

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request

import pytest

from kiwi_harness import (FIXTURES, EventListener, GitRepo, Kiwi, RedisServer, free_port,
                          github_push_payload, kiwictl, rmtree, tempdir, wait_until, _port_open)

SECRET = "UNIQUE-build-webhook-secret-7d1e"
REG_USER, REG_PASSWORD = "kiwi-robot", "UNIQUE-registry-pass-c3f9a1"
BASE = "localhost/busybox:latest"

pytestmark = pytest.mark.skipif(shutil.which("buildah") is None or
                                shutil.which("docker-registry") is None,
                                reason="buildah and docker-registry are installed by "
                                       "scripts/install-deps.sh")


def buildah(storage_root, *args):
    return subprocess.run(["buildah", "--root", os.path.join(storage_root, "storage"),
                           "--runroot", os.path.join(storage_root, "run"),
                           "--storage-driver", "overlay", *args],
                          check=True, capture_output=True, text=True, timeout=120).stdout.strip()


def make_busybox_base(storage_root, work):
    """localhost/busybox:latest in the worker's storage, as docs/build-backends.md describes."""
    rootfs = os.path.join(work, "rootfs", "bin")
    os.makedirs(rootfs)
    shutil.copy("/bin/busybox", os.path.join(rootfs, "busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for name in applets:
        if name != "busybox" and not os.path.exists(os.path.join(rootfs, name)):
            os.symlink("busybox", os.path.join(rootfs, name))
    tar = os.path.join(work, "bb.tar")
    subprocess.run(["tar", "--numeric-owner", "-cf", tar, "-C", os.path.join(work, "rootfs"),
                    "."], check=True)
    c = buildah(storage_root, "from", "scratch")
    buildah(storage_root, "add", c, tar, "/")
    buildah(storage_root, "config", "--cmd", '["/bin/sh"]', "--env", "PATH=/bin", c)
    buildah(storage_root, "commit", "--quiet", c, BASE)
    buildah(storage_root, "rm", c)


class Registry:
    def __init__(self, root):
        self.dir = os.path.join(root, "registry")
        os.makedirs(os.path.join(self.dir, "data"))
        htpasswd = subprocess.run(["htpasswd", "-Bbn", REG_USER, REG_PASSWORD], check=True,
                                  capture_output=True, text=True).stdout
        with open(os.path.join(self.dir, "htpasswd"), "w") as f:
            f.write(htpasswd)
        self.port = free_port()
        with open(os.path.join(self.dir, "config.yml"), "w") as f:
            f.write(f"""version: 0.1
storage:
  filesystem:
    rootdirectory: {self.dir}/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{self.port}
auth:
  htpasswd:
    realm: kiwi-test
    path: {self.dir}/htpasswd
""")
        self.log = open(os.path.join(self.dir, "registry.log"), "w")
        self.proc = subprocess.Popen(["docker-registry", "serve",
                                      os.path.join(self.dir, "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: _port_open(self.port), what="docker-registry listening")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def get(self, path, accept=None, method="GET"):
        req = urllib.request.Request(self.url + path, method=method)
        auth = base64.b64encode(f"{REG_USER}:{REG_PASSWORD}".encode()).decode()
        req.add_header("Authorization", "Basic " + auth)
        if accept:
            req.add_header("Accept", accept)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture
def env():
    root = tempdir()
    redis_server = RedisServer(root).start()
    registry = Registry(root)
    data_dir = os.path.join(root, "data")
    work = tempfile.mkdtemp(prefix="kiwi-base-", dir=root)
    make_busybox_base(os.path.join(data_dir, "buildah"), work)
    repo = GitRepo(root, "shop")
    first = repo.commit({"README.md": "shop\n"}, "first")
    state = {"root": root, "redis": redis_server, "registry": registry, "repo": repo,
             "first": first, "kiwi": None, "data_dir": data_dir}
    yield state
    if state["kiwi"]:
        state["kiwi"].stop()
    registry.stop()
    redis_server.stop()
    # buildah's overlay storage may hold mounts and root-owned files: buildah removes its own.
    subprocess.run(["buildah", "--root", os.path.join(data_dir, "buildah", "storage"),
                    "--runroot", os.path.join(data_dir, "buildah", "run"),
                    "--storage-driver", "overlay", "rm", "--all"], capture_output=True)
    subprocess.run(["buildah", "--root", os.path.join(data_dir, "buildah", "storage"),
                    "--runroot", os.path.join(data_dir, "buildah", "run"),
                    "--storage-driver", "overlay", "rmi", "--all", "--force"],
                   capture_output=True)
    rmtree(root)


def start_kiwi(env, service_over=None):
    service = {"name": "shop", "git_url": env["repo"].file_url, "branch": "main",
               "webhook_secret": SECRET, "dockerfile": {"mode": "auto"},
               "registry": "local-reg", "image": "team/shop",
               "tag_rule": "${BRANCH}-${SHORT_SHA}-b${BUILD_NUMBER}"}
    service.update(service_over or {})
    registry = {"name": "local-reg", "url": env["registry"].url, "username": REG_USER,
                "password": REG_PASSWORD, "insecure": True}
    env["kiwi"] = Kiwi(env["root"], env["redis"].url, [service], workers=1,
                       worker_extra={"build_timeout_s": 300},
                       extra={"registries": [registry]}).start()
    return env["kiwi"]


def push(env, kiwi, files, message, branch="main"):
    sha = env["repo"].commit(files, message)
    status, _, body = kiwi.github_push("shop", SECRET,
                                       github_push_payload(branch, env["first"], sha, message))
    assert status == 202, body
    return sha, body["build_id"]


def done(build_id):
    return lambda ev: ev["build_id"] == build_id and ev["type"] in (
        "build.succeeded", "build.failed", "build.cancelled")


def test_push_builds_pushes_and_records_the_digest_the_registry_serves(env):
    kiwi = start_kiwi(env)
    events = EventListener(env["redis"].client(), "kiwi:events:shop")
    dockerfile = (f"FROM {BASE}\n"
                  "RUN echo built-by-kiwi > /marker && echo marker-line-from-run\n"
                  # A careless step printing a secret: the worker must mask it.
                  f"RUN echo leaking {REG_PASSWORD} now\n"
                  "COPY README.md /README.md\n"
                  'CMD ["cat", "/marker"]\n')
    sha, build_id = push(env, kiwi, {"Dockerfile": dockerfile}, "add a Dockerfile")
    final = events.until(done(build_id), timeout=240)
    assert final["type"] == "build.succeeded", [e["message"] for e in events.events]

    admin = kiwi.admin_token()
    status, build = kiwi.api("GET", f"/builds/{build_id}", token=admin)
    assert status == 200
    tag = f"main-{sha[:7]}-b{build['number']}"
    host = env["registry"].url.removeprefix("http://")
    assert build["image"] == f"{host}/team/shop:{tag}", build
    digest = build["digest"]
    assert digest.startswith("sha256:")
    # The registry serves the manifest under the tag with the same digest.
    status, headers, _ = env["registry"].get(
        f"/v2/team/shop/manifests/{tag}",
        accept="application/vnd.docker.distribution.manifest.v2+json, "
               "application/vnd.oci.image.manifest.v1+json")
    assert status == 200 and headers["Docker-Content-Digest"] == digest
    assert build["stages"]["clone"]["status"] == "succeeded"
    assert build["stages"]["build"]["status"] == "succeeded"
    assert build["dockerfile_path"] == "Dockerfile" and "built-by-kiwi" in build["dockerfile"]

    # The service's history: status, commit, trigger, image, digest and how long each stage
    # took, without the stored Dockerfile (GET /builds/{id} keeps it).
    status, history = kiwi.api("GET", "/services/shop/builds", token=admin)
    assert status == 200, history
    listed = history["items"][0]
    assert listed["id"] == build_id and listed["status"] == "succeeded"
    assert listed["sha"] == sha and listed["trigger"] == "webhook"
    assert listed["image"] == build["image"] and listed["digest"] == digest
    assert "dockerfile" not in listed and listed["dockerfile_path"] == "Dockerfile"
    stages = listed["stages"]
    for name in ("clone", "build"):
        st = stages[name]
        assert st["duration_ms"] == int(st["finished_at"]) - int(st["started_at"]) >= 0, st
    assert stages["build"]["duration_ms"] > 0  # buildah ran two RUN steps
    assert listed["duration_ms"] == int(listed["finished_at"]) - int(stages["clone"]["started_at"])
    assert listed["duration_ms"] >= stages["clone"]["duration_ms"] + stages["build"]["duration_ms"]
    # kiwictl build list: the same, as columns.
    res = kiwictl("build", "list", "shop", url=f"http://127.0.0.1:{kiwi.port}", token=admin)
    assert res.returncode == 0, res
    header, row = res.stdout.splitlines()[:2]
    assert header.split() == ["BUILD", "#", "STATUS", "REF", "SHA", "TRIGGER", "QUEUED",
                              "DURATION", "STAGES", "IMAGE", "DIGEST"], res.stdout
    assert row.startswith(build_id) and " succeeded " in row and sha[:12] in row, row
    assert re.search(r" clone:\d+(ms|\.\d+s),build:\d+(ms|\.\d+s|m\d\ds) ", row), row
    assert f" {build['image']} " in row and row.endswith(" " + digest[:len("sha256:") + 12]), row

    # The log as text: the RUN output is there, the secret is not.
    status, hdrs, text = kiwi.request("GET", f"/api/v1/builds/{build_id}/logs",
                                      headers={"Authorization": "Bearer " + admin})
    text = text.decode()
    assert status == 200 and hdrs["Content-Type"].startswith("text/plain")
    assert "[build] marker-line-from-run" in text
    assert "leaking *** now" in text
    # Live/replayed over SSE with ?follow=1: only log lines, ending with the final event.
    status, hdrs, sse = kiwi.request("GET", f"/api/v1/builds/{build_id}/logs?follow=1",
                                     headers={"Authorization": "Bearer " + admin}, timeout=20)
    sse = sse.decode()
    assert status == 200 and hdrs["Content-Type"] == "text/event-stream"
    kinds = [l.removeprefix("event: ") for l in sse.splitlines() if l.startswith("event: ")]
    assert set(kinds) == {"stage.log", "build.succeeded"} and kinds[-1] == "build.succeeded"
    assert "marker-line-from-run" in sse

    everything = (text + sse + json.dumps(events.events) + json.dumps(build) +
                  kiwi.all_output())
    for secret in (REG_PASSWORD, SECRET):
        assert secret not in everything
    # The credentials file lived only during the build.
    leftovers = [n for n in os.listdir(os.path.join(env["data_dir"], "tmp"))]
    assert leftovers == []


def test_failures_say_what_to_fix(env):
    kiwi = start_kiwi(env)
    events = EventListener(env["redis"].client(), "kiwi:events:shop")
    # A failing RUN: the step, its exit code and the last lines.
    _, build_id = push(env, kiwi, {"Dockerfile": f"FROM {BASE}\nRUN echo about-to-fail && "
                                                 "exit 3\n"}, "failing step")
    final = events.until(done(build_id), timeout=240)
    assert final["type"] == "build.failed"
    assert "exit code 3" in final["message"] and "about-to-fail" in final["message"]
    # A Dockerfile syntax error names the line.
    _, build_id = push(env, kiwi, {"Dockerfile": f"FROM {BASE}\nRUN true\nBOGUS x\n"},
                       "syntax error")
    final = events.until(done(build_id), timeout=240)
    assert final["type"] == "build.failed"
    assert "line 3" in final["message"], final["message"]
    # No Dockerfile at all: the message says what to set.
    subprocess.run(["git", "-C", env["repo"].work, "rm", "-q", "Dockerfile"], check=True)
    _, build_id = push(env, kiwi, {"docker/app.Dockerfile": f"FROM {BASE}\n"}, "moved")
    final = events.until(done(build_id), timeout=60)
    assert final["type"] == "build.failed"
    assert "docker/app.Dockerfile" in final["message"] and '"mode":"path"' in \
        final["message"].replace(" ", "")


def test_a_wrong_registry_password_fails_with_the_credentials_message(env):
    env_registry_password = "UNIQUE-wrong-password-00aa"
    kiwi = Kiwi(env["root"], env["redis"].url, [{
        "name": "shop", "git_url": env["repo"].file_url, "branch": "main",
        "webhook_secret": SECRET, "registry": "local-reg", "image": "team/shop",
        "dockerfile": {"mode": "auto"}}],
        workers=1, extra={"registries": [{"name": "local-reg", "url": env["registry"].url,
                                          "username": REG_USER,
                                          "password": env_registry_password,
                                          "insecure": True}]}).start()
    env["kiwi"] = kiwi
    events = EventListener(env["redis"].client(), "kiwi:events:shop")
    _, build_id = push(env, kiwi, {"Dockerfile": f"FROM {BASE}\nRUN true\n"}, "push it")
    final = events.until(done(build_id), timeout=240)
    assert final["type"] == "build.failed"
    assert "Image push failed: check the registry credentials" in final["message"]
    assert env_registry_password not in json.dumps(events.events) + kiwi.all_output()


def test_the_wizard_builds_from_the_configured_base_images(env):
    """build.wizard_images reaches the worker: buildah starts from the configured image (here
    the local busybox base, which has no yarn, so the install step fails after it)."""
    kiwi = Kiwi(env["root"], env["redis"].url, [{
        "name": "shop", "git_url": env["repo"].file_url, "branch": "main",
        "webhook_secret": SECRET, "dockerfile": {"mode": "wizard"}}],
        workers=1, worker_extra={"build_timeout_s": 300},
        extra={"build": {"wizard_images": {"node": BASE}}}).start()
    env["kiwi"] = kiwi
    events = EventListener(env["redis"].client(), "kiwi:events:shop")
    express = os.path.join(FIXTURES, "wizard", "node-yarn-express", "repo")
    files = {}
    for base, _, names in os.walk(express):
        for name in names:
            with open(os.path.join(base, name)) as f:
                files[os.path.relpath(os.path.join(base, name), express)] = f.read()
    _, build_id = push(env, kiwi, files, "an express app")
    final = events.until(done(build_id), timeout=240)
    assert final["type"] == "build.failed", final
    status, _, text = kiwi.request("GET", f"/api/v1/builds/{build_id}/logs",
                                   headers={"Authorization": "Bearer " + kiwi.admin_token()})
    text = text.decode()
    assert status == 200
    assert "[build] Dockerfile generated by the wizard: node/express via yarn" in text, text
    assert f"FROM {BASE} AS deps" in text, text
    assert "node:20" not in text, text  # the default image is not used
    assert "yarn" in final["message"], final["message"]
