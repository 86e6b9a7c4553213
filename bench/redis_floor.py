#!/usr/bin/env python3
"""What Redis itself allows for the work the issues require of every no-op job, measured on
the bench's own redis-server: the floor under Kiwi's processing rate.

Per job, as issue 2 ("Events", the build record) and issue 3 (leases, per-service limits,
latest push wins) require, and nothing more:
  claim:  read the build record (HGETALL: the worker needs the job), write it (HSET status
          running, worker, lease, stage, started_at), take a slot of the service (SADD to its
          running set), and stage.started stored in the build's stream (XADD) and PUBLISHed on
          kiwi:events and kiwi:events:{service};
  finish: write the record (HSET status, finished_at), give the slot back (SREM), leave the
          ref's live set (SREM), and stage.succeeded and build.succeeded, each XADDed and
          PUBLISHed twice;
  leases: one ZADD and one ZREM per batch for all of its jobs.
That is HGETALL + 2 HSET + SADD + 2 SREM + 3 XADD + 6 PUBLISH per job, in Lua scripts of BATCH
jobs each (as Kiwi's finish batches are), eight scripts in flight so that Redis never waits
for this client. The records (16 fields, as Kiwi's enqueue writes) are made before the clock
starts. No fairness ring, no all-builds stream, no delivery guard, no event numbering: a queue
with Kiwi's guarantees does at least this.

  bench/redis_floor.py PORT [N=20000] [BATCH=25]
Prints: "floor: N jobs in S s (R jobs/s), Redis CPU U µs/job".
"""
import json
import os
import sys
import time

import redis

SCRIPT = r"""
local now = ARGV[1]
local leases, claimed = {}, {}
for i = 2, #ARGV, 4 do
  local id, e1 = ARGV[i], ARGV[i + 1]
  local b = 'floor:{q}:build:' .. id
  claimed[#claimed + 1] = redis.call('HGETALL', b)
  redis.call('HSET', b, 'status', 'running', 'worker', 'w1', 'lease', '1', 'stage', 'noop',
             'started_at', now)
  redis.call('SADD', 'floor:{q}:svc:bench:active', id)
  redis.call('XADD', b .. ':events', '*', 'seq', '2', 'event', e1)
  redis.call('PUBLISH', 'kiwi:events', e1)
  redis.call('PUBLISH', 'kiwi:events:bench', e1)
  leases[#leases + 1] = now
  leases[#leases + 1] = id
end
if #leases > 0 then redis.call('ZADD', 'floor:{q}:leases', unpack(leases)) end
local done = {}
for i = 2, #ARGV, 4 do
  local id, e2, e3 = ARGV[i], ARGV[i + 2], ARGV[i + 3]
  local b = 'floor:{q}:build:' .. id
  redis.call('HSET', b, 'status', 'succeeded', 'finished_at', now)
  redis.call('SREM', 'floor:{q}:svc:bench:active', id)
  redis.call('SREM', 'floor:{q}:live:bench:refs/heads/main', id)
  redis.call('XADD', b .. ':events', '*', 'seq', '3', 'event', e2)
  redis.call('PUBLISH', 'kiwi:events', e2)
  redis.call('PUBLISH', 'kiwi:events:bench', e2)
  redis.call('XADD', b .. ':events', '*', 'seq', '4', 'event', e3)
  redis.call('PUBLISH', 'kiwi:events', e3)
  redis.call('PUBLISH', 'kiwi:events:bench', e3)
  done[#done + 1] = id
end
if #done > 0 then redis.call('ZREM', 'floor:{q}:leases', unpack(done)) end
return #done
"""

# A queued build's record, as Kiwi's enqueue writes it (16 fields with the id).
RECORD = {"number": "1", "status": "queued", "queued_at": "1795952545209", "seq": "1",
          "attempts": "0", "lease": "0", "service": "bench", "kind": "noop", "trigger": "bench",
          "ref": "refs/heads/main", "sha": "", "noop_ms": "0", "first_stage": "noop",
          "first_message": "no-op stage (0 ms)", "enqueued_us": "1795952545209428"}


def event(build_id, etype, stage, status, seq):
    # The size and shape of Kiwi's own events (docs/events.md).
    return json.dumps({"v": 1, "type": etype, "build_id": build_id, "service": "bench",
                       "ref": "refs/heads/main", "sha": "", "stage": stage, "status": status,
                       "ts": "2026-11-29T12:00:00.000Z", "message": "no-op stage (0 ms)",
                       "seq": seq}, separators=(",", ":"))


def redis_cpu_ticks(r):
    pid = int(r.info("server")["process_id"])
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def main():
    port = int(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 25
    r = redis.Redis(host="127.0.0.1", port=port)
    script = r.register_script(SCRIPT)
    batches = []
    for start in range(0, n, batch):
        args = [str(int(time.time() * 1000))]
        for i in range(start, min(n, start + batch)):
            bid = "%026d" % i
            args += [bid, event(bid, "stage.started", "noop", "running", 2),
                     event(bid, "stage.succeeded", "noop", "succeeded", 3),
                     event(bid, "build.succeeded", "", "succeeded", 4)]
        batches.append(args)
    script(args=["0"])  # loads it
    setup = r.pipeline(transaction=False)
    for i in range(n):
        bid = "%026d" % i
        setup.hset("floor:{q}:build:" + bid, mapping=dict(RECORD, id=bid))
        setup.sadd("floor:{q}:live:bench:refs/heads/main", bid)
        if i % 1000 == 999:
            setup.execute()
    setup.execute()
    ticks = redis_cpu_ticks(r)
    t0 = time.monotonic()
    pipe_depth = 8
    done = 0
    for i in range(0, len(batches), pipe_depth):
        p = r.pipeline(transaction=False)
        for args in batches[i:i + pipe_depth]:
            script(args=args, client=p)
        done += sum(p.execute())
    took = time.monotonic() - t0
    cpu_us = (redis_cpu_ticks(r) - ticks) * 1e6 / os.sysconf("SC_CLK_TCK") / n
    assert done == n, done
    print(f"floor: {n} jobs in {took:.3f} s ({n / took:.0f} jobs/s), Redis CPU {cpu_us:.0f} µs/job")


if __name__ == "__main__":
    main()
