-- KEYS: delivery, build, service builds, build numbers, replay
-- ARGV: build id, ttl s, service, now ms, queued event prefix, ref, cancel_superseded (1/0),
--       replay window s (0: no replay guard), ts, field/value pairs...
-- The service's max_concurrent_builds is not written here: workers publish their services'
-- settings (set_service_limits) at start and every 30 s.
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
