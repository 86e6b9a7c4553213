"""podman's Docker Engine API on a unix socket in a private directory (its own
containers.conf, storage and registries.conf: ../shared/ENVIRONMENT.md), for the tests that
need a Docker runtime. `api()` calls it directly, to check what Kiwi did; `stop()` removes every
container first (conmon would outlive the service otherwise)."""

import http.client
import json
import os
import socket
import subprocess
import urllib.parse

from kiwi_harness import wait_until


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class PodmanService:
    def __init__(self, root, insecure_registries=()):
        d = os.path.join(root, "podman")
        os.makedirs(d)
        self.socket = os.path.join(d, "docker.sock")
        registries = "unqualified-search-registries = []\n" + "".join(
            f'[[registry]]\nlocation = "{r}"\ninsecure = true\n' for r in insecure_registries)
        files = {"containers.conf": '[containers]\ndefault_ulimits = ["nofile=4096:4096",'
                                    '"nproc=4096:4096"]\n[engine]\nruntime = "runc"\n'
                                    'cgroup_manager = "cgroupfs"\nevents_logger = "file"\n',
                 "storage.conf": f'[storage]\ndriver = "vfs"\ngraphroot = "{d}/storage"\n'
                                 f'runroot = "{d}/run"\n',
                 "registries.conf": registries}
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        env = dict(os.environ, CONTAINERS_CONF=os.path.join(d, "containers.conf"),
                   CONTAINERS_STORAGE_CONF=os.path.join(d, "storage.conf"),
                   CONTAINERS_REGISTRIES_CONF=os.path.join(d, "registries.conf"))
        self.log = open(os.path.join(d, "service.log"), "w")
        self.proc = subprocess.Popen(["podman", "system", "service", "--time=0",
                                      "unix://" + self.socket], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: os.path.exists(self.socket), timeout=20, what="podman socket")

    def api(self, method, path, body=None):
        """(status, parsed JSON or raw bytes) of a Docker Engine API call."""
        conn = _UnixConnection(self.socket)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, "/v1.41" + path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            res = conn.getresponse()
            raw = res.read()
            try:
                return res.status, json.loads(raw)
            except ValueError:
                return res.status, raw
        finally:
            conn.close()

    def containers(self, *labels, all=True):
        """Containers (GET /containers/json) carrying every label "key=value"."""
        query = urllib.parse.quote(json.dumps({"label": list(labels)})) if labels else ""
        status, out = self.api("GET", f"/containers/json?all={str(all).lower()}"
                                      + (f"&filters={query}" if query else ""))
        assert status == 200, out
        return out

    def stop(self):
        try:
            for c in self.containers():
                self.api("DELETE", f"/containers/{c['Id']}?force=true")
        except OSError:
            pass
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()
