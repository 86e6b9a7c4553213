"""Redis authentication and TLS, against real redis-servers: kiwid and kiwi-worker log in as the
ACL user that docs/security.md documents (the ACL line is read from that file, so the documented
user is the one proven sufficient) with a password from redis_password_file, over TCP and over
TLS (a CA and a server certificate made with openssl here); a wrong or missing password is a
clear error naming the config key, never the password."""

import http.client
import os
import re
import subprocess
import time

import pytest
import redis

from kiwi_harness import (SOURCE_DIR, EventListener, GitRepo, Kiwi, KiwiProcess, free_port,
                          github_push_payload, rmtree, run, tempdir, wait_until)

SECRET = "webhook-secret-for-tests-0001"
KIWI_PASSWORD = "kiwi-redis-PASSWORD-never-logged-5512"
ADMIN_PASSWORD = "admin-redis-PASSWORD-9931"
WRONG_PASSWORD = "wrong-redis-PASSWORD-never-logged-7"


def documented_acl_line():
    """The `user kiwi ...` line of docs/security.md's ACL block, with its password put in."""
    with open(os.path.join(SOURCE_DIR, "docs", "security.md")) as f:
        text = f.read()
    [line] = [l.strip() for l in text.splitlines() if l.strip().startswith("user kiwi on ")]
    assert ">CHANGE-ME" in line, line
    return line.replace(">CHANGE-ME", ">" + KIWI_PASSWORD)


class AuthRedis:
    """A redis-server on 127.0.0.1 (TCP or TLS) whose default user needs ADMIN_PASSWORD and
    whose `kiwi` user is the documented ACL user."""

    def __init__(self, root, tls=None):
        self.dir = os.path.join(root, "redis-auth")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.tls = tls
        conf = [f"bind 127.0.0.1", f"dir {self.dir}", "save \"\"", "appendonly no",
                f"user default on >{ADMIN_PASSWORD} ~* &* +@all", documented_acl_line()]
        if tls:
            conf += ["port 0", f"tls-port {self.port}", f"tls-cert-file {tls['cert']}",
                     f"tls-key-file {tls['key']}", f"tls-ca-cert-file {tls['ca']}",
                     "tls-auth-clients no"]
        else:
            conf += [f"port {self.port}"]
        self.conf = os.path.join(self.dir, "redis.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        self.log = open(os.path.join(self.dir, "redis.log"), "w")
        self.proc = subprocess.Popen(["redis-server", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_until(self._ping, what="redis-server with ACL")

    def client(self, username=None, password=ADMIN_PASSWORD):
        kw = {"ssl": True, "ssl_ca_certs": self.tls["ca"]} if self.tls else {}
        return redis.Redis(host="127.0.0.1", port=self.port, username=username,
                           password=password, decode_responses=True, socket_timeout=5, **kw)

    def _ping(self):
        try:
            return self.client().ping()
        except Exception:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.log.close()


def make_tls(root):
    """A CA and a server certificate for localhost / 127.0.0.1, made with openssl."""
    d = os.path.join(root, "tls")
    os.makedirs(d)
    p = {k: os.path.join(d, k + ".pem") for k in ("ca", "ca-key", "cert", "key", "other-ca",
                                                   "other-ca-key")}
    for ca, key in (("ca", "ca-key"), ("other-ca", "other-ca-key")):
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "2", "-subj", f"/CN=kiwi test {ca}", "-keyout", p[key],
             "-out", p[ca]])
    csr = os.path.join(d, "server.csr")
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=localhost", "-keyout", p["key"], "-out", csr])
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", p["ca"], "-CAkey", p["ca-key"],
         "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", p["cert"]])
    os.chmod(p["key"], 0o644)  # redis-server reads it
    return p


@pytest.fixture
def env():
    root = tempdir()
    repo = GitRepo(root, "app")
    first = repo.commit({"README.md": "hello kiwi\n"}, "first")
    password_file = os.path.join(root, "redis.password")
    with open(password_file, "w") as f:
        f.write(KIWI_PASSWORD + "\n")
    state = {"root": root, "repo": repo, "first": first, "password_file": password_file,
             "kiwi": None, "redis": None}
    yield state
    if state["kiwi"]:
        state["kiwi"].stop()
    if state["redis"]:
        state["redis"].stop()
    rmtree(root)


