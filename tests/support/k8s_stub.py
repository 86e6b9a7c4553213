#!/usr/bin/python3
"""A stub Kubernetes API server for tests: no real API server can run on Kiwi's machines
(ENVIRONMENT.md), so Kiwi's Kubernetes code is tested against this one. It serves only
recorded real API objects (tests/fixtures/k8s/, sources in tests/fixtures/README.md), over
https with a certificate the test makes, and checks the bearer token like an API server:

- no or another token: 401 with the recorded Unauthorized Status;
- the "forbidden" token: 403 with the recorded Forbidden Status, on every route;
- the right token: the route table, first match wins; no match: 404 with the recorded
  NotFound Status.

Routes map (method, path regex) to a fixture file (status from the file's Status `code`, else
200) or to a handler: `handler(request) -> Response`. A handler may return a Response whose
body is an iterator of byte chunks: it is streamed with chunked encoding as the chunks come
(watch streams, `follow=true` logs). Every request is appended to a JSON-lines file (method,
path, query, auth outcome, body; never the token) for assertions.

As a module (pytest):

    stub = K8sStub(cert, key, token="t0ken", log_path=tmp/"requests.jsonl").start()
    stub.route("GET", r"/apis/batch/v1/namespaces/(?P<ns>[^/]+)/jobs/(?P<name>[^/]+)",
               fixture="jobs/job-running.json")
    stub.route("POST", r"/apis/batch/v1/namespaces/[^/]+/jobs",
               lambda req: Response.fixture("jobs/job-created-201.json", status=201))
    ... stub.url ... stub.requests() ...
    stub.stop()

As a program (C++ tests):

    k8s_stub.py --cert C --key K --token T [--forbidden-token T2] --port-file F
                [--log requests.jsonl] [--route 'GET ^/version$ version.json' ...]
                [--kaniko-cluster [--deny jobs ...]] [--deploy-cluster SCENARIO]

GET /version is served from version.json unless a route replaces it. The port (127.0.0.1,
chosen by the kernel) is written to --port-file once the server accepts connections.
make_self_signed(directory) makes a certificate for 127.0.0.1 and localhost with openssl.
"""

import argparse
import json
import os
import re
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                         "..", "fixtures", "k8s"))
UNAUTHORIZED = "status/status-401-unauthorized.json"
FORBIDDEN = "status/status-403-forbidden.json"
NOT_FOUND = "status/status-404-notfound.json"


