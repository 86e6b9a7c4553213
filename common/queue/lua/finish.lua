-- KEYS: the builds' records, one per build in ARGV
-- ARGV: now ms, ts, next max, worker, lease ms, max attempts, retention: builds kept per
--       service, max age ms ('': no retention), builds removed at most per service; then per
--       build: build id, lease, outcome, stage event prefix or '', final event prefix, error,
--       retry due ms, the number n of field/value values that follow, and those n values.
-- Returns {{1 or 0 per build (0: the lease was lost, nothing was written for it)}, up to
-- `next max` newly claimed builds}: a worker ends every build that finished while its previous
-- finish was in flight, and takes their successors, in one round trip.
local now, ts = ARGV[1], ARGV[2]
local held = {}
-- What the builds give up, done once per service and outcome: leases and slots, counts.
local slots, svc_order, counts, outcome_order = {}, {}, {}, {}
local i = 10
for k = 1, #KEYS do
  local b = KEYS[k]
  local id, lease, outcome = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local stage_prefix, final_prefix, err, retry_at = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local from, to = i + 8, i + 7 + tonumber(ARGV[i + 7])
  i = to + 1
  local f = redis.call('HMGET', b, 'lease', 'status', 'service', 'attempts', 'ref', 'cancel', 'seq',
                         'queued_at')
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
      if outcome == 'succeeded' then note_success(svc, id, f[8]) end
      if not counts[outcome] then counts[outcome] = 0; outcome_order[#outcome_order + 1] = outcome end
      counts[outcome] = counts[outcome] + 1
    end
  end
end
for _, svc in ipairs(svc_order) do release_slots(svc, slots[svc]) end
for _, outcome in ipairs(outcome_order) do
  redis.call('HINCRBY', P .. 'stats:outcomes', outcome, counts[outcome])
end
if ARGV[8] ~= '' then
  for _, svc in ipairs(svc_order) do
    prune_service(svc, tonumber(ARGV[7]), tonumber(now) - tonumber(ARGV[8]), tonumber(ARGV[9]))
  end
end
local n = tonumber(ARGV[3])
local next_builds = {}
if n > 0 then
  next_builds = claim_builds(ARGV[4], tonumber(now), tonumber(ARGV[5]), n, ts, tonumber(ARGV[6]),
                             true)
end
return {held, next_builds}
