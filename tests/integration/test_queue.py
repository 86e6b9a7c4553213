"""The reliable queue end to end (docs/queue.md): real redis-server, real kiwi-worker processes,
kiwi-queue-tool and kiwid. Workers are killed, stopped and starved of Redis; Redis itself
crashes; builds are superseded, cancelled, retried and dead-lettered. Every wait is bounded."""

import json
import os
import random
import subprocess
import threading
import time

import pytest

from kiwi_harness import (BIN_DIR, BUILD_ID, EventListener, GitHttpServer, GitRepo, Kiwi, RedisServer,
                          free_port, github_push_payload, rmtree, tempdir, wait_until)

SECRET = "webhook-secret-for-tests-0001"
TOKEN = "glpat-TOKEN-never-in-logs-7731"
ZERO = "0" * 40
P = "kiwi:{q}:"
ENDED = ("succeeded", "failed", "cancelled", "superseded")


@pytest.fixture
def env(request):
    root = tempdir()
    redis_server = RedisServer(root, appendfsync="always").start()
    repo = GitRepo(root, "app")
    first = repo.commit({"README.md": "hello kiwi\n"}, "first")
    state = {"root": root, "redis": redis_server, "repo": repo, "first": first, "kiwi": None}
    failed_before = request.session.testsfailed
    yield state
    kiwi = state["kiwi"]
    if kiwi:
        kiwi.stop()
        if request.session.testsfailed > failed_before:
            for p in [kiwi.kiwid, *kiwi.workers]:
                if os.path.exists(p.log_path):
                    tail = p.output().splitlines()[-40:]
                    print(f"\n--- {os.path.basename(p.log_path)} (last {len(tail)} lines) ---")
                    print("\n".join(tail))
    redis_server.stop()
    rmtree(root)


@pytest.fixture
def say(capsys):
    """Prints past pytest's capture, so the line also lands in ctest's log."""
    def say(text):
        with capsys.disabled():
            print(text, flush=True)
    return say


def service(env, name, **kw):
    return {"name": name, "git_url": env["repo"].file_url, "branch": "main",
            "webhook_secret": SECRET, **kw}


def make_kiwi(env, services, workers=1, worker_extra=None, queue=None, kiwid=False):
    extra = {"queue": queue} if queue else None
    kiwi = Kiwi(env["root"], env["redis"].url, services, workers=workers,
                worker_extra=worker_extra, extra=extra)
    env["kiwi"] = kiwi
    return kiwi.start(kiwid=kiwid)


def record(r, build_id):
    return r.hgetall(f"{P}build:{build_id}")


def stored_events(r, build_id):
    """The build's events as stored in its replay stream, in order."""
    return [json.loads(f["event"]) for _, f in r.xrange(f"{P}build:{build_id}:events")]


def event_types(r, build_id):
    return [e["type"] for e in stored_events(r, build_id)]


def outcomes(r):
    return {k: int(v) for k, v in r.hgetall(f"{P}stats:outcomes").items()}


def wait_status(r, build_id, statuses, timeout):
    return wait_until(lambda: (record(r, build_id).get("status") in statuses) and
                      record(r, build_id), timeout=timeout, interval=0.05,
                      what=f"build {build_id} to reach {statuses}")


def dead_letters(r):
    return [f for _, f in r.xrange(f"{P}dead")] if r.exists(f"{P}dead") else []


def assert_queue_idle(r, *services):
    assert r.zcard(f"{P}leases") == 0, r.zrange(f"{P}leases", 0, -1, withscores=True)
    assert r.zcard(f"{P}delayed") == 0
    for s in services:
        assert r.scard(f"{P}svc:{s}:active") == 0, r.smembers(f"{P}svc:{s}:active")
        assert r.llen(f"{P}svc:{s}:waiting") == 0


def worker_ready(worker):
    return wait_until(lambda: "claiming builds as" in worker.output(), timeout=10,
                      what="worker start-up")


# --- 1. chaos ---------------------------------------------------------------------------------