def make_self_signed(directory, name="k8s-stub"):
    """A self-signed certificate valid for 127.0.0.1 and localhost: (cert path, key path)."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", key, "-out", cert, "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class Request:
    def __init__(self, method, path, query, headers, body, params):
        self.method = method
        self.path = path
        self.query = query      # {name: [values]}
        self.headers = headers  # the request's headers (email.message.Message)
        self.body = body        # bytes
        self.params = params    # the route regex's named groups
        self.notes = {}         # what a handler adds to the request's log entry

    def json(self):
        return json.loads(self.body) if self.body else None


class Response:
    def __init__(self, status=200, body=b"", content_type="application/json", headers=()):
        self.status = status
        self.body = body  # bytes, str, a JSON-able dict/list, or an iterator of byte chunks
        self.content_type = content_type
        self.headers = list(headers)

    @staticmethod
    def fixture(name, status=None, fixtures=FIXTURES):
        """A fixture file as is; the status is its Status `code` unless given."""
        with open(os.path.join(fixtures, name), "rb") as f:
            data = f.read()
        if status is None:
            try:
                parsed = json.loads(data)
                status = parsed.get("code", 200) if parsed.get("kind") == "Status" else 200
            except ValueError:
                status = 200
        return Response(status, data)


class K8sStub:
    def __init__(self, cert, key, token, forbidden_token=None, log_path=None,
                 fixtures=FIXTURES):
        self.cert, self.key = cert, key
        self.token = token
        self.forbidden_token = forbidden_token
        self.log_path = log_path
        self.fixtures = fixtures
        self.routes = []  # (method, compiled regex, handler)
        self.server = None
        self.thread = None
        self._log_lock = threading.Lock()
        self.route("GET", r"/version", fixture="version.json")

    def route(self, method, pattern, handler=None, fixture=None, status=None):
        """Adds a route in front of the earlier ones (so a test can replace a default).
        `pattern` must match the whole path (query apart)."""
        if handler is None:
            if fixture is None:
                raise ValueError("a route needs a handler or a fixture")
            handler = lambda _req, f=fixture, s=status: Response.fixture(f, s, self.fixtures)
        self.routes.insert(0, (method.upper(), re.compile(pattern), handler))
        return self

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def start(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        self.server = _Server(("127.0.0.1", 0), _handler_for(self))
        # The handshake runs in the request's thread: a client that never sends one (or
        # rejects the certificate) holds up nobody else.
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def requests(self):
        """The requests recorded so far (parsed JSON lines)."""
        if not self.log_path or not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def _record(self, entry):
        if not self.log_path:
            return
        with self._log_lock, open(self.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def _answer(self, req):
        """(auth outcome, Response) for a request."""
        header = req.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else None
        if given is None:
            return "none", Response.fixture(UNAUTHORIZED, fixtures=self.fixtures)
        if self.forbidden_token and given == self.forbidden_token:
            return "forbidden", Response.fixture(FORBIDDEN, fixtures=self.fixtures)
        if given != self.token:
            return "invalid", Response.fixture(UNAUTHORIZED, fixtures=self.fixtures)
        for method, pattern, handler in self.routes:
            m = pattern.fullmatch(req.path)
            if m and method == req.method:
                req.params = m.groupdict()
                return "valid", handler(req)
        return "valid", Response.fixture(NOT_FOUND, fixtures=self.fixtures)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # TLS handshakes a client abandons (e.g. it does not trust the certificate)


def _handler_for(stub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def _handle(self):
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(self.command, url.path, parse_qs(url.query), self.headers, body, {})
            auth, res = stub._answer(req)
            try:
                shown = json.loads(body) if body else None
            except ValueError:
                shown = body.decode("utf-8", "replace")
            stub._record({"method": self.command, "path": url.path,
                          "query": parse_qs(url.query), "auth": auth,
                          "content_type": self.headers.get("Content-Type"), "body": shown,
                          "status": res.status, **req.notes})
            self._send(res)

        def _send(self, res):
            data = res.body
            if isinstance(data, (dict, list)):
                data = json.dumps(data).encode()
            elif isinstance(data, str):
                data = data.encode()
            self.send_response(res.status)
            self.send_header("Content-Type", res.content_type)
            for name, value in res.headers:
                self.send_header(name, value)
            if isinstance(data, bytes):
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in data:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


def main():
    p = argparse.ArgumentParser(description="A stub Kubernetes API server (see the source).")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--forbidden-token")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    p.add_argument("--fixtures", default=FIXTURES)
    p.add_argument("--route", action="append", default=[],
                   metavar="'METHOD PATH_REGEX FIXTURE [STATUS]'")
    p.add_argument("--kaniko-cluster", action="store_true",
                   help="serve Jobs, Secrets, pods and logs (tests/support/kaniko_cluster.py)")
    p.add_argument("--deny", action="append", default=[], metavar="COLLECTION",
                   help="with --kaniko-cluster: secrets, jobs or pods answer 403")
    p.add_argument("--deploy-cluster", metavar="SCENARIO",
                   help="serve a rollout of Deployments (tests/support/deploy_cluster.py)")
    args = p.parse_args()
    stub = K8sStub(args.cert, args.key, args.token, args.forbidden_token, args.log,
                   args.fixtures)
    if args.kaniko_cluster:
        from kaniko_cluster import KanikoCluster  # it imports this module
        KanikoCluster(stub).denied.update(args.deny)
    if args.deploy_cluster:
        from deploy_cluster import DeployCluster  # it imports this module
        DeployCluster(stub, args.deploy_cluster)
    for spec in args.route:
        parts = spec.split()
        stub.route(parts[0], parts[1], fixture=parts[2],
                   status=int(parts[3]) if len(parts) > 3 else None)
    stub.start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(stub.port))
    os.replace(tmp, args.port_file)
    stub.thread.join()


if __name__ == "__main__":
    main()
