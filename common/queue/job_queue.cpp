#include "common/queue/job_queue.hpp"

#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/redis/redis_keys.hpp"

namespace asio = boost::asio;

namespace kiwi {
namespace {

// Shared by every script. Keys are built from P (keys::prefix, hash tag {q}): every key lives
// in one Redis Cluster slot. The scheduler's per-service keys are named at run time (the claim
// script learns the services from the ring), which Redis allows for keys of the script's slot.
std::string prelude() {
  return "local P = '" + std::string(keys::prefix) + "'\n" + R"lua(
-- A JSON string. Most values need no escaping and are quoted as they are (cheaper than cjson,
-- which would also write "/" as "\/", unlike common/build_event.cpp).
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
-- An event decided here (same fields and order as common/build_event.cpp).
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
)lua";
}

lua_script make_script(const char* body) { return lua_script(prelude() + body); }

// KEYS: delivery, build, service builds, build numbers, replay
// ARGV: build id, ttl s, service, now ms, queued event prefix, ref, cancel_superseded (1/0),
//       replay window s (0: no replay guard), ts, field/value pairs...
// The service's max_concurrent_builds is not written here: workers publish their services'
// settings (set_service_limits) at start and every 30 s.
const lua_script enqueue_script = make_script(R"lua(
-- SET NX GET: stores the delivery id unless it was seen, and returns the build it created then.
local id, svc, now, ref, ts = ARGV[1], ARGV[3], ARGV[4], ARGV[6], ARGV[9]
local existing = redis.call('SET', KEYS[1], id, 'NX', 'GET', 'EX', ARGV[2])
if existing then return {0, existing, 0, 0} end
-- The same push (service, commit, body digest) under a new or missing delivery id is a replay:
-- answered with the original build, and this delivery id now names it too.
if ARGV[8] ~= '0' then
  local original = redis.call('SET', KEYS[5], id, 'NX', 'GET', 'EX', ARGV[8])
  if original then
    redis.call('SET', KEYS[1], original, 'EX', ARGV[2])
    return {0, original, 0, 0}
  end
end
local number = redis.call('HINCRBY', KEYS[4], svc, 1)
redis.call('HSET', KEYS[2], 'id', id, 'number', number, 'status', 'queued', 'queued_at', now,
           'seq', 1, 'attempts', 0, 'lease', 0, unpack(ARGV, 10))
redis.call('ZADD', KEYS[3], now, id)
local superseded = 0
if ARGV[7] == '1' then
  local live = P .. 'live:' .. svc .. ':' .. ref
  for _, old in ipairs(redis.call('SMEMBERS', live)) do
    local r = cancel_build(old, 'superseded', now, ts,
                           'superseded by build ' .. id .. ', a newer push to ' .. ref)
    if r == 'superseded' or r == 'cancelling' then superseded = superseded + 1 end
  end
  redis.call('SADD', live, id)
end
store_event(KEYS[2], 1, ARGV[5] .. ',"seq":1}', svc)
redis.call('RPUSH', P .. 'svc:' .. svc .. ':waiting', id)
mark_ready(svc)
return {1, id, number, superseded}
)lua");

// KEYS: ready ring
// ARGV: worker, now ms, lease ms, max builds, ts, max attempts; now and ts '': Redis' clock
const lua_script claim_script = make_script(R"lua(
local now, ts = tonumber(ARGV[2]), ARGV[5]
if ARGV[2] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  ts = iso_time(now)
end
return claim_builds(ARGV[1], now, tonumber(ARGV[3]), tonumber(ARGV[4]), ts, tonumber(ARGV[6]),
                    false)
)lua");

// KEYS: leases
// ARGV: now ms, lease ms, then build id / lease pairs
const lua_script heartbeat_script = make_script(R"lua(
local now, lease_ms = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV - 1, 2 do
  local id, lease = ARGV[i], ARGV[i + 1]
  local f = redis.call('HMGET', P .. 'build:' .. id, 'lease', 'status', 'cancel')
  if f[1] ~= lease or f[2] ~= 'running' then
    out[#out + 1] = {id, 'lost', ''}
  else
    redis.call('ZADD', KEYS[1], 'XX', now + lease_ms, id)
    if f[3] then out[#out + 1] = {id, 'cancel', f[3]} end
  end
end
return out
)lua");

// KEYS: build
// ARGV: build id, service, lease ('' = unfenced), event prefix, field/value pairs...
const lua_script record_script = make_script(R"lua(
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'lease') ~= ARGV[3] then return -1 end
if #ARGV >= 6 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
return emit_prefix(ARGV[1], ARGV[2], ARGV[4])
)lua");

// KEYS: the builds' records, one per build in ARGV
// ARGV: now ms, ts, next max, worker, lease ms, max attempts, then per build: build id, lease,
//       outcome, stage event prefix or '', final event prefix, error, retry due ms, the number n
//       of field/value values that follow, and those n values.
// Returns {{1 or 0 per build (0: the lease was lost, nothing was written for it)}, up to
// `next max` newly claimed builds}: a worker ends every build that finished while its previous
// finish was in flight, and takes their successors, in one round trip.
const lua_script finish_script = make_script(R"lua(
local now, ts = ARGV[1], ARGV[2]
local held = {}
-- What the builds give up, done once per service and outcome: leases and slots, counts.
local slots, svc_order, counts, outcome_order = {}, {}, {}, {}
local i = 7
for k = 1, #KEYS do
  local b = KEYS[k]
  local id, lease, outcome = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local stage_prefix, final_prefix, err, retry_at = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local from, to = i + 8, i + 7 + tonumber(ARGV[i + 7])
  i = to + 1
  local f = redis.call('HMGET', b, 'lease', 'status', 'service', 'attempts', 'ref', 'cancel', 'seq')
  if f[1] ~= lease or f[2] ~= 'running' then
    held[k] = 0
  else
    held[k] = 1
    local svc = f[3]
    local attempts = tonumber(f[4] or '0') + 1
    if f[6] then redis.call('HDEL', b, 'cancel') end
    if not slots[svc] then slots[svc] = {}; svc_order[#svc_order + 1] = svc end
    slots[svc][#slots[svc] + 1] = id
    if outcome == 'retry' then
      redis.call('HSET', b, 'worker', '', 'status', 'retrying', 'attempts', attempts, 'error', err,
                 'retry_at', retry_at, unpack(ARGV, from, to))
      redis.call('ZADD', P .. 'delayed', retry_at, id)
      count('retried')
      emit_prefix(id, svc, stage_prefix, final_prefix)
    elseif outcome == 'dead_letter' then
      redis.call('HSET', b, 'worker', '', unpack(ARGV, from, to))
      emit_prefix(id, svc, stage_prefix)
      dead_letter(id, b, svc, err, attempts, now, ts, final_prefix)
    elseif f[6] and outcome == 'succeeded' then
      -- Cancelled or superseded while its last stage ran, before the worker's next heartbeat
      -- told it: the request wins, so that a newer push is the only build of its ref that
      -- succeeds.
      redis.call('HSET', b, 'worker', '', 'status', f[6], 'finished_at', now,
                 'error', 'build ' .. f[6] .. ' while it ran', unpack(ARGV, from, to))
      end_live_of(id, svc, f[5])
      count(f[6])
      emit_prefix(id, svc, stage_prefix)
      emit(id, 'build.' .. f[6], f[6], 'build ' .. f[6] .. ' (requested while its last stage ran)',
           ts)
    else
      -- The common path: one HMGET, one HSET (the event numbers included), the events.
      local seq = store_prefixed(b, svc, tonumber(f[7] or '0'), stage_prefix, final_prefix)
      redis.call('HSET', b, 'worker', '', 'status', outcome, 'finished_at', now, 'error', err,
                 'seq', seq, unpack(ARGV, from, to))
      end_live_of(id, svc, f[5])
      if not counts[outcome] then counts[outcome] = 0; outcome_order[#outcome_order + 1] = outcome end
      counts[outcome] = counts[outcome] + 1
    end
  end
end
for _, svc in ipairs(svc_order) do release_slots(svc, slots[svc]) end
for _, outcome in ipairs(outcome_order) do
  redis.call('HINCRBY', P .. 'stats:outcomes', outcome, counts[outcome])
end
local n = tonumber(ARGV[3])
local next_builds = {}
if n > 0 then
  next_builds = claim_builds(ARGV[4], tonumber(now), tonumber(ARGV[5]), n, ts, tonumber(ARGV[6]),
                             true)
end
return {held, next_builds}
)lua");

// KEYS: build
// ARGV: build id, lease, ts, message
const lua_script release_script = make_script(R"lua(
local id, lease, ts = ARGV[1], ARGV[2], ARGV[3]
local f = redis.call('HMGET', KEYS[1], 'lease', 'status', 'service')
if f[1] ~= lease or f[2] ~= 'running' then return 0 end
release_slots(f[3], {id})
redis.call('HSET', KEYS[1], 'status', 'queued', 'worker', '')
requeue_front(id, f[3])
wake()  -- even when the service was in the ring already: an idle worker starts it now
count('handed_back')
emit(id, 'build.requeued', 'queued', ARGV[4], ts)
return 1
)lua");

// KEYS: build
// ARGV: build id, now ms, ts, message
const lua_script cancel_script = make_script(R"lua(
return cancel_build(ARGV[1], 'cancelled', ARGV[2], ARGV[3], ARGV[4])
)lua");

// KEYS: dead-letter stream
// ARGV: entry id, now ms, ts, message
// Returns the build id, or '' when there is no such entry or its build no longer is dead.
const lua_script requeue_dead_script = make_script(R"lua(
local entry = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #entry == 0 then return '' end
local kv, id = entry[1][2], nil
for i = 1, #kv - 1, 2 do if kv[i] == 'build' then id = kv[i + 1] end end
redis.call('XDEL', KEYS[1], ARGV[1])
if not id then return '' end
local b = P .. 'build:' .. id
local f = redis.call('HMGET', b, 'service', 'status', 'dead_letter')
if not f[1] or f[2] ~= 'failed' or f[3] ~= '1' then return '' end
redis.call('HSET', b, 'status', 'queued', 'attempts', 0, 'dead_letter', '0', 'error', '',
           'worker', '')
redis.call('RPUSH', P .. 'svc:' .. f[1] .. ':waiting', id)
mark_ready(f[1])
count('requeued')
emit(id, 'build.requeued', 'queued', ARGV[4], ARGV[3])
return id
)lua");

std::string now_millis_text() {
  return std::to_string(unix_millis(std::chrono::system_clock::now()));
}

void append_fields(std::vector<std::string>& args, const field_list& fields) {
  args.reserve(args.size() + 2 * fields.size());
  for (const auto& [f, v] : fields) {
    args.push_back(f);
    args.push_back(v);
  }
}

}  // namespace

std::string queue_script_prelude() { return prelude(); }

std::string_view to_string(job_outcome o) {
  switch (o) {
    case job_outcome::succeeded: return "succeeded";
    case job_outcome::failed: return "failed";
    case job_outcome::cancelled: return "cancelled";
    case job_outcome::superseded: return "superseded";
    case job_outcome::retry: return "retry";
    case job_outcome::dead_letter: return "dead_letter";
  }
  return "failed";
}

const std::string* claimed_job::field(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (k == name) {
      return &v;
    }
  }
  return nullptr;
}

std::string claimed_job::field_or(std::string_view name, std::string fallback) const {
  const std::string* v = field(name);
  return v != nullptr ? *v : std::move(fallback);
}

asio::awaitable<std::pair<boost::system::error_code, enqueue_outcome>> job_queue::enqueue(
    const enqueue_request& request) {
  const bool replay_guard = !request.replay_digest.empty() && request.replay_window.count() > 0;
  std::vector<std::string> k{keys::delivery(request.provider, request.delivery_id),
                             keys::build(request.build_id), keys::service_builds(request.service),
                             keys::build_numbers(),
                             keys::replay(request.service, request.replay_digest)};
  std::vector<std::string> a{request.build_id,
                             std::to_string(delivery_ttl.count()),
                             request.service,
                             std::to_string(unix_millis(request.queued_event.ts)),
                             event_json_prefix(request.queued_event),
                             request.queued_event.ref,
                             request.cancel_superseded ? "1" : "0",
                             replay_guard ? std::to_string(request.replay_window.count()) : "0",
                             format_timestamp(request.queued_event.ts)};
  append_fields(a, request.fields);
  auto r = co_await redis_.eval(enqueue_script, k, a, timeout_);
  enqueue_outcome out;
  if (!r) {
    co_return std::pair{r.ec, out};
  }
  const auto& e = r.value.elements;
  if (r.value.type != redis_value::kind::array || e.size() < 4) {
    co_return std::pair{make_error_code(redis_errc::server_error), out};
  }
  out.created = e[0].integer == 1;
  out.build_id = e[1].as_string().value_or("");
  out.number = e[2].integer;
  out.superseded = e[3].integer;
  co_return std::pair{boost::system::error_code{}, out};
}

std::vector<claimed_job> decode_claims(const redis_value& reply) {
  std::vector<claimed_job> jobs;
  for (const auto& entry : reply.elements) {
    if (entry.elements.size() < 3) {
      continue;
    }
    claimed_job job;
    job.build_id = entry.elements[0].str;
    job.lease = entry.elements[1].as_string().value_or("");
    const auto& kv = entry.elements[2].elements;
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
      job.fields.emplace_back(kv[i].str, kv[i + 1].str);
    }
    job.stage_started = entry.elements.size() > 3 && entry.elements[3].integer == 1;
    if (const std::string* a = job.field("attempts")) {
      job.attempts = static_cast<unsigned>(std::strtoul(a->c_str(), nullptr, 10));
    }
    jobs.push_back(std::move(job));
  }
  return jobs;
}

namespace {

// A claim's arguments; without `now`, the claim script reads Redis' clock (for a claim that
// runs later than it is sent).
std::vector<std::string> claim_args(const std::string& worker, unsigned max,
                                    std::chrono::milliseconds lease_for, unsigned max_attempts,
                                    std::optional<std::chrono::system_clock::time_point> now) {
  return {worker,
          now ? std::to_string(unix_millis(*now)) : "",
          std::to_string(lease_for.count()),
          std::to_string(max),
          now ? format_timestamp(*now) : "",
          std::to_string(max_attempts)};
}

}  // namespace

asio::awaitable<std::pair<boost::system::error_code, std::vector<claimed_job>>> job_queue::claim(
    const std::string& worker, unsigned max, std::chrono::milliseconds lease_for,
    unsigned max_attempts) {
  std::vector<std::string> k{keys::ready()};
  std::vector<std::string> a =
      claim_args(worker, max, lease_for, max_attempts, std::chrono::system_clock::now());
  auto r = co_await redis_.eval(claim_script, k, a, timeout_);
  if (!r) {
    co_return std::pair{r.ec, std::vector<claimed_job>{}};
  }
  co_return std::pair{boost::system::error_code{}, decode_claims(r.value)};
}

asio::awaitable<std::pair<boost::system::error_code, std::vector<claimed_job>>>
job_queue::wait_and_claim(const std::string& worker, unsigned max,
                          std::chrono::milliseconds lease_for, unsigned max_attempts,
                          std::chrono::milliseconds at_most) {
  // BLPOP's timeout is in seconds (fractions allowed since Redis 6). The claim runs up to
  // at_most after it is sent: it reads Redis' clock rather than carrying this one's.
  const std::string seconds = std::to_string(static_cast<double>(at_most.count()) / 1000.0);
  std::vector<std::string> k{keys::ready()};
  std::vector<std::string> a = claim_args(worker, max, lease_for, max_attempts, std::nullopt);
  auto [woken, claimed] = co_await redis_.command_then_eval(
      redis_args("BLPOP", keys::wake(), seconds), at_most + timeout_, claim_script, k, a,
      timeout_);
  if (!claimed) {
    co_return std::pair{claimed.ec, std::vector<claimed_job>{}};
  }
  co_return std::pair{boost::system::error_code{}, decode_claims(claimed.value)};
}

asio::awaitable<std::pair<boost::system::error_code, std::vector<lease_notice>>>
job_queue::heartbeat(const std::vector<held_lease>& held, std::chrono::milliseconds lease_for) {
  std::vector<lease_notice> notices;
  if (held.empty()) {
    co_return std::pair{boost::system::error_code{}, notices};
  }
  std::vector<std::string> k{keys::leases()};
  std::vector<std::string> a{now_millis_text(), std::to_string(lease_for.count())};
  for (const auto& h : held) {
    a.push_back(h.build_id);
    a.push_back(h.lease);
  }
  auto r = co_await redis_.eval(heartbeat_script, k, a, timeout_);
  if (!r) {
    co_return std::pair{r.ec, notices};
  }
  for (const auto& e : r.value.elements) {
    if (e.elements.size() == 3) {
      notices.push_back(
          lease_notice{e.elements[0].str, e.elements[1].str == "lost", e.elements[2].str});
    }
  }
  co_return std::pair{boost::system::error_code{}, notices};
}

asio::awaitable<std::pair<boost::system::error_code, bool>> job_queue::record(
    const build_event& event, const field_list& build_fields, const std::string& lease) {
  std::vector<std::string> k{keys::build(event.build_id)};
  std::vector<std::string> a{event.build_id, event.service, lease, event_json_prefix(event)};
  append_fields(a, build_fields);
  auto r = co_await redis_.eval(record_script, k, a, timeout_);
  co_return std::pair{r.ec, !r.ec && r.value.integer >= 0};
}

void job_queue::record_detached(const build_event& event) {
  // EVALSHA: the job's earlier attached record() loaded the script. Should Redis have restarted
  // since, this line is refused (NOSCRIPT) and lost like any detached write to a down Redis.
  redis_.send_detached({"EVALSHA", record_script.sha1, "1", keys::build(event.build_id),
                        event.build_id, event.service, "", event_json_prefix(event)});
}

// A finish waiting for its round trip. It lives in the frame of the finish() call that waits
// for it; the flusher fills in the answer and wakes it.
struct pending_finish {
  const claimed_job* job;
  const job_result* result;
  const next_claim* next;
  asio::steady_timer* wake;
  bool done = false;
  boost::system::error_code ec;
  finish_outcome out;
};

struct job_queue::finish_batcher {
  // Up to eight scripts in flight: Redis always has the next batch queued while the worker
  // reads an answer and starts the builds it claimed (with two, batches alternated between 48
  // builds and one in bench/queue_throughput, and Redis waited while the worker started 48).
  static constexpr int max_flushing = 8;
  std::vector<pending_finish*> pending;
  int flushing = 0;
};

job_queue::job_queue(redis_client& redis, std::chrono::milliseconds timeout)
    : redis_(redis), timeout_(timeout), finishes_(std::make_shared<finish_batcher>()) {}

asio::awaitable<std::pair<boost::system::error_code, finish_outcome>> job_queue::finish(
    const claimed_job& job, const job_result& result, const next_claim& next) {
  asio::steady_timer wake(co_await asio::this_coro::executor,
                          std::chrono::steady_clock::time_point::max());
  pending_finish me{&job, &result, &next, &wake, false, {}, {}};
  finishes_->pending.push_back(&me);
  if (finishes_->flushing < finish_batcher::max_flushing) {
    ++finishes_->flushing;
    asio::co_spawn(wake.get_executor(), flush_finishes(finishes_), asio::detached);
  }
  while (!me.done) {
    co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return std::pair{me.ec, std::move(me.out)};
}

// Sends what is pending, a batch per round trip, until nothing is. Builds whose next_claim
// differs from the first one's (another worker name or lease) wait for a later batch.
asio::awaitable<void> job_queue::flush_finishes(std::shared_ptr<finish_batcher> batcher) {
  while (!batcher->pending.empty()) {
    std::vector<pending_finish*> batch;
    std::vector<pending_finish*> later;
    const next_claim& first = *batcher->pending.front()->next;
    for (pending_finish* p : batcher->pending) {
      const bool same = p->next->worker == first.worker && p->next->lease_for == first.lease_for &&
                        p->next->max_attempts == first.max_attempts;
      (same && batch.size() < max_finish_batch ? batch : later).push_back(p);
    }
    batcher->pending = std::move(later);

    auto now = std::chrono::system_clock::now();
    unsigned want = 0;
    std::vector<std::string> k;
    std::vector<std::string> a{std::to_string(unix_millis(now)), format_timestamp(now), "",
                               first.worker, std::to_string(first.lease_for.count()),
                               std::to_string(first.max_attempts)};
    for (pending_finish* p : batch) {
      const job_result& r = *p->result;
      want += p->next->max;
      k.push_back(keys::build(p->job->build_id));
      a.push_back(p->job->build_id);
      a.push_back(p->job->lease);
      a.emplace_back(to_string(r.outcome));
      a.push_back(r.stage_event ? event_json_prefix(*r.stage_event) : "");
      a.push_back(event_json_prefix(r.final_event));
      a.push_back(r.error);
      a.push_back(std::to_string(unix_millis(r.retry_at)));
      a.push_back(std::to_string(2 * r.fields.size()));
      append_fields(a, r.fields);
    }
    a[2] = std::to_string(want);
    redis_result r;
    try {
      r = co_await redis_.eval(finish_script, k, a, timeout_);
    } catch (const std::exception&) {  // out of memory: no waiter may be left hanging
      r.ec = make_error_code(redis_errc::server_error);
    }
    boost::system::error_code ec = r.ec;
    const auto& e = r.value.elements;
    if (!ec && (r.value.type != redis_value::kind::array || e.size() != 2 ||
                e[0].elements.size() != batch.size())) {
      ec = make_error_code(redis_errc::server_error);
    }
    std::vector<claimed_job> claimed;
    if (!ec) {
      claimed = decode_claims(e[1]);
    }
    // The claims go to the builds that asked for a successor, in order.
    std::size_t next_claimed = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      pending_finish& p = *batch[i];
      p.ec = ec;
      if (!ec) {
        p.out.held = e[0].elements[i].integer == 1;
        for (unsigned n = 0; n < p.next->max && next_claimed < claimed.size(); ++n) {
          p.out.next.push_back(std::move(claimed[next_claimed++]));
        }
      }
      p.done = true;
      p.wake->cancel();
    }
  }
  --batcher->flushing;
}

asio::awaitable<std::pair<boost::system::error_code, bool>> job_queue::release(
    const claimed_job& job, const std::string& message) {
  std::vector<std::string> k{keys::build(job.build_id)};
  std::vector<std::string> a{job.build_id, job.lease,
                             format_timestamp(std::chrono::system_clock::now()), message};
  auto r = co_await redis_.eval(release_script, k, a, timeout_);
  co_return std::pair{r.ec, !r.ec && r.value.integer == 1};
}

asio::awaitable<std::pair<boost::system::error_code, std::string>> job_queue::cancel(
    const std::string& build_id, const std::string& message) {
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> k{keys::build(build_id)};
  std::vector<std::string> a{build_id, std::to_string(unix_millis(now)), format_timestamp(now),
                             message};
  auto r = co_await redis_.eval(cancel_script, k, a, timeout_);
  co_return std::pair{r.ec, r.value.as_string().value_or("")};
}

asio::awaitable<std::pair<boost::system::error_code, std::string>> job_queue::requeue_dead(
    const std::string& entry_id, const std::string& message) {
  auto now = std::chrono::system_clock::now();
  std::vector<std::string> k{keys::dead_letters()};
  std::vector<std::string> a{entry_id, std::to_string(unix_millis(now)), format_timestamp(now),
                             message};
  auto r = co_await redis_.eval(requeue_dead_script, k, a, timeout_);
  co_return std::pair{r.ec, r.value.as_string().value_or("")};
}

asio::awaitable<boost::system::error_code> job_queue::set_service_limits(
    const std::vector<std::pair<std::string, unsigned>>& limits) {
  for (const auto& [service, max] : limits) {
    auto r = co_await redis_.command(
        redis_args("HSET", keys::service_settings(service), "max", std::to_string(max)), timeout_);
    if (!r) {
      co_return r.ec;
    }
  }
  co_return boost::system::error_code{};
}

asio::awaitable<std::pair<boost::system::error_code, field_list>> job_queue::build_record(
    const std::string& build_id) {
  auto r = co_await redis_.command(redis_args("HGETALL", keys::build(build_id)), timeout_);
  field_list fields;
  if (!r) {
    co_return std::pair{r.ec, fields};
  }
  for (std::size_t i = 0; i + 1 < r.value.elements.size(); i += 2) {
    fields.emplace_back(r.value.elements[i].str, r.value.elements[i + 1].str);
  }
  co_return std::pair{boost::system::error_code{}, fields};
}

}  // namespace kiwi