def test_chaos_killed_workers_lose_no_build(env, say):
    """2,000 no-op jobs through 4 workers while one worker is SIGKILLed and restarted every
    second: every build ends succeeded exactly once, and nothing is left leased or active."""
    total = 2000
    kiwi = make_kiwi(env, [service(env, "bulk", cancel_superseded=False,
                                   max_concurrent_builds=64)],
                     workers=4, worker_extra={"concurrency": 8, "drain_timeout_ms": 1000},
                     queue={"visibility_timeout_ms": 2000, "max_attempts": 20,
                            "retry_base_ms": 100})
    r = env["redis"].client()
    ids_path = os.path.join(env["root"], "enqueued.txt")
    started = time.monotonic()
    with open(ids_path, "w") as ids_file:
        # At a steady pace, so the kills land while builds are being claimed and run.
        enqueuer = subprocess.Popen(
            [os.path.join(BIN_DIR, "kiwi-queue-tool"), "--config", kiwi.config_path, "enqueue",
             "--service", "bulk", "--count", str(total), "--noop-ms", "20", "--rate", "250",
             "--ids"], stdout=ids_file, stderr=subprocess.STDOUT)
        rng = random.Random(1234)
        kills = 0
        try:
            chaos_until = None
            while True:
                time.sleep(1.0)
                victim = rng.choice(kiwi.workers)
                victim.kill()
                victim.start()
                kills += 1
                done = int(r.hget(f"{P}stats:outcomes", "succeeded") or 0)
                if enqueuer.poll() is not None and chaos_until is None:
                    chaos_until = time.monotonic() + 2.0  # a little more chaos after the last
                if done >= total or (chaos_until and time.monotonic() > chaos_until):
                    break
                assert time.monotonic() - started < 60, "enqueueing 2,000 jobs took over 60 s"
        finally:
            if enqueuer.poll() is None:
                enqueuer.kill()
            enqueuer.wait(timeout=10)
    assert enqueuer.returncode == 0, open(ids_path).read()[-2000:]
    with open(ids_path) as f:
        enqueued = [l.strip() for l in f if BUILD_ID.fullmatch(l.strip())]
    assert len(enqueued) == total

    wait_until(lambda: int(r.hget(f"{P}stats:outcomes", "succeeded") or 0) >= total,
               timeout=40, interval=0.2, what="all 2,000 builds to succeed")
    elapsed = time.monotonic() - started

    ids = r.zrange(f"{P}service:bulk:builds", 0, -1)
    assert sorted(ids) == sorted(enqueued)
    pipe = r.pipeline()
    for i in ids:
        pipe.hmget(f"{P}build:{i}", "status", "lease", "attempts", "dead_letter")
    rows = dict(zip(ids, pipe.execute()))
    not_ok = {i: row for i, row in rows.items() if row[0] != "succeeded"}
    assert not not_ok, f"{len(not_ok)} builds did not succeed: {list(not_ok.items())[:10]}"
    extra_claims = sum(int(row[1]) - 1 for row in rows.values())
    stats = outcomes(r)
    say(f"\nchaos: {total} builds, {kills} worker kills, {elapsed:.1f} s, "
        f"extra claims (double executions) = {extra_claims}, "
        f"max claims of one build = {max(int(row[1]) for row in rows.values())}, "
        f"stats = {stats}")
    for i in [i for i, row in rows.items() if int(row[1]) > 2][:2]:  # how it came about
        say(f"claimed {rows[i][1]} times: {i}: " + "; ".join(
            f"{e['type']} {e['ts']} {e['message']}" for e in stored_events(r, i)))
    assert stats.get("succeeded") == total
    assert stats.get("failed", 0) == 0 and stats.get("dead_lettered", 0) == 0
    # Every extra claim follows a reclaim of an expired lease, and nothing else requeues here.
    assert extra_claims == stats.get("reclaimed", 0)
    assert dead_letters(r) == []
    assert_queue_idle(r, "bulk")
    assert all(code == 0 for code in kiwi.stop()[:-1])


# --- 2. Redis crash ---------------------------------------------------------------------------

