-- Shared by every script. Keys are built from P (keys::prefix, hash tag {q}): every key lives
-- in one Redis Cluster slot. The scheduler's per-service keys are named at run time (the claim
-- script learns the services from the ring), which Redis allows for keys of the script's slot.
-- (`P`, the key prefix, is defined before this by job_queue.cpp.)
-- A JSON string. Most values need no escaping and are quoted as they are (cheaper than cjson,
-- which would also write "/" as "\/", unlike common/base/text_format.cpp).
local function jstr(s)
  s = s or ''
  if not string.find(s, '[%c"\\\128-\255]') then return '"' .. s .. '"' end
  return cjson.encode(s)
end
-- Milliseconds since the epoch as format_timestamp writes them: 2026-11-29T11:42:30.741Z
-- (days to a civil date: Howard Hinnant's days_from_civil, inverted).
local function iso_time(ms)
  local fl = math.floor
  local s = fl(ms / 1000)
  local days, sod = fl(s / 86400), s % 86400
  local z = days + 719468
  local era = fl(z / 146097)
  local doe = z - era * 146097
  local yoe = fl((doe - fl(doe / 1460) + fl(doe / 36524) - fl(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + fl(yoe / 4) - fl(yoe / 100))
  local mp = fl((5 * doy + 2) / 153)
  local d = doy - fl((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d, fl(sod / 3600),
                       fl(sod % 3600 / 60), sod % 60, ms % 1000)
end
-- Each event goes to its build's stream, the all-builds stream (SSE replay for /api/v1/events)
-- and both pub/sub channels.
local function store_event(b, seq, ev, svc)
  redis.call('XADD', b .. ':events', 'MAXLEN', '~', 10000, '*', 'seq', seq, 'event', ev)
  redis.call('XADD', P .. 'events', 'MAXLEN', '~', 100000, '*', 'event', ev)
  redis.call('PUBLISH', 'kiwi:events', ev)
  redis.call('PUBLISH', 'kiwi:events:' .. svc, ev)
end
-- An event decided here (same fields and order as common/base/text_format.cpp).
local function event_json(id, etype, status, message, ts, stage, svc, ref, sha, seq)
  return '{"v":1,"type":' .. jstr(etype) .. ',"build_id":' .. jstr(id) ..
         ',"service":' .. jstr(svc) .. ',"ref":' .. jstr(ref) .. ',"sha":' .. jstr(sha) ..
         ',"stage":' .. jstr(stage) .. ',"status":' .. jstr(status) .. ',"ts":' .. jstr(ts) ..
         ',"message":' .. jstr(message) .. ',"seq":' .. seq .. '}'
end
local function emit(id, etype, status, message, ts, stage)
  local b = P .. 'build:' .. id
  local f = redis.call('HMGET', b, 'service', 'ref', 'sha')
  local seq = redis.call('HINCRBY', b, 'seq', 1)
  store_event(b, seq, event_json(id, etype, status, message, ts, stage, f[1], f[2], f[3], seq),
              f[1] or '')
end
-- Events made by the caller (see emit_prefix), numbered on from seq, the record's seq field as
-- the caller read it; returns the last number, for the caller to write back with its HSET.
local function store_prefixed(b, svc, seq, prefix, prefix2)
  for _, p in ipairs({prefix, prefix2 or ''}) do
    if p ~= '' then
      seq = seq + 1
      store_event(b, seq, p .. ',"seq":' .. seq .. '}', svc)
    end
  end
  return seq
end
-- Events made by the caller: their JSON without seq and the closing brace; '' is skipped.
-- One HINCRBY numbers them all.
local function emit_prefix(id, svc, prefix, prefix2)
  prefix2 = prefix2 or ''
  local n = (prefix ~= '' and 1 or 0) + (prefix2 ~= '' and 1 or 0)
  if n == 0 then return 0 end
  local b = P .. 'build:' .. id
  return store_prefixed(b, svc, redis.call('HINCRBY', b, 'seq', n) - n, prefix, prefix2)
end
local function count(outcome) redis.call('HINCRBY', P .. 'stats:outcomes', outcome, 1) end
-- A token for an idle worker (they BLPOP the wake list). Pushed when a service enters the
-- ready ring, and by a claim that leaves work in the ring, so wake-ups chain from worker to
-- worker without a token per build.
local function wake()
  redis.call('LPUSH', P .. 'wake', '1')
  redis.call('LTRIM', P .. 'wake', 0, 63)
end
local function mark_ready(svc)
  if redis.call('SADD', P .. 'ready_set', svc) == 1 then
    redis.call('RPUSH', P .. 'ready', svc)
    wake()
  end
end
-- Running builds of one service give up their leases and their service slots.
local function release_slots(svc, ids)
  redis.call('ZREM', P .. 'leases', unpack(ids))
  redis.call('SREM', P .. 'svc:' .. svc .. ':active', unpack(ids))
  if redis.call('LLEN', P .. 'svc:' .. svc .. ':waiting') > 0 then mark_ready(svc) end
end
local function requeue_front(id, svc)
  redis.call('LPUSH', P .. 'svc:' .. svc .. ':waiting', id)
  mark_ready(svc)
end
-- An ended build leaves its ref's "latest push wins" set.
local function end_live_of(id, svc, ref)
  if svc and ref then redis.call('SREM', P .. 'live:' .. svc .. ':' .. ref, id) end
end
local function end_live(id, b)
  local f = redis.call('HMGET', b, 'service', 'ref')
  end_live_of(id, f[1], f[2])
end
local function dead_letter(id, b, svc, err, attempts, now, ts, prefix)
  redis.call('HSET', b, 'status', 'failed', 'error', err, 'finished_at', now, 'attempts', attempts,
             'dead_letter', '1')
  redis.call('XADD', P .. 'dead', 'MAXLEN', '~', 100000, '*', 'build', id, 'service', svc,
             'error', err, 'attempts', attempts, 'ts', ts)
  end_live(id, b)
  count('dead_lettered')
  if prefix then emit_prefix(id, svc, prefix) else emit(id, 'build.failed', 'failed', err, ts) end
end
-- Cancels a build (reason 'cancelled' or 'superseded'): a waiting one ends now, a running one
-- is flagged for its worker's next heartbeat.
local function cancel_build(id, reason, now, ts, message)
  local b = P .. 'build:' .. id
  local f = redis.call('HMGET', b, 'status', 'service')
  if not f[1] then return 'not_found' end
  if f[1] == 'queued' or f[1] == 'retrying' then
    redis.call('LREM', P .. 'svc:' .. f[2] .. ':waiting', 1, id)
    redis.call('ZREM', P .. 'delayed', id)
    redis.call('HSET', b, 'status', reason, 'finished_at', now, 'error', message)
    end_live(id, b)
    count(reason)
    emit(id, 'build.' .. reason, reason, message, ts)
    return reason
  end
  if f[1] == 'running' then
    if not redis.call('HGET', b, 'cancel') then redis.call('HSET', b, 'cancel', reason) end
    return 'cancelling'
  end
  end_live(id, b)
  return 'ended:' .. f[1]
end
-- A lease ran out: its worker died, hung, or lost Redis for longer than the visibility timeout.
local function expire(id, now, ts, max_attempts)
  redis.call('ZREM', P .. 'leases', id)
  local b = P .. 'build:' .. id
  local f = redis.call('HMGET', b, 'service', 'status', 'attempts', 'cancel', 'worker')
  local svc = f[1]
  if not svc then return end
  release_slots(svc, {id})
  if f[2] ~= 'running' then return end
  local attempts = tonumber(f[3] or '0') + 1
  local who = 'worker ' .. (f[5] or '?')
  redis.call('HSET', b, 'attempts', attempts, 'worker', '')
  if f[4] then
    redis.call('HSET', b, 'status', f[4], 'finished_at', now)
    end_live(id, b)
    count(f[4])
    emit(id, 'build.' .. f[4], f[4], who .. ' stopped responding; the build ends ' .. f[4] ..
         ' as requested', ts)
  elseif attempts >= max_attempts then
    dead_letter(id, b, svc, who .. ' stopped responding (lease expired) during attempt ' ..
                attempts .. ' of ' .. max_attempts, attempts, now, ts, nil)
  else
    redis.call('HSET', b, 'status', 'queued')
    requeue_front(id, svc)
    count('reclaimed')
    emit(id, 'build.requeued', 'queued', who .. ' stopped responding (lease expired); attempt ' ..
         (attempts + 1) .. ' of ' .. max_attempts .. ' is queued', ts)
  end
end
-- Reclaims expired leases, promotes due retries, then leases up to max builds to worker, taking
-- services round-robin under their max_concurrent_builds.
-- fetch_next: called by finish for the same worker. It consumed no wake token, so it passes
-- none on, and it runs the lease/retry scan at most every 250 ms across all workers (a worker
-- that is never idle still reclaims dead workers' builds).
local function claim_builds(worker, now, lease_ms, max, ts, max_attempts, fetch_next)
  if not fetch_next or redis.call('SET', P .. 'scan', '1', 'NX', 'PX', 250) then
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now, 'LIMIT', 0, 100)) do
      expire(id, now, ts, max_attempts)
    end
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', now, 'LIMIT', 0, 100)) do
      redis.call('ZREM', P .. 'delayed', id)
      local b = P .. 'build:' .. id
      local f = redis.call('HMGET', b, 'service', 'status')
      if f[1] and f[2] == 'retrying' then
        redis.call('HSET', b, 'status', 'queued')
        requeue_front(id, f[1])
      end
    end
  end
  local out = {}
  local leases = {}
  local started_us = nil  -- Redis' clock, read once per claim
  -- Bounded work per claim: services found at their limit leave the ring as they are visited.
  local budget = 2 * max + 16
  while #out < max and budget > 0 do
    budget = budget - 1
    local svc = redis.call('LPOP', P .. 'ready')
    if not svc then break end
    local waiting = P .. 'svc:' .. svc .. ':waiting'
    local active = P .. 'svc:' .. svc .. ':active'
    local limit = tonumber(redis.call('HGET', P .. 'svc:' .. svc, 'max') or '1')
    local room = limit - redis.call('SCARD', active)
    -- One build per visit keeps the ring fair; a service alone in the ring may fill the batch.
    local take = 1
    if max - #out > 1 and redis.call('LLEN', P .. 'ready') == 0 then
      take = math.min(room, max - #out)
    end
    local ids = false
    if room > 0 and take > 0 then ids = redis.call('LPOP', waiting, take) end
    if ids then
      -- The waiting lists hold queued builds only: every path that pushes sets status queued
      -- first, and cancel removes what it ends.
      for _, id in ipairs(ids) do
        -- Two calls per build: the record is read whole (the worker gets it) and updated once;
        -- the lease counter and the event number are worked out here rather than by HINCRBY.
        local b = P .. 'build:' .. id
        local rec = redis.call('HGETALL', b)
        local at = {}  -- field -> position of its value in rec
        for i = 1, #rec, 2 do at[rec[i]] = i + 1 end
        local lease = tostring(tonumber(rec[at.lease] or '0') + 1)
        local set = {'status', 'running', 'worker', worker, 'claimed_at', tostring(now),
                     'lease', lease}
        -- The job's first stage starts with the claim (one round trip less per job) when the
        -- enqueuer named it: stage.started is stored and published here.
        local first, seq = rec[at.first_stage], nil
        if first then
          if not started_us then
            local tm = redis.call('TIME')
            started_us = tm[1] .. string.format('%06d', tonumber(tm[2]))
          end
          seq = tonumber(rec[at.seq] or '0') + 1
          for _, v in ipairs({'stage', first, 'started_at', tostring(now), 'started_us', started_us,
                              'stage.' .. first .. '.started_at', tostring(now),
                              'seq', tostring(seq)}) do
            set[#set + 1] = v
          end
        end
        redis.call('HSET', b, unpack(set))
        if first then
          store_event(b, seq, event_json(id, 'stage.started', 'running',
                                         rec[at.first_message] or '', ts, first, svc, rec[at.ref],
                                         rec[at.sha], seq),
                      svc)
        end
        -- The worker gets the record as it is now: HGETALL's fields with the new values.
        for i = 1, #set, 2 do
          if at[set[i]] then rec[at[set[i]]] = set[i + 1]
          else rec[#rec + 1] = set[i]; rec[#rec + 1] = set[i + 1] end
        end
        out[#out + 1] = {id, lease, rec, first and 1 or 0}
        leases[#leases + 1] = now + lease_ms
        leases[#leases + 1] = id
      end
      redis.call('SADD', active, unpack(ids))
      room = room - #ids
    end
    -- Round robin: a service that can take another build goes to the back of the ring; one at
    -- its limit leaves the ring until one of its builds ends (release_slots puts it back).
    if room > 0 and redis.call('LLEN', waiting) > 0 then
      redis.call('RPUSH', P .. 'ready', svc)
    else
      redis.call('SREM', P .. 'ready_set', svc)
    end
  end
  if #leases > 0 then redis.call('ZADD', P .. 'leases', unpack(leases)) end
  -- Claimable work left: pass the wake-up on to another idle worker.
  if not fetch_next and #out == max and redis.call('LLEN', P .. 'ready') > 0 then wake() end
  return out
end
