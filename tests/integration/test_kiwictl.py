"""kiwictl end to end: the real binary against a real kiwid, kiwi-worker, redis-server and git
servers (file:// and smart HTTP with basic auth). Exit codes are part of the interface
(docs/kiwictl.md): 0 ok, 1 API error, 2 usage, 3 build cancelled/superseded, 4 kiwid
unreachable, 5 authentication/authorization."""

import json
import os
import re
import subprocess
import time

import pytest

from kiwi_harness import (BIN_DIR, Kiwi, admin_token, base_environment, free_port, kiwictl, run)

GIT_TOKEN = "glpat-GIT-token-never-printed-4471"


@pytest.fixture
def env():
    with base_environment(web_token=GIT_TOKEN) as state:
        repo = state["repo"]
        state["first"] = repo.commit({"README.md": "hello kiwi\n", "src/main.go": "package main\n"},
                                     "first")
        # A second branch, so that the connection test has branches to list.
        run(["git", "-C", repo.work, "push", "-q", "origin", "main:feature-x"])
        state["git_token_file"] = os.path.join(state["root"], "git.token")
        with open(state["git_token_file"], "w") as f:
            f.write(GIT_TOKEN + "\n")
        yield state


def start_kiwi(env, workers=0, port=None):
    extra = {"listen": f"127.0.0.1:{port}"} if port else None
    kiwi = Kiwi(env["root"], env["redis"].url, [], workers=workers, extra=extra).start()
    env["kiwi"] = kiwi
    env["url"] = f"http://127.0.0.1:{kiwi.port}"
    env["admin"] = admin_token(kiwi)
    return kiwi


def ctl(env, *args, token=None, **kw):
    res = kiwictl(*args, url=kw.pop("url", env["url"]),
                  token=env["admin"] if token is None else token, **kw)
    # Neither the API token nor a git token is ever printed.
    for secret in (env["admin"], GIT_TOKEN):
        assert secret not in res.stdout and secret not in res.stderr, (args, res)
    return res


def ok(res):
    assert res.returncode == 0, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res.stdout


def register_file_service(env, name="app"):
    # Clone only: these tests follow builds through kiwictl; test_build_flow.py builds images.
    ok(ctl(env, "service", "register", "--name", name, "--git-url", env["repo"].file_url,
           "--branch", "main", "--dockerfile-mode", "none"))


def start_build(env, name="app", *extra):
    out = ok(ctl(env, "--output", "json", "build", "start", name, *extra))
    answer = json.loads(out)
    assert answer["status"] == "queued"
    return answer["build_id"]


def test_register_with_flags_list_show_and_test(env):
    start_kiwi(env)
    web_url = env["web"].url("app")
    out = ok(ctl(env, "service", "register", "--name", "app", "--git-url", web_url,
                 "--branch", "main", "--token-file", env["git_token_file"],
                 "--git-username", "user", "--max-concurrent-builds", "2",
                 "--no-cancel-superseded", "--dockerfile-path", "docker/Dockerfile"))
    assert "service app registered" in out

    listed = json.loads(ok(ctl(env, "service", "list", "--output", "json")))
    [svc] = [s for s in listed["items"] if s["name"] == "app"]
    assert svc["source"] == "api" and svc["git_url"] == web_url
    assert svc["token"] == "***" and svc["max_concurrent_builds"] == 2
    assert svc["cancel_superseded"] is False
    assert svc["dockerfile"] == {"mode": "path", "path": "docker/Dockerfile", "context": "."}

    table = ok(ctl(env, "service", "list"))
    assert re.search(r"^app\s+api\s+main\s+" + re.escape(web_url), table, re.M), table
    shown = ok(ctl(env, "service", "show", "app"))
    assert re.search(r"^token:\s+\*\*\*$", shown, re.M), shown
    assert "path docker/Dockerfile (context .)" in shown

    # The connection test lists the branches, the configured one marked.
    tested = ok(ctl(env, "service", "test", "app"))
    assert "connection ok: 2 branches" in tested, tested
    assert re.search(r"^  \* main$", tested, re.M) and re.search(r"^    feature-x$", tested, re.M)

    # update changes one field and keeps the sealed token (the test still authenticates).
    ok(ctl(env, "service", "update", "app", "--branch", "feature-x"))
    assert json.loads(ok(ctl(env, "-o", "json", "service", "show", "app")))["branch"] == \
        "feature-x"
    assert re.search(r"^  \* feature-x$", ok(ctl(env, "service", "test", "app")), re.M)

    # The server's errors come through with their field, exit 1.
    dup = ctl(env, "service", "register", "--name", "app", "--git-url", web_url,
              "--branch", "main")
    assert dup.returncode == 1 and "already exists" in dup.stderr and "(field: name)" in dup.stderr
    bad = ctl(env, "service", "register", "--name", "other", "--git-url", web_url,
              "--branch", "main", "--tag-rule", "${NOPE}")
    assert bad.returncode == 1 and "(field: tag_rule)" in bad.stderr, bad.stderr
    missing = ctl(env, "service", "show", "nope")
    assert missing.returncode == 1 and 'no service named "nope"' in missing.stderr

    # A wrong git token: the connection test fails with the server's reason, exit 1.
    wrong_file = os.path.join(env["root"], "wrong.token")
    with open(wrong_file, "w") as f:
        f.write("wrong-token\n")
    ok(ctl(env, "service", "register", "--name", "wrong", "--git-url", web_url, "--branch", "main",
           "--token-file", wrong_file, "--git-username", "user"))
    failed = ctl(env, "service", "test", "wrong")
    assert failed.returncode == 1 and "connection test failed (authentication)" in failed.stdout

    ok(ctl(env, "service", "delete", "wrong"))
    assert ctl(env, "service", "show", "wrong").returncode == 1


