"""The Docker runtime's deployer with real parts (docs/deploy.md, "Docker runtime"): podman's
Docker Engine API on a private unix socket, a real docker-registry with htpasswd auth, and
images built with real buildah from a busybox base made here (no internet), pushed by digest:
one serving HTTP with `busybox httpd` (two revisions), one that exits 1, one whose HEALTHCHECK
never passes. kiwi-deploy-tool (bench/deploy_tool.cpp) runs the deployer; what it did is read
back from podman's own API and over HTTP. The tests run in order against one podman: each
starts from what the previous one left running. No container is left afterwards."""

import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

from kiwi_harness import BIN_DIR, free_port, rmtree, tempdir, wait_until
from podman_service import PodmanService
from test_build_flow import BASE, REG_PASSWORD, REG_USER, Registry, buildah, make_busybox_base

WRONG_PASSWORD = "UNIQUE-deploy-wrong-pass-5e1f"
API_KEY = "UNIQUE-deploy-secret-env-a77c"
SECRETS = [REG_PASSWORD, WRONG_PASSWORD, API_KEY]
SERVICE, ENV = "shop", "development"

pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in ("buildah", "podman", "docker-registry", "htpasswd")),
    reason="buildah, podman, docker-registry and apache2-utils are installed by "
           "scripts/install-deps.sh")

HTTPD = 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
IMAGES = {
    # name: (Dockerfile after FROM, files in the context)
    "web-v1": ("COPY index.html /www/index.html\n" + HTTPD, {"index.html": "revision one\n"}),
    # Its HEALTHCHECK passes once httpd answers: the image's own check decides.
    "web-v2": ("COPY index.html /www/index.html\n"
               "HEALTHCHECK --interval=1s --timeout=2s CMD wget -q -O /dev/null "
               "http://127.0.0.1:8080/index.html\n" + HTTPD, {"index.html": "revision two\n"}),
    "crash": ('CMD ["sh", "-c", "echo starting with key $API_KEY; echo boom >&2; exit 1"]\n', {}),
    "sick": ("RUN mkdir /www\nHEALTHCHECK --interval=1s --timeout=1s CMD false\n" + HTTPD, {}),
}


def build_and_push(storage, root, registry, name, tail, files):
    ctx = os.path.join(root, "ctx", name)
    os.makedirs(ctx)
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(f"FROM {BASE}\n{tail}")
    for path, content in files.items():
        with open(os.path.join(ctx, path), "w") as f:
            f.write(content)
    buildah(storage, "bud", "--format", "docker", "--isolation", "chroot", "--quiet",
            "-t", f"localhost/{name}:1", ctx)
    digest_file = os.path.join(root, name + ".digest")
    host = f"127.0.0.1:{registry.port}"
    buildah(storage, "push", "--format", "docker", "--digestfile", digest_file,
            "--creds", f"{REG_USER}:{REG_PASSWORD}", "--tls-verify=false",
            f"localhost/{name}:1", f"docker://{host}/team/{name}:1")
    with open(digest_file) as f:
        return f"{host}/team/{name}@{f.read().strip()}"


@pytest.fixture(scope="module")
def env():
    root = tempdir()
    registry = Registry(root)
    storage = os.path.join(root, "buildah")
    work = os.path.join(root, "base")
    os.makedirs(work)
    podman = None
    try:
        make_busybox_base(storage, work)
        images = {name: build_and_push(storage, root, registry, name, tail, files)
                  for name, (tail, files) in IMAGES.items()}
        podman = PodmanService(root, insecure_registries=[f"127.0.0.1:{registry.port}"])
        runtime = os.path.join(root, "runtime.json")
        with open(runtime, "w") as f:
            json.dump({"name": "podman", "type": "docker", "socket": podman.socket}, f)
        yield {"root": root, "registry": registry, "podman": podman, "images": images,
               "runtime": runtime, "outputs": []}
        # After every test: nothing of Kiwi's is left once the environment is removed.
        tool("remove", "--runtime", runtime, "--service", SERVICE, "--env", ENV)
        assert podman.containers() == []
    finally:
        if podman:
            podman.stop()
        registry.stop()
        for args in (["rm", "--all"], ["rmi", "--all", "--force"]):
            subprocess.run(["buildah", "--root", os.path.join(storage, "storage"),
                            "--runroot", os.path.join(storage, "run"),
                            "--storage-driver", "overlay", *args], capture_output=True)
        rmtree(root)


def tool(*args, timeout=180):
    res = subprocess.run([os.path.join(BIN_DIR, "kiwi-deploy-tool"), *args], capture_output=True,
                         text=True, timeout=timeout)
    assert res.returncode in (0, 1), res.stderr
    return res


