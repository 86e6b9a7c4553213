"""Where credentials go (docs/security.md, "Where credentials go" and "Smaller holes"), over real
HTTP against a real kiwid, redis-server and git server (lighttpd smart HTTP with basic auth):
a kept secret is never sent to a new host, no URL carries credentials, and the connection test
keeps file:// and the host lists to what each role may reach."""

import json
import os
import subprocess

import pytest

from kiwi_harness import (BIN_DIR, Kiwi, base_environment, free_port)

TOKEN = "glpat-UNIQUE-cred-token-61d0e2"
NEW_TOKEN = "glpat-UNIQUE-cred-token-new-9a4"
PASSWORD = "UNIQUE-cred-registry-pw-0b7e"
RUNTIME_TOKEN = "UNIQUE-cred-k8s-token-3c55"
TLS_KEY = "-----BEGIN PRIVATE KEY-----\nUNIQUE-cred-tls-key-77aa\n-----END PRIVATE KEY-----\n"
SECRET = "cred-webhook-secret-000001"


@pytest.fixture
def env():
    with base_environment(web_token=TOKEN) as state:
        state["repo"].commit({"README.md": "hello\n"}, "first")
        yield state


def start_kiwi(env, extra=None):
    services = [{"name": "cfg", "git_url": env["repo"].file_url, "branch": "main",
                 "webhook_secret": SECRET}]
    env["kiwi"] = Kiwi(env["root"], env["redis"].url, services, workers=0,
                       extra=extra or {}).start()
    return env["kiwi"]


def token_for(kiwi, admin, name, role):
    status, body = kiwi.api("POST", "/tokens", {"name": name, "role": role}, admin)
    assert status == 201, body
    return body["token"]


def check_config(env, config, name):
    """kiwid --check-config on config, written to <root>/<name>; the finished process."""
    path = os.path.join(env["root"], name)
    with open(path, "w") as f:
        json.dump(config, f)
    return subprocess.run([os.path.join(BIN_DIR, "kiwid"), "--check-config", "--config", path],
                          capture_output=True, text=True, timeout=30)


def assert_secrets_absent(kiwi, *answers):
    text = kiwi.kiwid.output() + json.dumps(answers)
    for secret in (TOKEN, NEW_TOKEN, PASSWORD, RUNTIME_TOKEN, "UNIQUE-cred-tls-key-77aa"):
        assert secret not in text


