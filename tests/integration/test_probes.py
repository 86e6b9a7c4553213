"""Registry and runtime tests through the API and kiwictl (docs/api.md), against a real kiwid
and redis-server, a real docker-registry with htpasswd auth, a real podman Docker-API service
and the stub Kubernetes API server (tests/support/k8s_stub.py: no API server can run here).
Config-file and API-registered resources, the developer role, 422 answers with the reason, and
no password or token in any answer, kiwictl output or kiwid log."""

import json
import os
import subprocess
import sys

import pytest

from kiwi_harness import (Kiwi, RedisServer, free_port, kiwictl, rmtree, tempdir, wait_until,
                          _port_open)
from podman_service import PodmanService

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from k8s_stub import K8sStub, make_self_signed  # noqa: E402
from kaniko_cluster import KanikoCluster  # noqa: E402

USER = "kiwi-robot"
PASSWORD = "UNIQUE-probe-registry-pass-0e55"
WRONG_PASSWORD = "UNIQUE-probe-wrong-pass-77d1"
SA_TOKEN = "UNIQUE-probe-k8s-token-a1f0"
WRONG_TOKEN = "UNIQUE-probe-wrong-k8s-token-5b2c"
SECRETS = [PASSWORD, WRONG_PASSWORD, SA_TOKEN, WRONG_TOKEN]


class DockerRegistry:
    """docker-registry 2.8 with htpasswd auth and filesystem storage in `root`."""

    def __init__(self, root):
        self.dir = os.path.join(root, "registry")
        os.makedirs(self.dir)
        self.port = free_port()
        htpasswd = os.path.join(self.dir, "htpasswd")
        with open(htpasswd, "w") as f:
            f.write(subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True,
                                   capture_output=True, text=True, timeout=30).stdout)
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {self.dir}/data\nhttp:\n  addr: 127.0.0.1:{self.port}\n"
                    f"auth:\n  htpasswd:\n    realm: kiwi-test\n    path: {htpasswd}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", config],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: _port_open(self.port), what="docker-registry")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def env():
    root = tempdir()
    redis_server = RedisServer(root).start()
    registry = DockerRegistry(root)
    podman = PodmanService(root)
    cert, key = make_self_signed(root)
    stub = K8sStub(cert, key, SA_TOKEN, log_path=os.path.join(root, "k8s-requests.jsonl")).start()
    cluster = KanikoCluster(stub)
    with open(cert) as f:
        ca_pem = f.read()
    extra = {
        "registries": [{"name": "cfg-reg", "url": registry.url, "username": USER,
                        "password": PASSWORD}],
        "runtimes": [{"name": "cfg-k8s", "type": "kubernetes", "api_url": stub.url,
                      "ca_file": cert, "token": SA_TOKEN},
                     {"name": "cfg-podman", "type": "docker", "socket": podman.socket}],
    }
    kiwi = Kiwi(root, redis_server.url, [], workers=0, extra=extra).start()
    admin = kiwi.admin_token()
    tokens = {"admin": admin}
    for role in ("viewer", "developer"):
        status, body = kiwi.api("POST", "/tokens", {"name": role + "-bot", "role": role}, admin)
        assert status == 201, body
        tokens[role] = body["token"]
    # API-registered resources: a wrong password, a wrong token, a socket with nothing on it.
    for path, body in [
            ("/registries", {"name": "api-reg-wrong", "url": registry.url, "username": USER,
                             "password": WRONG_PASSWORD}),
            ("/registries", {"name": "api-reg-down", "url": f"http://127.0.0.1:{free_port()}"}),
            ("/runtimes", {"name": "api-k8s-good", "type": "kubernetes", "api_url": stub.url,
                           "ca_cert": ca_pem, "token": SA_TOKEN}),
            ("/runtimes", {"name": "api-k8s-wrong", "type": "kubernetes", "api_url": stub.url,
                           "ca_cert": ca_pem, "token": WRONG_TOKEN}),
            ("/runtimes", {"name": "api-docker-down", "type": "docker",
                           "socket": os.path.join(root, "nothing.sock")})]:
        status, answer = kiwi.api("POST", path, body, admin)
        assert status == 201, answer
    state = {"kiwi": kiwi, "tokens": tokens, "url": f"http://127.0.0.1:{kiwi.port}",
             "stub": stub, "cluster": cluster, "registry": registry, "answers": []}
    yield state
    kiwi.stop()
    stub.stop()
    podman.stop()
    registry.stop()
    redis_server.stop()
    rmtree(root)


def call(env, path, role="developer"):
    status, body = env["kiwi"].api("POST", path, token=env["tokens"][role], timeout=20)
    env["answers"].append(json.dumps(body))
    return status, body


def test_a_config_file_registry_authenticates_with_basic(env):
    status, body = call(env, "/registries/cfg-reg/test")
    assert status == 200, body
    assert body["ok"] is True
    assert body["message"].startswith("authenticated with Basic at " + env["registry"].url)
    assert body["details"]["auth"] == "basic"
    assert body["details"]["api_version"] == "registry/2.0"