def test_redis_crash_loses_no_acknowledged_webhook(env):
    """Pushes keep arriving while redis-server is SIGKILLed and restarted on its AOF: every
    webhook answered 202 has a build that ends succeeded; the others were answered 503."""
    kiwi = make_kiwi(env, [service(env, "app", cancel_superseded=False,
                                   max_concurrent_builds=4)],
                     workers=2, worker_extra={"concurrency": 2},
                     queue={"visibility_timeout_ms": 5000}, kiwid=True)
    r = env["redis"].client()
    payload = github_push_payload("main", ZERO, env["first"])
    answers = []  # (time, status, body or error)
    stop = threading.Event()

    def send():
        n = 0
        while not stop.is_set():
            n += 1
            try:
                # Each a distinct push (the same body again would be a replay: a duplicate).
                status, headers, body = kiwi.github_push(
                    "app", SECRET, dict(payload, compare=f"{payload.get('compare', '')}#{n}"))
                answers.append((time.monotonic(), status, body, headers.get("Retry-After")))
            except Exception as e:  # noqa: BLE001 - recorded and asserted below
                answers.append((time.monotonic(), None, repr(e), None))
            time.sleep(0.05)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        time.sleep(3.0)
        crash_at = time.monotonic()
        env["redis"].kill()
        time.sleep(1.5)
        env["redis"].start()
        restart_at = time.monotonic()
        time.sleep(4.0)
    finally:
        stop.set()
        sender.join(timeout=20)
    assert not sender.is_alive()

    accepted = [a for a in answers if a[1] == 202]
    before = [a for a in accepted if a[0] < crash_at]
    after = [a for a in accepted if a[0] > restart_at + 0.5]
    others = [a for a in answers if a[1] != 202]
    print(f"\nredis crash: {len(answers)} webhooks, {len(accepted)} accepted, "
          f"{len(others)} refused ({sorted(set(a[1] for a in others), key=str)})")
    assert before, "no webhook was accepted before the crash"
    assert after, "kiwid accepted nothing after Redis came back"
    for a in others:
        assert a[1] == 503 and a[3], f"while Redis was down: {a}"

    ids = [a[2]["build_id"] for a in accepted]
    assert len(set(ids)) == len(ids)

    def unfinished():
        pipe = r.pipeline()
        for i in ids:
            pipe.hget(f"{P}build:{i}", "status")
        return [(i, s) for i, s in zip(ids, pipe.execute()) if s != "succeeded"]

    try:
        wait_until(lambda: not unfinished(), timeout=60, interval=0.25,
                   what="every accepted build to succeed")
    except TimeoutError:
        left = unfinished()
        pytest.fail(f"{len(left)} of {len(ids)} accepted builds did not succeed "
                    f"(None = record missing): {left[:20]}")
    assert set(ids) <= set(r.zrange(f"{P}service:app:builds", 0, -1))
    assert_queue_idle(r, "app")


# --- 3. latest push wins ----------------------------------------------------------------------

def test_latest_push_wins(env):
    """20 builds of one ref in quick succession: the last one succeeds, every other ends
    superseded (or cancelled), and the queued ones say so with build.superseded at once."""
    kiwi = make_kiwi(env, [service(env, "web", cancel_superseded=True, max_concurrent_builds=1)],
                     worker_extra={"concurrency": 1})
    worker_ready(kiwi.workers[0])
    r = env["redis"].client()
    events = EventListener(r, "kiwi:events:web")
    # The first one is running when the other 19 come, one after the other.
    ids = kiwi.enqueue_noop("web", 1, 300)
    events.until(lambda e: e["build_id"] == ids[0] and e["type"] == "stage.started", timeout=10)
    ids += kiwi.enqueue_noop("web", 19, 300, "--window", "1")
    last = ids[-1]
    wait_status(r, last, ENDED, timeout=20)
    for i in ids:
        wait_status(r, i, ENDED, timeout=10)
    statuses = {i: record(r, i)["status"] for i in ids}
    assert statuses[last] == "succeeded"
    wrong = {i: s for i, s in statuses.items() if i != last and s not in ("superseded",
                                                                             "cancelled")}
    assert not wrong, (f"builds superseded by {last} ended otherwise: {wrong} "
                       f"(events: {[event_types(r, i) for i in wrong]})")
    never_ran = [i for i in ids[:-1] if record(r, i)["lease"] == "0"]
    print(f"\nlatest push wins: {19 - len(never_ran)} superseded build(s) had started: "
          f"{[(statuses[i], event_types(r, i)) for i in ids[:-1] if i not in never_ran]}")
    assert len(never_ran) == 18
    for i in never_ran:
        events.until(lambda e, i=i: e["build_id"] == i and e["type"] == "build.superseded",
                     timeout=5)
        assert event_types(r, i) == ["build.queued", "build.superseded"]
    for i in ids[:-1]:
        if statuses[i] == "superseded":
            assert "build.superseded" in event_types(r, i)
    assert outcomes(r).get("succeeded") == 1
    assert_queue_idle(r, "web")
    events.close()


