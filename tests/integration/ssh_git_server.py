"""OpenSSH's sshd on 127.0.0.1 for git over ssh in the integration tests (the unit tests' twin is
tests/unit/git_servers.hpp ssh_server): a private config, an ed25519 host key, one authorized
ed25519 client key and a key it does not know, in a temp dir. git runs as root (the tests run
as root), so a repository's URL is its absolute path. Own process group, stopped by PID."""

import os
import subprocess

from kiwi_harness import _kill_group, _port_open, free_port, run, wait_until


class SshGitServer:
    def __init__(self, root):
        self.dir = os.path.join(root, "sshd")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.proc = None
        self._log = None

    def _path(self, name):
        return os.path.join(self.dir, name)

    def start(self):
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        for name in ("host_key", "client_key", "other_key"):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kiwi-" + name,
                 "-f", self._path(name)])
        with open(self._path("authorized_keys"), "w") as f:
            f.write(self._read("client_key.pub"))
        with open(self._path("sshd_config"), "w") as f:
            f.write(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {self._path("host_key")}
PidFile {self._path("sshd.pid")}
AuthorizedKeysFile {self._path("authorized_keys")}
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers root
""")
        self._log = open(self._path("sshd.log"), "ab")
        # -D: foreground; -e: log to stderr; an absolute path: sshd re-executes itself.
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f",
                                      self._path("sshd_config")],
                                     stdout=self._log, stderr=self._log, start_new_session=True)
        wait_until(lambda: _port_open(self.port), what="sshd")
        return self

    def _read(self, name):
        with open(self._path(name)) as f:
            return f.read()

    def url(self, bare):
        return f"ssh://root@127.0.0.1:{self.port}{bare}"

    @property
    def client_key(self):
        return self._read("client_key")

    @property
    def known_hosts_line(self):
        pub = self._read("host_key.pub")  # "ssh-ed25519 AAAA... comment"
        return f"[127.0.0.1]:{self.port} " + pub.rsplit(" ", 1)[0]

    @property
    def other_known_hosts_line(self):
        """A line for this host with a key the server does not have."""
        pub = self._read("other_key.pub")
        return f"[127.0.0.1]:{self.port} " + pub.rsplit(" ", 1)[0]

    @property
    def fingerprint(self):
        out = run(["ssh-keygen", "-l", "-E", "sha256", "-f", self._path("host_key.pub")])
        return out.split()[1]

    def stop(self):
        if self.proc:
            _kill_group(self.proc)
            self.proc = None
        if self._log:
            self._log.close()
            self._log = None
