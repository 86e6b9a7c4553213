-- KEYS: ready ring
-- ARGV: worker, now ms, lease ms, max builds, ts, max attempts; now and ts '': Redis' clock
local now, ts = tonumber(ARGV[2]), ARGV[5]
if ARGV[2] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  ts = iso_time(now)
end
return claim_builds(ARGV[1], now, tonumber(ARGV[3]), tonumber(ARGV[4]), ts, tonumber(ARGV[6]),
                    false)