def request(env, deployment_id, revision, image, password=REG_PASSWORD, **over):
    spec = {"replicas": 2, "port": 8080, "env": {"GREETING": "hello"},
            "secret_env": {"API_KEY": API_KEY},
            "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
            "deadline_s": 60, "health": {"path": "/index.html"}}
    spec.update(over)
    body = {"service": SERVICE, "environment": ENV, "deployment_id": deployment_id,
            "revision": revision, "image": env["images"].get(image, image), "env": spec,
            "registry": {"name": "reg", "url": env["registry"].url, "username": REG_USER,
                         "password": password, "insecure": True}}
    path = os.path.join(env["root"], f"request-{deployment_id}.json")
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(body, f)
    return path


def deploy(env, *args, **kwargs):
    """Runs a deploy; returns (progress reports, result)."""
    res = tool("deploy", "--runtime", env["runtime"], "--request", request(env, *args, **kwargs))
    env["outputs"].append(res.stdout + res.stderr)
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert lines and "result" in lines[-1], res.stdout + res.stderr
    result = lines[-1]["result"]
    assert (res.returncode == 0) == result["succeeded"]
    return [line["progress"] for line in lines[:-1]], result


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def deployment_containers(env, deployment_id):
    return env["podman"].containers(f"kiwi.deployment={deployment_id}")


def assert_no_secret(env):
    for out in env["outputs"]:
        for secret in SECRETS:
            assert secret not in out


