#!/usr/bin/python3
"""A minimal token server for Distribution's token authentication
(https://distribution.github.io/distribution/spec/auth/token/), for tests only.

docker-registry in token mode (`auth.token: {realm, service, issuer, rootcertbundle}`) sends
clients here; this server checks their Basic credentials and answers `{"token": <JWT>}`, a JWT
signed RS256 with KEY whose header carries the self-signed CERT in `x5c` (Distribution 2.8 checks
that chain against `rootcertbundle`). Scopes (`repository:NAME:pull,push`) are granted in full.

    registry_token_server.py --cert C --key K --issuer I --service S --user U --password P \
        --port-file F [--token-field token|access_token] [--log requests.jsonl]

Listens on 127.0.0.1, a free port written to --port-file once it accepts connections.
Wrong or missing credentials: 401. Each request is appended to --log as a JSON line (method,
path, query, whether credentials were sent and accepted; never the password).
"""

import argparse
import base64
import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    def __init__(self, cert_path, key_path, issuer, service):
        with open(cert_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        with open(key_path, "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), password=None)
        self.x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
        self.issuer = issuer
        self.service = service

    def token(self, subject, scopes):
        now = int(time.time())
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) >= 3:
                access.append({"type": parts[0], "name": ":".join(parts[1:-1]),
                               "actions": parts[-1].split(",")})
        header = {"typ": "JWT", "alg": "RS256", "x5c": self.x5c}
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(16), "access": access}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode())).encode()
        signature = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + b64url(signature)


def make_handler(args, issuer, log_lock):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def send_json(self, status, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def record(self, entry):
            if not args.log:
                return
            with log_lock, open(args.log, "a") as f:
                f.write(json.dumps(entry) + "\n")

        def do_GET(self):
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            auth = self.headers.get("Authorization", "")
            sent = auth.startswith("Basic ")
            accepted = False
            if sent:
                try:
                    user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                    accepted = user == args.user and password == args.password
                except ValueError:
                    pass
            self.record({"method": "GET", "path": url.path, "query": query,
                         "credentials_sent": sent, "accepted": accepted})
            if url.path != "/token":
                self.send_json(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
                return
            if not accepted:
                self.send_json(401, {"errors": [{"code": "UNAUTHORIZED",
                                                 "message": "authentication required"}]},
                               [("WWW-Authenticate", 'Basic realm="token"')])
                return
            if query.get("service", [""])[0] != args.service:
                self.send_json(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
                return
            token = issuer.token(args.user, query.get("scope", []))
            self.send_json(200, {args.token_field: token, "expires_in": 300,
                                 "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("cert", "key", "issuer", "service", "user", "password", "port-file"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--token-field", default="token", choices=("token", "access_token"))
    p.add_argument("--log")
    args = p.parse_args()
    issuer = TokenIssuer(args.cert, args.key, args.issuer, args.service)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args, issuer, threading.Lock()))
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)  # readers never see a half-written port
    server.serve_forever()


if __name__ == "__main__":
    main()