# --- 4. fairness ------------------------------------------------------------------------------

def test_busy_service_does_not_starve_a_quiet_one(env):
    """200 builds of a busy service queued before 5 of a quiet one: the quiet service's builds
    all finish before the busy one's 50th."""
    kiwi = make_kiwi(env, [service(env, "busy", cancel_superseded=False, max_concurrent_builds=4),
                           service(env, "quiet", cancel_superseded=False,
                                   max_concurrent_builds=4)],
                     workers=0, worker_extra={"concurrency": 4})
    r = env["redis"].client()
    busy = set(kiwi.enqueue_noop("busy", 200, 8))
    quiet = set(kiwi.enqueue_noop("quiet", 5, 8))
    events = EventListener(r, "kiwi:events")
    kiwi.add_worker()
    done = []

    def finished(e):
        if e["type"] == "build.succeeded":
            done.append(e["build_id"])
        return len(done) == 205

    events.until(finished, timeout=60)
    quiet_positions = [n for n, i in enumerate(done) if i in quiet]
    busy_positions = [n for n, i in enumerate(done) if i in busy]
    assert len(quiet_positions) == 5 and len(busy_positions) == 200
    print(f"\nfairness: the quiet service's builds finished at positions {quiet_positions}")
    assert max(quiet_positions) < busy_positions[49], (quiet_positions, busy_positions[:60])
    events.close()


# --- 5. cancel --------------------------------------------------------------------------------

def test_cancel_queued_and_running_builds(env):
    """A queued build is cancelled at once; a running one ends cancelled, with build.cancelled,
    within 2 s of the request."""
    kiwi = make_kiwi(env, [service(env, "slow", cancel_superseded=False,
                                   max_concurrent_builds=1)],
                     worker_extra={"concurrency": 1})
    r = env["redis"].client()
    events = EventListener(r, "kiwi:events:slow")
    [running] = kiwi.enqueue_noop("slow", 1, 30000)
    [queued] = kiwi.enqueue_noop("slow", 1, 30000)
    events.until(lambda e: e["build_id"] == running and e["type"] == "stage.started",
                 timeout=10)
    assert record(r, queued)["status"] == "queued"

    assert kiwi.queue_tool("cancel", queued) == ["cancelled"]
    rec = record(r, queued)
    assert rec["status"] == "cancelled" and rec["lease"] == "0"
    assert event_types(r, queued) == ["build.queued", "build.cancelled"]
    assert r.llen(f"{P}svc:slow:waiting") == 0

    asked = time.monotonic()
    assert kiwi.queue_tool("cancel", running) == ["cancelling"]
    events.until(lambda e: e["build_id"] == running and e["type"] == "build.cancelled",
                 timeout=5)
    took = time.monotonic() - asked
    print(f"\ncancel: the running build ended {took:.2f} s after the request")
    assert took <= 2.0
    rec = record(r, running)
    assert rec["status"] == "cancelled" and "cancel" not in rec
    types = event_types(r, running)
    assert types == ["build.queued", "stage.started", "stage.failed", "build.cancelled"], types
    assert stored_events(r, running)[2]["status"] == "cancelled"
    assert outcomes(r).get("cancelled") == 2
    # Cancelling an ended build changes nothing and says how it ended.
    assert kiwi.queue_tool("cancel", running) == ["ended:cancelled"]
    assert kiwi.queue_tool("cancel", "no-such-build") == ["not_found"]
    assert_queue_idle(r, "slow")
    events.close()


# --- 6. graceful stop -------------------------------------------------------------------------

