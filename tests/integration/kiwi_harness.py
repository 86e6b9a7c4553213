"""Real servers for Kiwi's integration tests: a private redis-server, git servers (file://,
git daemon, smart HTTP through lighttpd + git-http-backend with basic auth) and the real kiwid
and kiwi-worker binaries. Every process is started on 127.0.0.1 or a unix socket in a private
temp dir, stopped by PID, and every wait is bounded."""

import contextlib
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import redis

BIN_DIR = os.environ.get("KIWI_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/ci"))
SOURCE_DIR = os.environ.get("KIWI_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures")
# A build id as kiwi-queue-tool --ids prints it (common/queue/build_id.cpp).
BUILD_ID = re.compile(r"[0-9a-z]{26}")
# A log line of spdlog's default or of Kiwi's text format (common/base/logging.cpp).
LOG_LINE = re.compile(r"\[\d{4}-\d\d-\d\d [\d:.]+\] \[|\d{4}-\d\d-\d\dT[\d:.]+Z \w+ ")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_open_files_limit(wanted=8192):
    """For tests that hold thousands of sockets: raises the soft limit on open files, up to the
    hard one; kiwid, started afterwards, inherits it."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def run(cmd, cwd=None, env=None):
    return subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True, text=True,
                          timeout=60).stdout


class RedisServer:
    def __init__(self, root, appendfsync="always"):
        self.dir = os.path.join(root, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "redis.sock")
        self.appendfsync = appendfsync
        self.proc = None

    @property
    def url(self):
        return "unix://" + self.sock

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock, "--unixsocketperm", "700",
             "--dir", self.dir, "--save", "", "--appendonly", "yes",
             "--appendfsync", self.appendfsync],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._ping(), what="redis-server")
        return self

    def _ping(self):
        try:
            return self.client().ping()
        except Exception:
            return False

    def client(self):
        return redis.Redis(unix_socket_path=self.sock, decode_responses=True,
                           socket_timeout=5)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None

    def kill(self):
        """SIGKILL: a crash. Acknowledged writes survive in the AOF (appendfsync always)."""
        self.stop(signal.SIGKILL)

    def restart(self):
        """Starts again on the same socket and directory, loading the AOF."""
        self.stop(signal.SIGKILL)
        return self.start()


class GitRepo:
    """A bare repository plus a working clone to make commits with."""

    def __init__(self, root, name="app", branch="main"):
        self.bare = os.path.join(root, "repos", name + ".git")
        self.work = os.path.join(root, "work", name)
        self.branch = branch
        os.makedirs(self.bare)
        run(["git", "init", "-q", "--bare", "-b", branch, self.bare])
        run(["git", "init", "-q", "-b", branch, self.work])
        run(["git", "-C", self.work, "config", "user.email", "dev@example.com"])
        run(["git", "-C", self.work, "config", "user.name", "Dev"])
        run(["git", "-C", self.work, "remote", "add", "origin", self.bare])

    def commit(self, files, message="change"):
        for path, content in files.items():
            full = os.path.join(self.work, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(content)
        run(["git", "-C", self.work, "add", "-A"])
        run(["git", "-C", self.work, "commit", "-q", "-m", message])
        run(["git", "-C", self.work, "push", "-q", "origin", self.branch])
        return run(["git", "-C", self.work, "rev-parse", "HEAD"]).strip()

    @property
    def file_url(self):
        return "file://" + self.bare


class GitDaemon:
    def __init__(self, base_dir):
        self.base = base_dir
        self.port = free_port()
        self.proc = None

    def start(self):
        # --export-all serves every repository; it forks per connection: its own process group.
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--listen=127.0.0.1", f"--port={self.port}",
             f"--base-path={self.base}", "--export-all", self.base],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: _port_open(self.port), what="git daemon")
        return self

    def url(self, name):
        return f"git://127.0.0.1:{self.port}/{name}.git"

    def stop(self):
        if self.proc:
            _kill_group(self.proc)


class GitHttpServer:
    """lighttpd running git-http-backend with basic auth: a personal access token is the
    password of user `user`."""

    def __init__(self, root, repos_dir, token):
        self.dir = os.path.join(root, "lighttpd")
        os.makedirs(self.dir, exist_ok=True)
        self.repos = repos_dir
        self.token = token
        self.port = free_port()
        self.proc = None

    def start(self):
        users = os.path.join(self.dir, "users")
        with open(users, "w") as f:
            f.write(f"user:{self.token}\n")
        conf = os.path.join(self.dir, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(f"""
server.modules = ("mod_alias", "mod_auth", "mod_authn_file", "mod_cgi", "mod_setenv",
                  "mod_accesslog")