def test_register_from_file(env):
    start_kiwi(env)
    path = os.path.join(env["root"], "service.json")
    with open(path, "w") as f:
        json.dump({"name": "from-file", "git_url": env["web"].url("app"), "branch": "main",
                   "token_file": "git.token", "git_username": "user",
                   "source": "api", "webhook_url": {"github": "x"}}, f)
    ok(ctl(env, "service", "register", "--from-file", path, "--build-tags"))
    svc = json.loads(ok(ctl(env, "-o", "json", "service", "show", "from-file")))
    assert svc["token"] == "***" and svc["build_tags"] is True
    assert "connection ok" in ok(ctl(env, "service", "test", "from-file"))


def test_register_interactively_through_a_pipe(env):
    start_kiwi(env)
    answers = "\n".join([
        "web-app",                 # name
        env["web"].url("app"),     # git URL
        "",                        # branch: main
        GIT_TOKEN,                 # token (no echo on a terminal; here a pipe)
        "user",                    # git user
        "path",                    # Dockerfile mode
        "docker/Dockerfile",       # path
        "",                        # context: .
        "",                        # registry: none
        "",                        # build runtime: local
        "y",                       # confirm
    ]) + "\n"
    res = ctl(env, "service", "register", input=answers)
    out = ok(res)
    assert "Testing the connection" in out
    assert "connection ok: 2 branches" in out and re.search(r"^  \* main$", out, re.M), out
    assert "service web-app registered" in out
    assert "(hidden)" in out  # the transcript says a secret was typed, not what
    svc = json.loads(ok(ctl(env, "-o", "json", "service", "show", "web-app")))
    assert svc["git_url"] == env["web"].url("app") and svc["branch"] == "main"
    assert svc["token"] == "***" and svc["git_username"] == "user"
    assert svc["dockerfile"]["mode"] == "path" and svc["build_runtime"] == "local"
    assert "connection ok" in ok(ctl(env, "service", "test", "web-app"))

    # Input that ends early is a usage error and registers nothing.
    cut = ctl(env, "service", "register", input="half-done\n")
    assert cut.returncode == 2 and "input ended" in cut.stderr
    assert ctl(env, "service", "show", "half-done").returncode == 1