def test_sigterm_hands_running_build_to_another_worker(env):
    """SIGTERM: the worker exits 0 within a few seconds, its build is requeued and another worker
    claims it at once, long before the 30 s visibility timeout, and it ends succeeded."""
    kiwi = make_kiwi(env, [service(env, "deploy", cancel_superseded=False)],
                     worker_extra={"concurrency": 2, "drain_timeout_ms": 500},
                     queue={"visibility_timeout_ms": 30000})
    r = env["redis"].client()
    first = kiwi.workers[0]
    events = EventListener(r, "kiwi:events:deploy")
    [build] = kiwi.enqueue_noop("deploy", 1, 4000)
    events.until(lambda e: e["build_id"] == build and e["type"] == "stage.started", timeout=10)
    assert record(r, build)["worker"] == first.consumer_name()
    second = kiwi.add_worker()
    worker_ready(second)
    second_name = second.consumer_name()

    stopped_at = time.monotonic()
    first.proc.terminate()
    code = first.proc.wait(timeout=10)
    exited = time.monotonic() - stopped_at
    assert code == 0 and exited < 5.0, (code, exited)
    events.until(lambda e: e["build_id"] == build and e["type"] == "build.requeued", timeout=5)
    requeued_at = time.monotonic()
    n_started = lambda e: e["build_id"] == build and e["type"] == "stage.started"  # noqa: E731
    events.until(lambda e: n_started(e) and sum(map(n_started, events.events)) == 2, timeout=5)
    reclaimed_after = time.monotonic() - stopped_at
    claim_gap = time.monotonic() - requeued_at
    print(f"\ngraceful stop: worker exited after {exited:.2f} s; the build ran again "
          f"{reclaimed_after:.2f} s after SIGTERM, {claim_gap:.2f} s after build.requeued")
    assert reclaimed_after < 5.0  # visibility timeout is 30 s: this was a hand-back
    # The idle second worker is woken by the hand-back and claims at once (a round trip, not
    # its 1 s idle wait).
    assert claim_gap < 0.5, f"the idle worker claimed the handed-back build {claim_gap:.2f} s late"
    assert record(r, build)["worker"] == second_name
    ended = events.until(lambda e: e["build_id"] == build and e["type"].startswith("build.")
                         and e["type"] not in ("build.queued", "build.requeued"), timeout=15)
    assert ended["type"] == "build.succeeded"
    rec = record(r, build)
    assert rec["status"] == "succeeded" and rec["attempts"] == "0" and rec["lease"] == "2"
    stats = outcomes(r)
    assert stats.get("handed_back") == 1 and stats.get("reclaimed", 0) == 0
    assert "handed back to the queue" in first.output()
    assert_queue_idle(r, "deploy")
    events.close()


# --- 7. lease expiry --------------------------------------------------------------------------

def test_killed_worker_build_is_rerun_after_visibility_timeout(env):
    """A worker SIGKILLed mid-build: after about the visibility timeout another worker runs the
    build again (build.requeued, attempts 1) and it ends succeeded."""
    kiwi = make_kiwi(env, [service(env, "api", cancel_superseded=False)],
                     worker_extra={"concurrency": 1},
                     queue={"visibility_timeout_ms": 2000, "max_attempts": 3})
    r = env["redis"].client()
    first = kiwi.workers[0]
    events = EventListener(r, "kiwi:events:api")
    [build] = kiwi.enqueue_noop("api", 1, 2000)
    events.until(lambda e: e["build_id"] == build and e["type"] == "stage.started", timeout=10)
    second = kiwi.add_worker()
    worker_ready(second)
    killed_at = time.monotonic()
    first.kill()
    requeued = events.until(lambda e: e["build_id"] == build and e["type"] == "build.requeued",
                            timeout=10)
    after = time.monotonic() - killed_at
    print(f"\nlease expiry: requeued {after:.2f} s after the kill: {requeued['message']}")
    # The lease was renewed at most 0.5 s before the kill and lasts 2 s.
    assert 1.3 <= after <= 6.0
    events.until(lambda e: e["build_id"] == build and e["type"] == "stage.started"
                 and e["seq"] > requeued["seq"], timeout=5)
    assert record(r, build)["worker"] == second.consumer_name()
    rec = wait_status(r, build, ENDED, timeout=15)
    assert rec["status"] == "succeeded" and rec["attempts"] == "1" and rec["lease"] == "2"
    assert outcomes(r).get("reclaimed") == 1
    assert_queue_idle(r, "api")
    events.close()


# --- 8. retries and dead letters --------------------------------------------------------------

