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

from kiwi_harness import (BIN_DIR, FIXTURES, EventListener, GitRepo, Kiwi, RedisServer, free_port,
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
    # No scanner configured: the scan stage is skipped and says so (docs/scan.md).
    assert build["scan"] == {"status": "skipped",
                             "message": "scan skipped: no scanner configured (scan.trivy_path)"}
    assert build["stages"]["push"]["status"] == "succeeded"

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
    assert re.search(r" clone:\d+(ms|\.\d+s),build:\d+(ms|\.\d+s|m\d\ds),scan:\S+,push:\S+ ", row), row
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


PROBE_STEP = r"""RUN echo "pid 1: $(tr '\0' ' ' < /proc/1/cmdline)"; \
    echo "eth0: $(ip -4 -o addr show dev eth0 2>&1)"; \
    if printf 'GET /healthz HTTP/1.0\r\n\r\n' | timeout 5 nc -w 3 127.0.0.1 {kiwid} 2>&1; \
    then echo "probe kiwid-tcp: reached"; else echo "probe kiwid-tcp: failed"; fi; \
    if printf 'PING\r\n' | timeout 5 nc -w 3 127.0.0.1 {redis} 2>&1; \
    then echo "probe redis-tcp: reached"; else echo "probe redis-tcp: failed"; fi; \
    if [ -e {sock} ]; then echo "probe redis-socket: reached"; \
    else echo "probe redis-socket: failed"; fi
"""


def test_run_steps_cannot_reach_the_hosts_services(env):
    """build.network "isolated" (the default): a RUN step that tries kiwid's and Redis's TCP
    ports on 127.0.0.1 and Redis's unix socket reaches none of them, and the build succeeds.
    It runs in its own PID namespace, on Kiwi's bridge, whose traffic to the host
    the installed firewall rules drop (checked on the rules: tests probe only 127.0.0.1)."""
    # The test's Redis also listens on a 127.0.0.1 TCP port for the probe.
    redis_port = free_port()
    client = env["redis"].client()
    client.config_set("bind", "127.0.0.1")
    client.config_set("port", str(redis_port))
    assert client.config_get("port")["port"] == str(redis_port)
    kiwi = start_kiwi(env)  # no build.network: the default
    events = EventListener(env["redis"].client(), "kiwi:events:shop")
    dockerfile = f"FROM {BASE}\n" + PROBE_STEP.format(kiwid=kiwi.port, redis=redis_port,
                                                      sock=env["redis"].sock)
    _, build_id = push(env, kiwi, {"Dockerfile": dockerfile}, "probe the host")
    final = events.until(done(build_id), timeout=240)
    status, _, text = kiwi.request("GET", f"/api/v1/builds/{build_id}/logs",
                                   headers={"Authorization": "Bearer " + kiwi.admin_token()})
    text = text.decode()
    assert final["type"] == "build.succeeded", text
    lines = text.splitlines()  # (the step's own text, echoed by buildah, names both outcomes)
    for probe in ("kiwid-tcp", "redis-tcp", "redis-socket"):
        assert f"[build] probe {probe}: failed" in lines, text
        assert f"[build] probe {probe}: reached" not in lines, text
    assert "+PONG" not in text and "HTTP/1.1 200" not in text, text
    # Its own PID namespace (pid 1 is the RUN step's shell, not the host's init), an address on
    # Kiwi's build subnet.
    assert re.search(r"pid 1: /bin/sh -c ", text), text
    assert re.search(r"eth0: .*inet 10\.231\.0\.\d+/24", text), text

    # Kiwi's network definition and the firewall rules the worker installed at start.
    with open(os.path.join(env["data_dir"], "buildah", "cni", "kiwi-build.conflist")) as f:
        conflist = json.load(f)
    bridge = conflist["plugins"][0]
    assert conflist["name"] == "kiwi-build" and bridge["bridge"] == "kiwi-build0"
    assert bridge["ipMasq"] is True  # outbound through NAT for dependency downloads
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.231.0.0/24"}]]
    comment = '"kiwi: build containers may not reach the host"'
    v4 = subprocess.run(["iptables", "-w", "10", "-S"], capture_output=True, text=True,
                        check=True).stdout.splitlines()
    v6 = subprocess.run(["ip6tables", "-w", "10", "-S"], capture_output=True, text=True,
                        check=True).stdout.splitlines()
    drop_input = f"-A INPUT -i kiwi-build0 -m comment --comment {comment} -j DROP"
    assert drop_input in v4 and drop_input in v6, (v4, v6)
    assert (f"-A FORWARD -d 169.254.0.0/16 -i kiwi-build0 -m comment --comment {comment} "
            "-j DROP") in v4, v4
    # First in INPUT, before any ACCEPT rule of the host's own.
    assert [r for r in v4 if r.startswith("-A INPUT")][0] == drop_input, v4

    # data_dir is private whatever the umask (this test runs with its own, usually 022):
    # every directory Kiwi keeps there 0700, its files 0600; the checkout keeps git's 0644,
    # which the image's files get.
    data = env["data_dir"]
    def mode(path):
        return oct(os.lstat(path).st_mode & 0o777)
    entries = sorted(os.listdir(data))
    assert {"mirrors", "workspaces", "buildah", "tmp", "kiwid.port"} <= set(entries), entries
    assert mode(data) == "0o700"
    for name in entries:
        path = os.path.join(data, name)
        want = "0o700" if os.path.isdir(path) else "0o600"
        assert mode(path) == want, (name, mode(path))
    for path in [os.path.join(data, "buildah", "cni"),
                 os.path.join(data, "buildah", "cni", "kiwi-build.conflist"),
                 os.path.join(data, "mirrors", "shop.git.lock")]:
        assert mode(path) == ("0o700" if os.path.isdir(path) else "0o600"), (path, mode(path))
    assert mode(os.path.join(data, "workspaces", build_id, "Dockerfile")) == "0o644"


def test_host_network_is_an_opt_in_with_a_warning(env):
    """build.network "host": the worker says at start, and each build's log says, that RUN
    steps reach every service of the machine."""
    env["kiwi"] = Kiwi(env["root"], env["redis"].url, [dict(
        name="shop", git_url=env["repo"].file_url, branch="main", webhook_secret=SECRET,
        dockerfile={"mode": "auto"})], workers=1, extra={"build": {"network": "host"}}).start()
    kiwi = env["kiwi"]
    wait_until(lambda: 'build.network is "host"' in kiwi.workers[0].output(),
               what="the worker's warning")
    events = EventListener(env["redis"].client(), "kiwi:events:shop")
    _, build_id = push(env, kiwi, {"Dockerfile": f"FROM {BASE}\nRUN true\n"}, "host network")
    final = events.until(done(build_id), timeout=240)
    assert final["type"] == "build.succeeded", final
    status, _, text = kiwi.request("GET", f"/api/v1/builds/{build_id}/logs",
                                   headers={"Authorization": "Bearer " + kiwi.admin_token()})
    assert 'warning: build.network is "host"' in text.decode()


def test_a_worker_that_cannot_isolate_builds_refuses_to_start(env):
    """Isolated builds need root (Kiwi's bridge and firewall rules): a worker without it stops
    at start with what to do, instead of building on the host's network."""
    root = tempfile.mkdtemp(prefix="kiwi-unprivileged-", dir=env["root"])
    os.chmod(env["root"], 0o755)
    os.chmod(root, 0o777)
    config = os.path.join(root, "kiwi.json")
    with open(config, "w") as f:
        json.dump({"redis": env["redis"].url, "data_dir": os.path.join(root, "data"),
                   "services": []}, f)
    os.chmod(config, 0o644)
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          os.path.join(BIN_DIR, "kiwi-worker"),
                          "--config", config], capture_output=True, text=True, timeout=30)
    assert res.returncode == 1, res
    assert ('build.network "isolated" cannot be provided: the worker does not run as root'
            in res.stderr), res.stderr
    assert 'set build.network to "none"' in res.stderr