accesslog.filename = "{self.dir}/access.log"
server.document-root = "{self.dir}"
server.bind = "127.0.0.1"
server.port = {self.port}
server.errorlog = "{self.dir}/error.log"
server.pid-file = "{self.dir}/lighttpd.pid"
alias.url = ("/git/" => "/usr/lib/git-core/git-http-backend/")
$HTTP["url"] =~ "^/git/" {{
  cgi.assign = ("" => "")
  setenv.add-environment = ("GIT_PROJECT_ROOT" => "{self.repos}", "GIT_HTTP_EXPORT_ALL" => "1")
}}
auth.backend = "plain"
auth.backend.plain.userfile = "{users}"
auth.require = ("/git/" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
""")
        self.proc = subprocess.Popen(["lighttpd", "-D", "-f", conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_until(lambda: _port_open(self.port), what="lighttpd")
        return self

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/git/{name}.git"

    def access_log(self):
        return _read(os.path.join(self.dir, "access.log")) or ""

    def stop(self):
        if self.proc:
            _kill_group(self.proc)


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class KiwiProcess:
    def __init__(self, binary, config_path, log_path):
        self.binary = binary
        self.config_path = config_path
        self.log_path = log_path
        self.proc = None

    def start(self, *extra):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([os.path.join(BIN_DIR, self.binary), "--config",
                                      self.config_path, *extra],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def terminate(self, timeout=20):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        self.log.close()
        self.proc = None
        return code

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL (a crash): returns once the process is gone."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait(timeout=10)
        self.log.close()
        self.proc = None
        return code

    def cpu_seconds(self):
        """User + system CPU time the process used so far (from /proc/<pid>/stat)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # After the command name: state is field 3, utime 14 and stime 15 (1-based).
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def consumer_name(self):
        """The name a kiwi-worker claims under (worker_app::default_consumer_name)."""
        return f"{socket.gethostname()}-{self.proc.pid}"


class Kiwi:
    """A kiwid and N kiwi-workers sharing a config in a private directory."""

    def __init__(self, root, redis_url, services, workers=1, worker_extra=None, extra=None):
        self.root = root
        self.data_dir = os.path.join(root, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.config = {
            "listen": "127.0.0.1:0",
            "redis": redis_url,
            "data_dir": self.data_dir,
            "redis_timeout_ms": 500,
            "worker": {"concurrency": 2, "clone_timeout_s": 10, "keep_workspaces": True,
                       **(worker_extra or {})},
            "http": {"shutdown_grace_ms": 5000},
            # Services without a "dockerfile" are clone-only here: these tests are about the
            # queue, webhooks and clones; test_build_flow.py builds images.
            "services": [s if "dockerfile" in s else dict(s, dockerfile={"mode": "none"})
                         for s in services],
        }
        self.config.update(extra or {})
        self.config_path = os.path.join(root, "kiwi.json")
        with open(self.config_path, "w") as f:
            json.dump(self.config, f)
        self.kiwid = KiwiProcess("kiwid", self.config_path, os.path.join(root, "kiwid.log"))
        self.workers = [KiwiProcess("kiwi-worker", self.config_path,
                                    os.path.join(root, f"worker{i}.log")) for i in range(workers)]
        self.port = None

    def start(self, kiwid=True):
        if kiwid:
            port_file = os.path.join(self.data_dir, "kiwid.port")
            if os.path.exists(port_file):
                os.unlink(port_file)
            self.kiwid.start()
            self.port = int(wait_until(lambda: _read(port_file), what="kiwid.port"))
            wait_until(lambda: _port_open(self.port), what="kiwid listening")
            # kiwid listens before its Redis connection is up (it answers 503 meanwhile); wait
            # for /readyz so a test's first request does not race it. Tests that start kiwid
            # with Redis down get on after the wait.
            try:
                wait_until(self._ready, timeout=5, what="kiwid ready")
            except TimeoutError:
                pass
        for w in self.workers:
            w.start()
        return self

    def _ready(self):
        try:
            return self.request("GET", "/readyz", timeout=2)[0] == 200
        except OSError:
            return False

    def stop(self):
        codes = [w.terminate() for w in self.workers]
        codes.append(self.kiwid.terminate())
        return codes

    def add_worker(self):
        """Starts one more kiwi-worker with the same configuration."""
        w = KiwiProcess("kiwi-worker", self.config_path,
                        os.path.join(self.root, f"worker{len(self.workers)}.log"))
        self.workers.append(w)
        return w.start()

    def queue_tool(self, *args, timeout=60):
        """Runs kiwi-queue-tool with this configuration; returns its stdout lines."""
        res = subprocess.run([os.path.join(BIN_DIR, "kiwi-queue-tool"), "--config",
                              self.config_path, *args],
                             capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(f"kiwi-queue-tool {' '.join(args)} exited {res.returncode}: "
                               f"{res.stderr}{res.stdout}")
        # Without spdlog's lines ("[2026-01-01 00:00:00.000] [info] ..."), which share stdout.
        return [l for l in res.stdout.splitlines() if not LOG_LINE.match(l)]

    def enqueue_noop(self, service, count=1, noop_ms=0, *extra):
        """Enqueues no-op jobs with kiwi-queue-tool; returns their build ids in enqueue order
        when the window is 1 (pass "--window", "1" for a defined order)."""
        lines = self.queue_tool("enqueue", "--service", service, "--count", str(count),
                                "--noop-ms", str(noop_ms), "--ids", *extra)
        ids = [l for l in lines if BUILD_ID.fullmatch(l)]  # stdout also carries log lines
        assert len(ids) == count, lines
        return ids

    def all_output(self):
        return self.kiwid.output() + "".join(w.output() for w in self.workers)

    def request(self, method, path, body=b"", headers=None, timeout=10, source=None):
        """source: the client address to send from (another loopback address, e.g. 127.0.0.2)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(source, 0) if source else None)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            res = conn.getresponse()
            data = res.read()
            return res.status, dict(res.getheaders()), data
        finally:
            conn.close()

    def github_push(self, service, secret, payload, delivery=None, event="push"):
        body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
        sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
                   "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                   "X-Hub-Signature-256": "sha256=" + sig}
        status, hdrs, data = self.request("POST", f"/hooks/github/{service}", body, headers)
        return status, hdrs, (json.loads(data) if data else None)

    def admin_token(self):
        """The admin API token kiwid writes to <data_dir>/admin.token on first start."""
        return wait_until(lambda: _read(os.path.join(self.data_dir, "admin.token")),
                          what="admin.token")

    def api(self, method, path, body=None, token=None, raw=None, timeout=15, source=None):
        """Calls /api/v1<path> with a bearer token; body is sent as JSON (raw: bytes as is).
        Returns (status, parsed JSON or None)."""
        headers = {}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        if data:
            headers["Content-Type"] = "application/json"
        status, _, out = self.request(method, "/api/v1" + path, data, headers, timeout=timeout,
                                      source=source)
        try:
            parsed = json.loads(out) if out else None
        except ValueError:
            parsed = {"_raw": out.decode("utf-8", "replace")}
        return status, parsed


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def github_push_payload(branch, before, after, message="change", repo="org/app"):
    """A push payload in GitHub's shape, derived from the real example in
    tests/fixtures/github/push_branch.json with this push's refs and commit."""
    with open(os.path.join(FIXTURES, "github", "push_branch.json")) as f:
        payload = json.load(f)
    payload["ref"] = "refs/heads/" + branch
    payload["before"] = before
    payload["after"] = after
    payload["deleted"] = False
    payload["created"] = before == "0" * 40
    commit = dict(payload["commits"][0]) if payload.get("commits") else {}
    commit.update({"id": after, "message": message})
    payload["commits"] = [commit]
    payload["head_commit"] = commit
    return payload


class EventListener:
    """Subscribes to a channel before anything is sent, so no event is missed."""

    def __init__(self, redis_client, channel):
        self.pubsub = redis_client.pubsub()
        self.pubsub.subscribe(channel)
        wait_until(lambda: self.pubsub.get_message(timeout=0.1), what="subscription")
        self.events = []

    def until(self, predicate, timeout=20.0):
        for ev in self.events:  # it may have arrived while waiting for another event
            if predicate(ev):
                return ev
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.pubsub.get_message(timeout=0.2)
            if msg and msg["type"] == "message":
                ev = json.loads(msg["data"])
                self.events.append(ev)
                if predicate(ev):
                    return ev
        raise TimeoutError("no matching event; got: " + json.dumps(self.events, indent=1))

    def close(self):
        self.pubsub.close()


def tempdir():
    return tempfile.mkdtemp(prefix="kiwi-it-")


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def base_environment(web_token=None):
    """The parts most integration tests start with: a temp dir, a real redis-server, a git
    repository "app" (no commits yet) and, with web_token, a smart-HTTP git server that asks
    for that token. Yields a dict (root, redis, repo, web, kiwi: None); a test that starts a
    Kiwi stores it in state["kiwi"], and everything is stopped and removed afterwards."""
    root = tempdir()
    redis_server = RedisServer(root).start()
    repo = GitRepo(root, "app")
    web = GitHttpServer(root, os.path.dirname(repo.bare), web_token).start() if web_token else None
    state = {"root": root, "redis": redis_server, "repo": repo, "web": web, "kiwi": None}
    try:
        yield state
    finally:
        if state["kiwi"]:
            state["kiwi"].stop()
        if web:
            web.stop()
        redis_server.stop()
        rmtree(root)


def admin_token(kiwi, timeout=10.0):
    """The admin API token kiwid wrote at start (<data_dir>/admin.token)."""
    path = os.path.join(kiwi.data_dir, "admin.token")
    return wait_until(lambda: _read(path), timeout=timeout, what="admin.token")


def kiwictl(*args, url=None, token=None, input=None, timeout=60, env=None):
    """Runs kiwictl against `url` with `token` (KIWI_URL / KIWI_TOKEN, nothing else inherited
    from the caller's KIWI_* variables); returns the CompletedProcess (text, never raises on a
    non-zero exit)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KIWI_")}
    if url is not None:
        environ["KIWI_URL"] = url
    if token is not None:
        environ["KIWI_TOKEN"] = token
    environ.update(env or {})
    return subprocess.run([os.path.join(BIN_DIR, "kiwictl"), *args], input=input,
                          capture_output=True, text=True, timeout=timeout, env=environ,
                          stdin=None if input is not None else subprocess.DEVNULL)