def test_transient_failures_retry_then_dead_letter_permanent_fail_at_once(env):
    """A clone from a port that refuses connections retries twice then fails into the
    dead-letter stream with attempts 3; a wrong token or a missing repository fails at once."""
    root = env["root"]
    web = GitHttpServer(root, os.path.dirname(env["repo"].bare), TOKEN).start()
    closed = free_port()
    try:
        kiwi = make_kiwi(env, [
            service(env, "flaky", git_url=f"http://127.0.0.1:{closed}/x.git"),
            service(env, "locked", git_url=web.url("app"), token="wrong-" + TOKEN,
                    git_username="user"),
            service(env, "missing", git_url="file://" + os.path.join(root, "nope.git")),
        ], worker_extra={"concurrency": 3},
            queue={"max_attempts": 3, "retry_base_ms": 100, "retry_max_ms": 400}, kiwid=True)
        r = env["redis"].client()
        events = EventListener(r, "kiwi:events")
        builds = {}
        for name in ("flaky", "locked", "missing"):
            status, _, body = kiwi.github_push(name, SECRET,
                                               github_push_payload("main", ZERO, env["first"]))
            assert status == 202, body
            builds[name] = body["build_id"]
        for name, b in builds.items():
            events.until(lambda e, b=b: e["build_id"] == b and e["type"] == "build.failed",
                         timeout=40)

        flaky = builds["flaky"]
        types = event_types(r, flaky)
        assert types == ["build.queued"] + ["stage.started", "stage.failed", "build.retrying"] * 2 \
            + ["stage.started", "stage.failed", "build.failed"], types
        rec = record(r, flaky)
        assert rec["status"] == "failed" and rec["attempts"] == "3" and rec["dead_letter"] == "1"
        dead = [d for d in dead_letters(r) if d["build"] == flaky]
        assert len(dead) == 1 and dead[0]["attempts"] == "3" and dead[0]["service"] == "flaky"
        print(f"\nretry: dead letter: {dead[0]['error']}")

        for name in ("locked", "missing"):
            b = builds[name]
            types = event_types(r, b)
            assert types == ["build.queued", "stage.started", "stage.failed", "build.failed"], \
                (name, types, stored_events(r, b))
            rec = record(r, b)
            # Claimed once; attempts counts transient failures only (job_queue.hpp).
            assert rec["status"] == "failed" and rec["lease"] == "1", (name, rec)
            assert rec["attempts"] == "0", (name, rec)
            assert "dead_letter" not in rec
            assert not [d for d in dead_letters(r) if d["build"] == b]
        assert record(r, builds["locked"])["error"].startswith("Authentication failed")
        print(f"missing repository: {record(r, builds['missing'])['error']}")
        stats = outcomes(r)
        assert stats.get("retried") == 2 and stats.get("dead_lettered") == 1
        assert stats.get("failed") == 2
        assert_queue_idle(r, "flaky", "locked", "missing")
        events.close()
    finally:
        web.stop()


# --- 9. Redis outage for an idle worker -------------------------------------------------------

def test_idle_worker_survives_redis_outage_without_busy_loop(env):
    """Redis gone for 3 s under an idle worker: the worker stays up, uses almost no CPU, and
    runs a new build once Redis is back."""
    kiwi = make_kiwi(env, [service(env, "app", cancel_superseded=False)])
    worker = kiwi.workers[0]
    worker_ready(worker)
    time.sleep(0.5)
    r = env["redis"].client()
    cpu_before = worker.cpu_seconds()
    log_before = len(worker.output().splitlines())
    env["redis"].kill()
    time.sleep(3.0)
    cpu_during = worker.cpu_seconds() - cpu_before
    outage_log = worker.output().splitlines()[log_before:]
    assert worker.running(), worker.output()[-2000:]
    env["redis"].start()
    print(f"\nredis outage: the idle worker used {cpu_during:.3f} s of CPU in 3 s")
    assert cpu_during < 0.3  # a busy loop would use most of the 3 s
    assert len(outage_log) < 20, outage_log[:40]  # and failures are logged, not flooded
    [build] = kiwi.enqueue_noop("app", 1, 50)
    rec = wait_status(r, build, ENDED, timeout=15)
    assert rec["status"] == "succeeded"
    assert worker.running()