def test_a_wrong_password_and_no_registry_answer_422_with_the_reason(env):
    status, body = call(env, "/registries/api-reg-wrong/test")
    assert (status, body) == (422, {"ok": False, "kind": "authentication",
                                    "error": "Registry authentication failed: check the "
                                             "credentials"})
    status, body = call(env, "/registries/api-reg-down/test")
    assert status == 422 and body["kind"] == "unreachable", body
    assert body["error"].startswith("Registry unreachable: cannot reach the registry at")


def test_kubernetes_runtimes_from_the_file_and_the_api(env):
    for name in ("cfg-k8s", "api-k8s-good"):
        status, body = call(env, f"/runtimes/{name}/test")
        assert status == 200, body
        assert body["message"] == "Kubernetes v1.32.3 (linux/arm64); Kaniko builds: ready"
        assert body["details"]["git_version"] == "v1.32.3"
        assert body["details"]["kaniko_builds"] == "ready"
    # The build's Secret and Job went through a dry run only: nothing was created.
    dry = [r for r in env["stub"].requests() if r["method"] == "POST"]
    assert dry and all(r["query"] == {"dryRun": ["All"]} for r in dry), dry
    assert env["cluster"].live_jobs() == [] and env["cluster"].live_secrets() == []
    # A service account that may not create Jobs: the API works, builds would not.
    env["cluster"].denied.add("jobs")
    try:
        status, body = call(env, "/runtimes/cfg-k8s/test")
    finally:
        env["cluster"].denied.discard("jobs")
    assert status == 200, body
    assert "Kaniko builds: not possible: the runtime's service account may not create Jobs" \
        in body["message"], body
    assert "grant it create/get/delete on jobs and secrets" in body["details"]["kaniko_builds"]
    status, body = call(env, "/runtimes/api-k8s-wrong/test")
    assert (status, body["error"]) == (
        422, "Kubernetes API rejected the token: check the runtime's bearer token"), body
    # The stub saw the right token twice and the wrong one once (and never logs either).
    seen = [r["auth"] for r in env["stub"].requests() if r["path"] == "/version"]
    assert seen.count("valid") >= 2 and seen.count("invalid") >= 1


def test_docker_runtimes_podman_and_a_dead_socket(env):
    status, body = call(env, "/runtimes/cfg-podman/test")
    assert status == 200, body
    assert body["message"].startswith("Docker Engine API 1.41, server 4.3")
    assert body["details"]["type"] == "docker"
    status, body = call(env, "/runtimes/api-docker-down/test")
    assert status == 422 and body["kind"] == "unreachable", body
    assert "cannot reach the Docker engine at unix://" in body["error"]


def test_roles_and_unknown_names(env):
    # Viewers may not run tests; developers and admins may.
    for path in ("/registries/cfg-reg/test", "/runtimes/cfg-k8s/test"):
        status, body = call(env, path, role="viewer")
        assert status == 403 and "developer" in body["error"], body
        status, _ = call(env, path, role="admin")
        assert status == 200
    status, body = call(env, "/registries/ghost/test")
    assert status == 404 and body["error"] == 'no registry named "ghost"'
    status, body = call(env, "/runtimes/ghost/test")
    assert status == 404 and body["error"] == 'no runtime named "ghost"'
    status, _ = env["kiwi"].api("GET", "/registries/cfg-reg/test", token=env["tokens"]["admin"])
    assert status == 405


def test_kiwictl_registry_and_runtime_test(env):
    dev = env["tokens"]["developer"]
    good = kiwictl("registry", "test", "cfg-reg", url=env["url"], token=dev)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("registry cfg-reg: ok (authenticated with Basic at ")
    bad = kiwictl("registry", "test", "api-reg-wrong", url=env["url"], token=dev)
    assert bad.returncode == 1
    assert "Registry authentication failed: check the credentials" in bad.stderr
    as_json = kiwictl("runtime", "test", "cfg-k8s", "--output", "json", url=env["url"], token=dev)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["message"] == \
        "Kubernetes v1.32.3 (linux/arm64); Kaniko builds: ready"
    failed_json = kiwictl("runtime", "test", "api-k8s-wrong", "-o", "json", url=env["url"],
                          token=dev)
    assert failed_json.returncode == 1
    assert json.loads(failed_json.stdout)["ok"] is False
    env["answers"] += [good.stdout, good.stderr, bad.stdout, bad.stderr, as_json.stdout,
                       failed_json.stdout]


def test_no_secret_in_any_answer_or_log(env):
    # Runs last in this module: every answer and kiwictl output above, and kiwid's log.
    assert len(env["answers"]) >= 10
    text = "\n".join(env["answers"]) + env["kiwi"].all_output()
    for secret in SECRETS:
        assert secret not in text