def start_kiwi(env, url, extra=None, workers=1):
    services = [{"name": "app", "git_url": env["repo"].file_url, "branch": "main",
                 "webhook_secret": SECRET}]
    env["kiwi"] = Kiwi(env["root"], url, services, workers=workers, extra=extra).start()
    return env["kiwi"]


def push_and_finish(env, kiwi, events):
    second = env["repo"].commit({"README.md": "second\n"}, "second")
    status, _, body = kiwi.github_push("app", SECRET,
                                       github_push_payload("main", env["first"], second))
    assert status == 202, body
    build_id = body["build_id"]
    done = events.until(lambda e: e["build_id"] == build_id and
                        e["type"] in ("build.succeeded", "build.failed"), timeout=30)
    return build_id, done


def assert_no_secret(kiwi, *secrets):
    out = kiwi.all_output()
    for s in secrets:
        assert s not in out


def test_the_documented_acl_user_runs_push_to_clone_over_tcp(env):
    r = env["redis"] = AuthRedis(env["root"])
    # The default user cannot be used without its password.
    anonymous = redis.Redis(host="127.0.0.1", port=r.port, socket_timeout=5)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    # The kiwi user is confined to Kiwi's commands and keys.
    as_kiwi = r.client("kiwi", KIWI_PASSWORD)
    assert as_kiwi.ping()
    for forbidden in (lambda: as_kiwi.flushall(), lambda: as_kiwi.config_get("dir"),
                      lambda: as_kiwi.set("other:key", "x"), lambda: as_kiwi.keys("*"),
                      lambda: as_kiwi.publish("other-channel", "x")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            forbidden()

    kiwi = start_kiwi(env, f"redis://kiwi@127.0.0.1:{r.port}/0",
                      {"redis_password_file": env["password_file"]})
    assert kiwi.request("GET", "/readyz")[0] == 200
    events = EventListener(r.client(), "kiwi:events:app")
    build_id, done = push_and_finish(env, kiwi, events)
    assert done["type"] == "build.succeeded", events.events
    # The API's reads (tokens, resources, queue stats, replay, logs) work as that user too.
    token = kiwi.admin_token()
    for path in ("/services", "/queue", f"/builds/{build_id}", f"/builds/{build_id}/logs",
                 "/services/app/builds"):
        status, body = kiwi.api("GET", path, token=token)
        assert status == 200, (path, body)
    status, created = kiwi.api("POST", "/tokens", {"name": "ci", "role": "viewer"}, token=token)
    assert status == 201, created
    status, _ = kiwi.api("DELETE", "/tokens/ci", token=token)
    assert status in (200, 204)
    conn = http.client.HTTPConnection("127.0.0.1", kiwi.port, timeout=10)
    conn.request("GET", f"/api/v1/builds/{build_id}/logs?follow=1",
                 headers={"Authorization": "Bearer " + token})
    res = conn.getresponse()
    assert res.status == 200 and "build.succeeded" in res.read().decode()
    conn.close()
    # Metrics read outcomes; a no-op job runs through claim, heartbeat and finish.
    assert kiwi.request("GET", "/metrics")[0] == 200
    [noop] = kiwi.enqueue_noop("app", 1)
    wait_until(lambda: r.client().hget(f"kiwi:{{q}}:build:{noop}", "status") == "succeeded",
               timeout=30, what="no-op build")
    out = kiwi.all_output()
    assert "NOPERM" not in out and "cannot log in" not in out, out
    assert_no_secret(kiwi, KIWI_PASSWORD)
    # Every client of Kiwi's is logged in as kiwi.
    clients = r.client().client_list()
    kiwi_clients = [c for c in clients if c["user"] == "kiwi"]
    assert len(kiwi_clients) >= 3, clients


def test_a_wrong_password_is_a_clear_error_naming_the_key_not_the_password(env):
    r = env["redis"] = AuthRedis(env["root"])
    with open(env["password_file"], "w") as f:
        f.write(WRONG_PASSWORD + "\n")
    kiwi = start_kiwi(env, f"redis://kiwi@127.0.0.1:{r.port}/0",
                      {"redis_password_file": env["password_file"]})
    wait_until(lambda: 'config key "redis_password_file"' in kiwi.kiwid.output(),
               timeout=15, what="kiwid's login error")
    wait_until(lambda: all('config key "redis_password_file"' in w.output()
                           for w in kiwi.workers), timeout=15, what="the worker's login error")
    out = kiwi.kiwid.output()
    assert "Redis refused the password" in out and 'user "kiwi"' in out, out
    assert kiwi.request("GET", "/readyz")[0] == 503
    assert_no_secret(kiwi, WRONG_PASSWORD, KIWI_PASSWORD)
    kiwi.stop()
    env["kiwi"] = None

    # The password in the URL: the error names "redis"; no password at all: says where to put it.
    kiwi = start_kiwi(env, f"redis://kiwi:{WRONG_PASSWORD}@127.0.0.1:{r.port}/0", workers=0)
    wait_until(lambda: 'config key "redis"' in kiwi.kiwid.output(), timeout=15,
               what="the login error")
    assert_no_secret(kiwi, WRONG_PASSWORD)
    kiwi.stop()
    env["kiwi"] = None
    kiwi = start_kiwi(env, f"redis://127.0.0.1:{r.port}/0", workers=0)
    wait_until(lambda: "Redis requires a password" in kiwi.kiwid.output(), timeout=15,
               what="the NOAUTH error")
    assert "redis_password_file" in kiwi.kiwid.output()


def test_check_config_never_prints_the_password(env):
    config = os.path.join(env["root"], "bad.json")
    for url in (f"redis://kiwi:{WRONG_PASSWORD}@127.0.0.1:0/0",
                f"redis://kiwi:{WRONG_PASSWORD}@127.0.0.1:6379/x",
                f"rediss://kiwi:{WRONG_PASSWORD}%zz@127.0.0.1:6379/0"):
        with open(config, "w") as f:
            f.write('{"redis": "%s", "data_dir": "%s", "services": []}' % (url, env["root"]))
        res = subprocess.run([os.path.join(os.environ.get("KIWI_BIN_DIR", ""), "kiwid"),
                              "--config", config, "--check-config"],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 2, res
        assert 'config key "redis"' in res.stdout + res.stderr
        assert WRONG_PASSWORD not in res.stdout + res.stderr


def test_tls_with_a_verified_certificate_and_a_refused_one(env):
    tls = make_tls(env["root"])
    r = env["redis"] = AuthRedis(env["root"], tls=tls)
    kiwi = start_kiwi(env, f"rediss://kiwi@localhost:{r.port}/0",
                      {"redis_password_file": env["password_file"],
                       "redis_tls": {"ca_file": tls["ca"]}})
    assert kiwi.request("GET", "/readyz")[0] == 200, kiwi.all_output()
    events = EventListener(r.client(), "kiwi:events:app")
    build_id, done = push_and_finish(env, kiwi, events)
    assert done["type"] == "build.succeeded", events.events
    assert_no_secret(kiwi, KIWI_PASSWORD)
    assert "rediss://kiwi@localhost" in kiwi.kiwid.output()
    kiwi.stop()
    env["kiwi"] = None

    # A certificate from another CA, or for another name, is refused: no connection, a clear
    # TLS error, 503 from /readyz.
    for tls_options in ({"ca_file": tls["other-ca"]},
                        {"ca_file": tls["ca"], "server_name": "redis.example.com"}):
        kiwi = start_kiwi(env, f"rediss://kiwi@127.0.0.1:{r.port}/0",
                          {"redis_password_file": env["password_file"],
                           "redis_tls": tls_options}, workers=0)
        wait_until(lambda: "TLS" in kiwi.kiwid.output(), timeout=15, what="the TLS error")
        assert "certificate verify failed" in kiwi.kiwid.output(), kiwi.kiwid.output()
        assert kiwi.request("GET", "/readyz")[0] == 503
        assert f"connected to rediss://kiwi@127.0.0.1:{r.port}" not in kiwi.kiwid.output()
        kiwi.stop()
        env["kiwi"] = None