def test_a_kept_secret_is_not_sent_to_a_new_host(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    web = env["web"]
    service = {"name": "svc", "git_url": web.url("app"), "branch": "main", "token": TOKEN,
               "git_username": "user", "dockerfile": {"mode": "none"}}
    assert kiwi.api("POST", "/services", service, admin)[0] == 201

    # Same host and port, another path: the token is kept ("***" as GET shows it).
    status, shown = kiwi.api("GET", "/services/svc", token=admin)
    status, body = kiwi.api("PUT", "/services/svc", dict(shown, branch="main"), admin)
    assert status == 200, body
    status, body = kiwi.api("POST", "/services/svc/test-connection", token=admin)
    assert status == 200 and body["ok"], body

    # Another host ("localhost" is not "127.0.0.1" to an HTTP client): the kept token is not
    # carried over, whether the form sends "***" or leaves the token out.
    moved = web.url("app").replace("127.0.0.1", "localhost")
    for form in (dict(shown, git_url=moved), {k: v for k, v in shown.items() if k != "token"}
                 | {"git_url": moved}):
        status, body = kiwi.api("PUT", "/services/svc", form, admin)
        assert status == 422, body
        assert body["field"] == "token", body
        assert "host changed" in body["error"] and "again" in body["error"], body
    # Another port on the same host is another server too.
    other_port = f"http://127.0.0.1:{free_port()}/git/app.git"
    status, body = kiwi.api("PUT", "/services/svc", dict(shown, git_url=other_port), admin)
    assert status == 422 and body["field"] == "token", body
    # Nothing was saved.
    assert kiwi.api("GET", "/services/svc", token=admin)[1]["git_url"] == web.url("app")
    # Supplying the token again (or "" for none) is accepted.
    status, body = kiwi.api("PUT", "/services/svc", dict(shown, git_url=moved, token=TOKEN),
                            admin)
    assert status == 200 and body["git_url"] == moved, body
    status, body = kiwi.api("POST", "/services/svc/test-connection", token=admin)
    assert status == 200 and body["ok"], body

    # Registries: the password follows the same rule.
    assert kiwi.api("POST", "/registries", {"name": "reg", "url": "harbor.company.com",
                                            "username": "robot", "password": PASSWORD},
                    admin)[0] == 201
    status, shown = kiwi.api("GET", "/registries/reg", token=admin)
    assert kiwi.api("PUT", "/registries/reg", dict(shown, insecure=True), admin)[0] == 200
    status, body = kiwi.api("PUT", "/registries/reg",
                            dict(shown, url=f"127.0.0.1:{free_port()}"), admin)
    assert status == 422 and body["field"] == "password", body
    assert "host changed" in body["error"], body
    assert kiwi.api("GET", "/registries/reg", token=admin)[1]["url"] == "harbor.company.com"

    # Runtimes: the Kubernetes token and the Docker client key.
    assert kiwi.api("POST", "/runtimes", {"name": "k8s", "type": "kubernetes",
                                          "api_url": "https://k8s.company.com:6443",
                                          "token": RUNTIME_TOKEN}, admin)[0] == 201
    status, shown = kiwi.api("GET", "/runtimes/k8s", token=admin)
    assert kiwi.api("PUT", "/runtimes/k8s", dict(shown, namespace="ci"), admin)[0] == 200
    status, body = kiwi.api("PUT", "/runtimes/k8s",
                            dict(shown, api_url="https://k8s.elsewhere.example:6443"), admin)
    assert status == 422 and body["field"] == "token", body
    assert kiwi.api("POST", "/runtimes", {"name": "dock", "type": "docker",
                                          "url": "tcp://docker.company.com:2376",
                                          "tls_key": TLS_KEY}, admin)[0] == 201
    status, shown = kiwi.api("GET", "/runtimes/dock", token=admin)
    assert shown["tls_key"] == "***"
    status, body = kiwi.api("PUT", "/runtimes/dock", shown, admin)
    assert status == 200, body
    status, body = kiwi.api("PUT", "/runtimes/dock",
                            dict(shown, url="tcp://docker.elsewhere.example:2376"), admin)
    assert status == 422 and body["field"] == "tls_key", body
    assert_secrets_absent(kiwi, body)


def test_no_url_carries_credentials(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    for url in ("https://ghp_UNIQUEuserinfo01@github.com/acme/app.git",
                "https://oauth2:ghp_UNIQUEuserinfo01@gitlab.com/acme/app.git",
                "http://ghp_UNIQUEuserinfo01@127.0.0.1:1/git/app.git",
                "git://ghp_UNIQUEuserinfo01@127.0.0.1/app.git",
                "ssh://git:ghp_UNIQUEuserinfo01@127.0.0.1/app.git"):
        status, body = kiwi.api("POST", "/services", {"name": "leaky", "git_url": url,
                                                      "branch": "main"}, admin)
        assert status == 422 and body["field"] == "git_url", (url, body)
        assert ('"ssh_key"' if url.startswith("ssh") else '"token"') in body["error"], body
        assert "UNIQUEuserinfo01" not in json.dumps(body)
    # ssh:// names the user to log in as: that is not a credential.
    status, body = kiwi.api("POST", "/services", {"name": "ssh-ok", "branch": "main",
                                                  "git_url": "ssh://git@127.0.0.1/app.git"},
                            admin)
    assert status == 201, body
    status, body = kiwi.api("POST", "/registries", {
        "name": "reg", "url": "https://robot:UNIQUEuserinfo01@harbor.company.com"}, admin)
    assert status == 422 and body["field"] == "url", body
    status, body = kiwi.api("POST", "/runtimes", {
        "name": "k8s", "type": "kubernetes", "token": RUNTIME_TOKEN,
        "api_url": "https://admin:UNIQUEuserinfo01@k8s.company.com"}, admin)
    assert status == 422 and body["field"] == "api_url", body
    assert "UNIQUEuserinfo01" not in kiwi.kiwid.output()

    # The config file: kiwid --check-config refuses it without echoing it.
    config = dict(kiwi.config, services=[{"name": "leaky", "branch": "main",
                                          "webhook_secret": SECRET,
                                          "git_url": "https://ghp_UNIQUEuserinfo01@github.com/"
                                                     "acme/app.git"}])
    done = check_config(env, config, "leaky.json")
    assert done.returncode == 2, done
    assert "git_url" in done.stderr + done.stdout
    assert "UNIQUEuserinfo01" not in done.stderr + done.stdout


def test_connection_test_limits_what_a_developer_can_reach(env):
    kiwi = start_kiwi(env)
    admin = kiwi.admin_token()
    developer = token_for(kiwi, admin, "dev", "developer")
    file_form = {"git_url": env["repo"].file_url}

    # file:// lists the Kiwi host's own repositories: admins only.
    status, body = kiwi.api("POST", "/services/test-connection", file_form, developer)
    assert status == 403 and body["field"] == "git_url", body
    assert "file://" in body["error"]
    status, body = kiwi.api("POST", "/services/test-connection", file_form, admin)
    assert status == 200 and body["branches"] == ["main"], body
    # A service an admin declared with file:// is tested for developers as it is.
    status, body = kiwi.api("POST", "/services/cfg/test-connection", token=developer)
    assert status == 200 and body["ok"], body

    # A closed port: a developer reads one message that does not tell refused from silent.
    closed = f"http://127.0.0.1:{free_port()}/git/app.git"
    status, body = kiwi.api("POST", "/services/test-connection", {"git_url": closed}, developer)
    assert status == 422 and body["kind"] == "unreachable", body
    assert "refused" not in body["error"].lower(), body
    status, body = kiwi.api("POST", "/services/test-connection", {"git_url": closed}, admin)
    assert status == 422 and body["kind"] == "timeout", body
    assert "refused" in body["error"].lower(), body


def test_denied_hosts_are_refused_before_any_connection(env):
    web = env["web"]
    kiwi = start_kiwi(env, {"git": {"denied_hosts": ["127.0.0.0/8", "::1"]}})
    admin = kiwi.admin_token()
    developer = token_for(kiwi, admin, "dev", "developer")
    # By address and by a name that resolves to it.
    for url in (web.url("app"), web.url("app").replace("127.0.0.1", "localhost")):
        for who in (developer, admin):
            status, body = kiwi.api("POST", "/services/test-connection",
                                    {"git_url": url, "token": TOKEN, "git_username": "user"},
                                    who)
            assert status == 422 and body["kind"] == "denied", body
            assert "git.denied_hosts" in body["error"], body
    # lighttpd logged no request at all.
    assert "GET /git/app.git" not in web.access_log()


def test_the_host_lists_are_checked_at_start(env):
    kiwi = start_kiwi(env)
    config = dict(kiwi.config, git={"denied_hosts": ["not a host!"]})
    done = check_config(env, config, "bad-hosts.json")
    assert done.returncode == 2, done
    assert "git.denied_hosts" in done.stderr + done.stdout
