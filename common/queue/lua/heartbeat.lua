-- KEYS: leases
-- ARGV: now ms, lease ms, then build id / lease pairs
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
