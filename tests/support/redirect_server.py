"""A git host that redirects elsewhere, for the tests of "credentials go only to the configured
host" (docs/security.md, "Where credentials go").

Two listeners on 127.0.0.1, ports chosen by the kernel:
- the redirector: 302 to the same path and query on http://localhost:<recorder port>
  (`localhost` and `127.0.0.1` are different hosts to git).
- the recorder, standing for another host: answers every request 401 with a Basic challenge
  and appends {"path", "authorization"} to the record file, so a test can see whether the token
  went there.

Usage: redirect_server.py PORT_FILE RECORD_FILE
PORT_FILE gets "<redirector port> <recorder port>" (written whole, by rename) once both listen.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT_FILE, RECORD_FILE = sys.argv[1], sys.argv[2]
LOCK = threading.Lock()


def record(entry):
    with LOCK:
        with open(RECORD_FILE, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def challenge(self):
        body = b"authentication required\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def drain(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)


class Redirector(Base):
    def handle_any(self):
        self.drain()
        self.send_response(302)
        self.send_header("Location", f"http://localhost:{RECORDER_PORT}{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = handle_any
    do_POST = handle_any


class Recorder(Base):
    def handle_any(self):
        self.drain()
        record({"path": self.path, "authorization": self.headers.get("Authorization")})
        self.challenge()

    do_GET = handle_any
    do_POST = handle_any


recorder = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
RECORDER_PORT = recorder.server_address[1]
redirector = ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
for server in (recorder, redirector):
    threading.Thread(target=server.serve_forever, daemon=True).start()
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(f"{redirector.server_address[1]} {RECORDER_PORT}\n")
os.replace(PORT_FILE + ".tmp", PORT_FILE)
threading.Event().wait()
