#!/usr/bin/python3
"""Where Redis' time goes in kiwid's enqueue script: Redis CPU per enqueue for the script as
common/queue/lua/enqueue.lua has it, and for copies with one part taken out.

    bench/enqueue_cost.py [N] [rounds]        # default 20000 enqueues, 2 rounds

Each variant runs N enqueues (the arguments kiwid sends for bench/push.json, a new delivery
id and build id each time), 64 in flight, on a fresh redis-server with AOF everysec, and
reads the server's CPU time (user + system) from /proc. Rounds alternate the variants; the
medians are printed. Needs redis-server and redis-py (Debian python3-redis).
"""
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LUA = os.path.join(ROOT, "common", "queue", "lua")
PRELUDE = "local P = 'kiwi:{q}:'\n" + open(os.path.join(LUA, "prelude.lua")).read()
FLOOR = re.search(r'kScript = R"lua\((.*?)\)lua"',
                  open(os.path.join(ROOT, "bench", "ingest_floor.cpp")).read(), re.S).group(1)
ENQUEUE = open(os.path.join(LUA, "enqueue.lua")).read()

# Parts of the script, taken out one at a time (each must be found verbatim).
CUTS = {
    "without the all-builds stream XADD": [
        "redis.call('XADD', P .. 'events', 'MAXLEN', '~', 100000, '*', 'event', ev)"],
    "without build.queued (2 XADD, 2 PUBLISH)": [
        "store_event(KEYS[2], 1, ARGV[5] .. ',\"seq\":1}', svc)"],
    "without the service's history ZADD": ["redis.call('ZADD', KEYS[3], now, id)"],
}


def variants():
    out = {"enqueue script (as kiwid runs it)": (PRELUDE + ENQUEUE, None)}
    for name, parts in CUTS.items():
        script = PRELUDE + ENQUEUE
        for part in parts:
            if part not in script:
                sys.exit(f"enqueue_cost: {part!r} is no longer in the enqueue script")
            script = script.replace(part, "")
        out[name] = (script, None)
    out["the floor's script (bench/ingest_floor.cpp)"] = (FLOOR, "floor")
    out["empty script, same 42 keys and arguments"] = (PRELUDE + "return {1, ARGV[1], 1, 0}", None)
    out["empty script without the shared functions, 42"] = ("return {1, ARGV[1], 1, 0}", None)
    out["empty script, 5 keys and 9 arguments (14)"] = (PRELUDE + "return {1, ARGV[1], 1, 0}", 9)
    return out


def job(k):
    bid = "01m8ksrmb1rqjpsqag46c%06d" % k
    ts = "2026-11-29T14:01:25.610Z"
    sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    keys = ["kiwi:{q}:delivery:github:d-%d" % k, "kiwi:{q}:build:" + bid,
            "kiwi:{q}:service:bench:builds", "kiwi:{q}:build_numbers",
            "kiwi:{q}:replay:bench:%064x" % k]
    prefix = ('{"v":1,"type":"build.queued","build_id":"%s","service":"bench",'
              '"ref":"refs/heads/master","sha":"%s","stage":"","status":"queued","ts":"%s",'
              '"message":"push to master by Codertocat"' % (bid, sha, ts))
    # ARGV 7 and 8: no cancel of superseded builds, kiwid's default replay window (1 day).
    args = [bid, "604800", "bench", "1796220085610", prefix, "refs/heads/master", "0", "86400", ts]
    fields = {"service": "bench", "kind": "push", "trigger": "webhook", "provider": "github",
              "delivery": "d-%d" % k, "ref": "refs/heads/master", "sha": sha, "before": sha,
              "branch": "master", "tag": "", "pusher": "Codertocat",
              "commit_message": "Update README.md", "first_stage": "clone",
              "first_message": "cloning refs/heads/master at " + sha[:12]}
    for name, value in fields.items():
        args += [name, value]
    return keys, args


def measure(script, nargs, n):
    with tempfile.TemporaryDirectory(prefix="kiwi-enqueue-cost.") as d:
        with socket.socket() as probe:  # a free loopback port
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "everysec", "--dir", d],
            stdout=subprocess.DEVNULL)
        try:
            r = redis.Redis(port=port)
            for _ in range(50):
                try:
                    r.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.1)
            sha = r.script_load(script)

            def cpu():
                f = open(f"/proc/{server.pid}/stat").read().split()
                return int(f[13]) + int(f[14])

            c0 = cpu()
            pipe = r.pipeline(transaction=False)
            for k in range(n):
                keys, args = job(k)
                if nargs == "floor":  # its KEYS and ARGV (ingest_floor.cpp)
                    f = dict(zip(args[9::2], args[10::2]))
                    keys = keys[:2] + ["floor:queue"]
                    args = [args[0], f["service"], f["ref"], f["sha"], f["before"], f["pusher"],
                            f["commit_message"], args[3], args[4] + ',"seq":1}']
                elif nargs:
                    args = args[:nargs]
                pipe.evalsha(sha, len(keys), *keys, *args)
                if k % 64 == 63:
                    pipe.execute()
            pipe.execute()
            return (cpu() - c0) / os.sysconf("SC_CLK_TCK") * 1e6 / n
        finally:
            server.terminate()
            server.wait()


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    results = {name: [] for name in variants()}
    for _ in range(rounds):
        for name, (script, nargs) in variants().items():
            results[name].append(measure(script, nargs, n))
    print(f"Redis CPU per enqueue, median of {rounds} rounds of {n} (runs in brackets):")
    for name, values in results.items():
        runs = " / ".join(f"{v:.0f}" for v in values)
        print(f"  {name:45s} {statistics.median(values):6.1f} µs  [{runs}]")


if __name__ == "__main__":
    main()