def test_a_first_deploy_runs_two_healthy_replicas_with_labels_limits_and_env(env):
    progress, result = deploy(env, "dep-1", 1, "web-v1")
    assert result["succeeded"], result
    assert result["message"] == f"2/2 replicas running ({result['url']})"
    assert progress[-1] == {"ready": 2, "desired": 2, "message": "2/2 replicas ready",
                            "diagnostic": ""}
    assert get(result["url"] + "index.html") == "revision one\n"
    containers = sorted(deployment_containers(env, "dep-1"), key=lambda c: c["Names"][0])
    assert [c["Names"][0] for c in containers] == [f"/kiwi-{SERVICE}-{ENV}-r1-1",
                                                   f"/kiwi-{SERVICE}-{ENV}-r1-2"]
    for i, c in enumerate(containers, start=1):
        status, inspect = env["podman"].api("GET", f"/containers/{c['Id']}/json")
        assert status == 200
        labels = inspect["Config"]["Labels"]
        assert {k: labels[k] for k in ("kiwi.service", "kiwi.env", "kiwi.deployment",
                                       "kiwi.revision", "kiwi.replica")} == {
            "kiwi.service": SERVICE, "kiwi.env": ENV, "kiwi.deployment": "dep-1",
            "kiwi.revision": "1", "kiwi.replica": str(i)}
        assert inspect["HostConfig"]["NanoCpus"] == 500_000_000
        assert inspect["HostConfig"]["Memory"] == 64 * 1024 * 1024
        assert inspect["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert "GREETING=hello" in inspect["Config"]["Env"]
        assert f"API_KEY={API_KEY}" in inspect["Config"]["Env"]
        binding = inspect["HostConfig"]["PortBindings"]["8080/tcp"][0]
        assert binding["HostIp"] == "127.0.0.1"
        # Every replica answers on its own published port.
        port = inspect["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        assert get(f"http://127.0.0.1:{port}/index.html") == "revision one\n"
    # What Kiwi reports of the running deployment: never the containers' Env.
    res = tool("inspect", "--runtime", env["runtime"], "--service", SERVICE, "--env", ENV)
    env["outputs"].append(res.stdout)
    state = json.loads(res.stdout)["state"]
    assert (state["deployment_id"], state["ready"], state["desired"]) == ("dep-1", 2, 2)
    assert state["image"] == env["images"]["web-v1"] and state["url"] == result["url"]
    assert API_KEY not in res.stdout
    assert_no_secret(env)


def test_a_second_revision_replaces_the_first_once_healthy(env):
    old = {c["Id"] for c in deployment_containers(env, "dep-1")}
    # No health.path: web-v2's own HEALTHCHECK (run by podman at Kiwi's request) decides.
    progress, result = deploy(env, "dep-2", 2, "web-v2", health={})
    assert result["succeeded"], result
    assert progress[-1]["ready"] == 2
    for c in deployment_containers(env, "dep-2"):
        inspect = env["podman"].api("GET", f"/containers/{c['Id']}/json")[1]
        assert inspect["State"]["Health"]["Status"] == "healthy"
    assert get(result["url"] + "index.html") == "revision two\n"
    assert deployment_containers(env, "dep-1") == []
    assert {c["Id"] for c in env["podman"].containers()}.isdisjoint(old)
    assert len(deployment_containers(env, "dep-2")) == 2
    assert_no_secret(env)
    env["current_url"] = result["url"]


def test_a_crashing_image_fails_with_its_exit_code_and_logs_and_the_previous_keeps_running(env):
    _, result = deploy(env, "dep-3", 3, "crash")
    assert not result["succeeded"]
    assert result["exit_code"] == 1
    assert "kiwi-shop-development-r3-" in result["message"], result
    assert "keeps running" in result["message"]
    assert "boom" in result["log_tail"]
    # The log line with the secret env value is there, masked.
    assert "starting with key ***" in result["log_tail"]
    assert len(result["log_tail"]) <= 20
    assert deployment_containers(env, "dep-3") == []
    assert get(env["current_url"] + "index.html") == "revision two\n"
    assert_no_secret(env)


def test_an_image_that_never_gets_healthy_fails_at_the_deadline(env):
    progress, result = deploy(env, "dep-4", 4, "sick", deadline_s=6, health={})
    assert not result["succeeded"]
    assert "0/2 replicas healthy within the deadline of 6 s" in result["message"], result
    assert "HEALTHCHECK unhealthy" in result["message"]
    assert any(p["diagnostic"] for p in progress)
    assert deployment_containers(env, "dep-4") == []
    assert get(env["current_url"] + "index.html") == "revision two\n"


@pytest.mark.parametrize("image, password, cause", [
    ("web-v1", WRONG_PASSWORD, "unauthorized"),
    ("127.0.0.1:{port}/team/web-v1@sha256:" + "0" * 64, REG_PASSWORD, "manifest unknown"),
])
def test_a_pull_that_fails_says_so_and_what_to_check(env, image, password, cause):
    image = image.format(port=env["registry"].port)
    _, result = deploy(env, "dep-5", 5, image, password=password)
    assert not result["succeeded"]
    assert result["message"].startswith("cannot pull " + env["images"].get(image, image) + ": ")
    assert cause in result["message"]
    assert result["message"].endswith(": check the image path and the registry credentials")
    assert deployment_containers(env, "dep-5") == []
    assert get(env["current_url"] + "index.html") == "revision two\n"
    assert_no_secret(env)


def test_a_rerun_of_a_half_done_deploy_replaces_its_leftovers(env):
    # The first run is killed while it waits for its replicas (running 20 s counts healthy).
    path = request(env, "dep-6", 6, "web-v1", health={"startup_s": 20})
    proc = subprocess.Popen([os.path.join(BIN_DIR, "kiwi-deploy-tool"), "deploy", "--runtime",
                             env["runtime"], "--request", path], stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if json.loads(line).get("progress", {}).get("message", "").endswith("replicas ready"):
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
    leftovers = {c["Id"] for c in deployment_containers(env, "dep-6")}
    assert len(leftovers) == 2
    assert len(deployment_containers(env, "dep-2")) == 2  # the previous one still runs
    _, result = deploy(env, "dep-6", 6, "web-v1", health={"startup_s": 20})
    assert result["succeeded"], result
    now = {c["Id"] for c in deployment_containers(env, "dep-6")}
    assert len(now) == 2 and now.isdisjoint(leftovers)
    assert deployment_containers(env, "dep-2") == []
    assert get(result["url"] + "index.html") == "revision one\n"


def test_a_fixed_host_port_is_handed_from_one_revision_to_the_next(env):
    port = free_port()
    _, result = deploy(env, "dep-7", 7, "web-v2", host_port=port, health={})
    assert result["succeeded"], result
    assert result["url"] == f"http://127.0.0.1:{port}/"
    assert get(result["url"] + "index.html") == "revision two\n"
    # A failure gives the port back to the previous revision.
    _, failed = deploy(env, "dep-8", 8, "crash", host_port=port)
    assert not failed["succeeded"] and failed["exit_code"] == 1
    wait_until(lambda: answers(result["url"] + "index.html"), timeout=30,
               what="the previous revision answering again")
    assert get(result["url"] + "index.html") == "revision two\n"
    _, again = deploy(env, "dep-9", 9, "web-v1", host_port=port)
    assert again["succeeded"], again
    assert get(f"http://127.0.0.1:{port}/index.html") == "revision one\n"
    assert deployment_containers(env, "dep-7") == []
    assert_no_secret(env)


def answers(url):
    try:
        get(url)
        return True
    except (urllib.error.URLError, OSError):
        return False
