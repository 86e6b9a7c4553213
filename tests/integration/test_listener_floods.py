"""Slowloris and event-stream floods against a real kiwid and redis-server (issue 15): 1,500
connections trickling their headers byte by byte and 300 open Server-Sent Event streams, while
signed push webhooks keep arriving. Each webhook must be queued (202) before GitHub's delivery
deadline (10 s); the latencies are printed, not asserted. The floods come from loopback
addresses 127.0.0.10-13 and 127.0.0.20-29, since kiwid caps connections and streams per client
address (daemon/connection_limits); the webhooks from 127.0.0.1."""

import multiprocessing
import re
import socket
import time
import uuid

import pytest

from kiwi_harness import (GitRepo, Kiwi, RedisServer, github_push_payload,
                          raise_open_files_limit, rmtree, tempdir, wait_until)

SECRET = "floods-webhook-secret-0001"
SLOW_CONNECTIONS = 1500
SLOW_SOURCES = [f"127.0.0.{10 + i}" for i in range(4)]  # 375 each, under the 512 per client
STREAMS = 300
STREAM_SOURCES = [f"127.0.0.{20 + i}" for i in range(10)]  # 30 each, under the 32 per client
SLOW_ROUND_S = 1.0  # each slow connection sends one byte a second, as slowloris does
WEBHOOKS = 200
# Every slow connection's header so far: each byte is one send, in order.
SLOW_HEAD = (b"POST /hooks/github/app HTTP/1.1\r\nHost: kiwid\r\nContent-Type: application/json\r\n"
             b"X-GitHub-Event: push\r\nX-Padding: " + b"a" * 4000)

raise_open_files_limit()  # 1,800 client sockets plus kiwid's own ends


@pytest.fixture
def kiwi():
    root = tempdir()
    redis_server = RedisServer(root).start()
    repo = GitRepo(root, "app")
    repo.commit({"README.md": "hello\n"}, "first")
    services = [{"name": "app", "git_url": repo.file_url, "branch": "main",
                 "webhook_secret": SECRET, "cancel_superseded": False}]
    kiwi = Kiwi(root, redis_server.url, services, workers=0).start()
    yield kiwi
    kiwi.stop()
    redis_server.stop()
    rmtree(root)


def slowloris(port, started, reopened, stop):
    """Runs in its own process (the test's webhook latencies must not wait for this loop's turn
    at the interpreter): SLOW_CONNECTIONS connections, each sent one more header byte per round;
    one that kiwid closes (its header deadline) is opened again, so the flood stays at full size.
    Sets started after the first round; counts the reopened connections."""
    def connect(i):
        s = socket.socket()
        s.settimeout(10)
        s.bind((SLOW_SOURCES[i % len(SLOW_SOURCES)], 0))
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        return s

    sockets = [connect(i) for i in range(SLOW_CONNECTIONS)]
    sent = [0] * SLOW_CONNECTIONS
    while not stop.is_set():
        for i, s in enumerate(sockets):
            try:
                s.send(SLOW_HEAD[sent[i]:sent[i] + 1])
                sent[i] = (sent[i] + 1) % len(SLOW_HEAD)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:  # closed by kiwid: open another
                s.close()
                try:
                    sockets[i], sent[i] = connect(i), 0
                    reopened.value += 1
                except OSError:
                    pass
        started.set()
        stop.wait(SLOW_ROUND_S)
    for s in sockets:
        s.close()


def open_stream(port, token, source):
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: kiwid\r\nAuthorization: Bearer " +
              token.encode() + b"\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return s, bytearray(head.split(b"\r\n\r\n", 1)[1])


def open_connections(kiwi):
    status, _, body = kiwi.request("GET", "/metrics", source="127.0.0.2")
    found = re.search(rb"^kiwi_http_open_connections ([0-9]+)", body, re.M)
    return int(found.group(1)) if status == 200 and found else 0


def send_webhooks(kiwi, first, count):
    """count signed pushes, one after another; returns their latencies in ms, sorted."""
    latencies = []
    for n in range(first, first + count):
        payload = github_push_payload("main", "%040x" % n, "%040x" % (n + 1), f"change {n}")
        started = time.monotonic()
        status, _, body = kiwi.github_push("app", SECRET, payload, delivery=str(uuid.uuid4()))
        latencies.append((time.monotonic() - started) * 1000)
        # github_push's socket times out after 10 s, GitHub's own delivery deadline: an
        # answer is in time.
        assert status == 202 and body["status"] == "queued", (n, status, body)
    return sorted(latencies)


def percentiles(latencies):
    p = lambda q: latencies[max(0, int(len(latencies) * q) - 1)]
    return f"p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {latencies[-1]:.1f} ms"


def test_webhooks_are_queued_in_time_through_slowloris_and_event_stream_floods(kiwi):
    admin = kiwi.admin_token()
    # The same webhooks without any flood, on this machine now: the baseline to compare with.
    quiet = send_webhooks(kiwi, 0, WEBHOOKS)
    streams = [open_stream(kiwi.port, admin, STREAM_SOURCES[i % len(STREAM_SOURCES)])
               for i in range(STREAMS)]
    started, stop = multiprocessing.Event(), multiprocessing.Event()
    reopened = multiprocessing.Value("i", 0)
    slow = multiprocessing.Process(target=slowloris, args=(kiwi.port, started, reopened, stop))
    try:
        slow.start()
        # Every slow connection has begun its header, and kiwid holds them all and the streams.
        assert started.wait(60), "the slow connections did not start within 60 s"
        wait_until(lambda: open_connections(kiwi) >= SLOW_CONNECTIONS + STREAMS, timeout=60,
                   what="kiwid holding every slow connection and stream")
        cpu_before = kiwi.kiwid.cpu_seconds()
        flooded = send_webhooks(kiwi, WEBHOOKS, WEBHOOKS)
        cpu = kiwi.kiwid.cpu_seconds() - cpu_before
        print(f"{WEBHOOKS} signed webhooks, no flood: {percentiles(quiet)}; through "
              f"{SLOW_CONNECTIONS} slow connections ({reopened.value} reopened after kiwid's "
              f"header deadline) and {STREAMS} event streams: {percentiles(flooded)}; kiwid CPU meanwhile {cpu:.1f} s")
        # The streams were live all along: each carries the builds queued during the flood.
        for s, buf in streams[::30]:
            deadline = time.monotonic() + 20
            while b"event: build.queued" not in buf:
                assert time.monotonic() < deadline, bytes(buf[:500])
                chunk = s.recv(65536)
                assert chunk, bytes(buf[:500])
                buf += chunk
        assert kiwi.request("GET", "/healthz", source="127.0.0.2")[0] == 200
    finally:
        stop.set()
        slow.join(timeout=30)
        if slow.is_alive():
            slow.kill()
        for s, _ in streams:
            s.close()