def test_build_start_and_follow_logs_until_it_succeeds(env):
    kiwi = start_kiwi(env, workers=1)
    register_file_service(env)
    build_id = start_build(env)
    follow = ctl(env, "build", "logs", build_id, "-f", timeout=60)
    out = ok(follow)
    lines = out.splitlines()
    # One human line per event: time, stage, status, message; the clone stage is in there.
    assert re.match(r"^\d\d:\d\d:\d\d\.\d{3}\s+build\s+queued\s+manual build of main", lines[0]), out
    assert any(re.search(r"\sclone\s+running\s", l) for l in lines), out
    assert any(re.search(r"\sclone\s+succeeded\s+checked out " + env["first"][:12], l)
               for l in lines), out
    assert re.search(r"\sbuild\s+succeeded", lines[-1]), out

    shown = json.loads(ok(ctl(env, "-o", "json", "build", "show", build_id)))
    assert shown["status"] == "succeeded" and shown["sha"] == env["first"]
    human = ok(ctl(env, "build", "show", build_id))
    assert re.search(r"^status:\s+succeeded$", human, re.M)
    assert re.search(r"^clone\s+succeeded\s", human, re.M), human
    listed = ok(ctl(env, "build", "list", "app", "--limit", "5"))
    assert build_id in listed and "succeeded" in listed
    # Columns: the build's and each stage's duration; a clone-only build has no image.
    header, row = listed.splitlines()[:2]
    assert header.split() == ["BUILD", "#", "STATUS", "REF", "SHA", "TRIGGER", "QUEUED",
                              "DURATION", "STAGES", "IMAGE", "DIGEST"], listed
    cells = row.split()
    assert cells[0] == build_id and cells[2] == "succeeded" and cells[5] == "manual", row
    assert re.fullmatch(r"\d+ms|\d+\.\ds", cells[-4]), row           # DURATION
    assert re.fullmatch(r"clone:(\d+ms|\d+\.\ds)", cells[-3]), row   # STAGES
    assert cells[-2:] == ["-", "-"], row                               # IMAGE, DIGEST
    assert re.search(r"^duration:\s+(\d+ms|\d+\.\ds)$", human, re.M), human
    # Without -f, a finished build's stored events are printed once.
    replay = ok(ctl(env, "build", "logs", build_id))
    assert replay.splitlines() == lines

    # build start -f follows at once; --output json makes one JSON event per line.
    second = env["repo"].commit({"README.md": "second\n"}, "second")
    res = ctl(env, "-o", "json", "build", "start", "app", "--commit", second, "-f")
    events = [json.loads(l) for l in ok(res).splitlines()]
    assert events[0]["type"] == "build.queued" and events[-1]["type"] == "build.succeeded"
    assert all(e["sha"] == second for e in events)
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})
    assert kiwi.kiwid.running()


def test_follow_exits_1_when_the_build_fails(env):
    start_kiwi(env, workers=1)
    register_file_service(env)
    missing = "1" * 40  # a commit the repository does not have
    res = ctl(env, "build", "start", "app", "--commit", missing, "-f", timeout=90)
    assert res.returncode == 1, res
    assert re.search(r"\sbuild\s+failed", res.stdout.splitlines()[-1]), res.stdout


def test_cancel_a_queued_build(env):
    kiwi = start_kiwi(env, workers=0)  # nothing claims the build: it stays queued
    register_file_service(env)
    build_id = start_build(env)
    assert json.loads(ok(ctl(env, "-o", "json", "build", "show", build_id)))["status"] == "queued"
    out = ok(ctl(env, "build", "cancel", build_id))
    assert out.strip() == f"build {build_id} cancelled"
    assert json.loads(ok(ctl(env, "-o", "json", "build", "show", build_id)))["status"] == \
        "cancelled"
    # Following a cancelled build replays its events and exits 3.
    follow = ctl(env, "build", "logs", build_id, "-f")
    assert follow.returncode == 3, follow
    assert re.search(r"\sbuild\s+cancelled", follow.stdout.splitlines()[-1])
    # A build that ended otherwise cannot be cancelled: the API's 409, exit 1.
    kiwi.add_worker()
    done = start_build(env)
    assert ok(ctl(env, "build", "logs", done, "-f"))
    again = ctl(env, "build", "cancel", done)
    assert again.returncode == 1 and "already ended" in again.stderr, again


def test_follow_survives_a_kiwid_restart(env):
    """The stream drops when kiwid restarts; kiwictl reconnects with Last-Event-ID and shows
    each event once."""
    port = free_port()
    kiwi = start_kiwi(env, workers=0, port=port)
    register_file_service(env)
    build_id = start_build(env)
    proc = subprocess.Popen([os.path.join(BIN_DIR, "kiwictl"), "build", "logs", build_id, "-f"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"KIWI_URL": env["url"], "KIWI_TOKEN": env["admin"],
                                 "PATH": os.environ.get("PATH", "")})
    try:
        first = proc.stdout.readline()
        assert re.search(r"\sbuild\s+queued\s", first), first
        kiwi.kiwid.terminate()
        kiwi.start()  # same port; then a worker runs the build
        assert kiwi.port == port
        kiwi.add_worker()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (out, err)
    lines = [first] + out.splitlines()
    assert sum(1 for l in lines if re.search(r"\sbuild\s+queued\s", l)) == 1, lines
    assert re.search(r"\sbuild\s+succeeded", lines[-1]), lines


def test_exit_codes(env):
    start_kiwi(env)
    register_file_service(env)
    # 5: a wrong token (401), and a role too low (403).
    bad = ctl(env, "service", "list", token="not-a-valid-token")
    assert bad.returncode == 5 and "invalid or revoked token" in bad.stderr
    none = kiwictl("service", "list", url=env["url"])
    assert none.returncode == 5 and "missing bearer token" in none.stderr
    viewer = json.loads(ok(ctl(env, "-o", "json", "token", "create", "look", "--role", "viewer")))
    assert ok(ctl(env, "service", "list", token=viewer["token"]))
    denied = ctl(env, "service", "delete", "app", token=viewer["token"])
    assert denied.returncode == 5 and "needs the admin role" in denied.stderr
    # 4: nothing listens there.
    down = ctl(env, "service", "list", url=f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 4 and "cannot reach kiwid" in down.stderr
    # 2: usage errors, with the command's usage.
    for args in (["frobnicate"], [], ["service", "frobnicate"], ["build", "start"],
                 ["build", "list", "app", "--limit", "many"], ["service", "list", "--bogus"],
                 ["build", "start", "app", "--branch", "main", "--commit", "a" * 40],
                 ["token", "create", "x"]):
        res = ctl(env, *args)
        assert res.returncode == 2, (args, res)
        assert "usage" in res.stderr, (args, res.stderr)
    bad_url = ctl(env, "service", "list", url="ftp://example.com")
    assert bad_url.returncode == 2
    # --help: 0 and the exit codes documented.
    helped = ctl(env, "--help")
    assert helped.returncode == 0 and "exit codes" in helped.stdout
    assert ok(ctl(env, "build", "--help")).startswith("usage:")
    # A build of a branch that does not exist: the server's 422 with its field.
    nobranch = ctl(env, "build", "start", "app", "--branch", "nope")
    assert nobranch.returncode == 1 and "(field: branch)" in nobranch.stderr


def test_tokens_registries_runtimes_webhooks_and_queue(env):
    start_kiwi(env)
    register_file_service(env)
    # Tokens: created (shown once), usable, listed, deleted (then refused: 5).
    created = ok(ctl(env, "token", "create", "ci-bot", "--role", "developer"))
    token = created.strip().splitlines()[-1]
    assert len(token) >= 20 and " " not in token
    assert ok(ctl(env, "service", "list", token=token))
    assert re.search(r"^ci-bot\s+developer\s", ok(ctl(env, "token", "list")), re.M)
    ok(ctl(env, "token", "delete", "ci-bot"))
    assert ctl(env, "service", "list", token=token).returncode == 5
    # The global --token-file option.
    token_file = os.path.join(env["root"], "admin.token.copy")
    with open(token_file, "w") as f:
        f.write(env["admin"] + "\n")
    assert ok(kiwictl("--token-file", token_file, "queue", url=env["url"]))

    # Registries.
    pw = os.path.join(env["root"], "registry.pw")
    with open(pw, "w") as f:
        f.write("robot-secret-pw\n")
    ok(ctl(env, "registry", "create", "--name", "harbor", "--url", "harbor.example.com",
           "--username", "robot", "--password-file", pw))
    reg = json.loads(ok(ctl(env, "-o", "json", "registry", "show", "harbor")))
    assert reg["password"] == "***" and reg["username"] == "robot"
    assert re.search(r"^harbor\s+api\s+harbor\.example\.com\s+robot",
                     ok(ctl(env, "registry", "list")), re.M)
    half = ctl(env, "registry", "create", "--name", "half", "--url", "r.example.com",
               "--username", "u")
    assert half.returncode == 1 and "(field: password)" in half.stderr
    # test: harbor.example.com does not resolve here: exit 1 with kiwid's reason.
    tested = ctl(env, "registry", "test", "harbor")
    assert tested.returncode == 1, tested
    assert "kiwictl: error: Registry unreachable: cannot reach the registry at " \
        "https://harbor.example.com" in tested.stderr, tested.stderr
    ok(ctl(env, "registry", "delete", "harbor"))
    assert ctl(env, "registry", "show", "harbor").returncode == 1

    # Runtimes.
    ok(ctl(env, "runtime", "create", "--name", "podman", "--type", "docker",
           "--socket", "/run/podman/podman.sock"))
    assert re.search(r"^podman\s+api\s+docker\s+/run/podman/podman\.sock",
                     ok(ctl(env, "runtime", "list")), re.M)
    k8s_token = os.path.join(env["root"], "sa.token")
    with open(k8s_token, "w") as f:
        f.write("k8s-service-account-token\n")
    ok(ctl(env, "runtime", "create", "--name", "prod", "--type", "kubernetes",
           "--api-url", "https://k8s.example.com:6443", "--token-file", k8s_token,
           "--namespace", "builds"))
    prod = json.loads(ok(ctl(env, "-o", "json", "runtime", "show", "prod")))
    assert prod["token"] == "***" and prod["namespace"] == "builds"
    rt_test = ctl(env, "runtime", "test", "prod")
    assert rt_test.returncode in (0, 1) and (rt_test.returncode == 0 or "error" in rt_test.stderr)
    ok(ctl(env, "runtime", "delete", "podman"))

    # Webhooks: show (the admin sees the secret), rotate (a new one), install (the server's
    # answer or its error).
    shown = ok(ctl(env, "webhook", "show", "app"))
    assert f"{env['url']}/hooks/github/app" in shown and "payload URL" in shown
    secret = re.search(r"^webhook secret: (\S+)$", shown, re.M).group(1)
    assert secret != "***" and len(secret) >= 16
    rotated = ok(ctl(env, "webhook", "rotate", "app"))
    new_secret = re.search(r"\(shown once\): (\S+)", rotated).group(1)
    assert new_secret != secret
    # A file:// service has no token and no forge: kiwid says what is missing.
    installed = ctl(env, "webhook", "install", "app")
    assert installed.returncode == 1
    assert installed.stderr.startswith("kiwictl: error: token: the service has no token"), \
        installed.stderr

    # Queue: human and JSON.
    start_build(env)
    q = json.loads(ok(ctl(env, "queue", "-o", "json")))
    assert q["waiting"]["app"] == 1
    assert re.search(r"^app\s+1$", ok(ctl(env, "queue")), re.M)


def test_secrets_are_refused_as_arguments(env):
    """A secret on the command line is visible to every user of the machine (ps): kiwictl
    refuses --token, --password and --webhook-secret, names the file option (and KIWI_TOKEN for
    the API token), and sends nothing."""
    kiwi = start_kiwi(env)
    web_url = env["web"].url("app")
    cases = [
        (["--token", env["admin"], "queue"], ["--token-file", "KIWI_TOKEN"]),
        (["--token=" + env["admin"], "service", "list"], ["--token-file", "KIWI_TOKEN"]),
        (["service", "register", "--name", "app", "--git-url", web_url, "--branch", "main",
          "--token", GIT_TOKEN], ["--token-file", "wizard"]),
        (["service", "register", "--name", "app", "--git-url", web_url, "--branch", "main",
          "--webhook-secret", "webhook-secret-on-argv-01"], ["--webhook-secret-file"]),
        (["registry", "create", "--name", "r", "--url", "127.0.0.1:5000", "--username", "u",
          "--password", "registry-pw-on-argv"], ["--password-file"]),
        (["runtime", "create", "--name", "k", "--type", "kubernetes", "--api-url",
          "https://127.0.0.1:6443", "--token", "k8s-token-on-argv"], ["--token-file"]),
    ]
    for args, named in cases:
        res = ctl(env, *args)
        assert res.returncode == 2, (args, res)
        for word in named:
            assert word in res.stderr, (args, res.stderr)
        assert "visible to every user" in res.stderr
        for secret in ("webhook-secret-on-argv-01", "registry-pw-on-argv", "k8s-token-on-argv"):
            assert secret not in res.stderr and secret not in res.stdout
    # Nothing was created.
    for kind in ("services", "registries", "runtimes"):
        status, body = kiwi.api("GET", "/" + kind, token=env["admin"])
        assert status == 200 and body["items"] == [], (kind, body)
    # The file options work.
    secret_file = os.path.join(env["root"], "webhook.secret")
    with open(secret_file, "w") as f:
        f.write("webhook-secret-from-file-77\n")
    ok(ctl(env, "service", "register", "--name", "app", "--git-url", web_url, "--branch", "main",
           "--token-file", env["git_token_file"], "--webhook-secret-file", secret_file))
    status, body = kiwi.api("GET", "/services/app", token=env["admin"])
    assert status == 200 and body["webhook_secret"] == "***", body
