-- KEYS: build numbers (a field per service that ever had a build), retention state
-- ARGV: keep, max age ms, now ms, mode ('service' or 'sweep'), service (mode service) or
--       services per sweep step, builds removed at most
-- mode service: prunes one service. mode sweep: the next services of a walk over every service
-- (HSCAN of the build numbers hash, its cursor in the retention hash, shared by all workers).
-- Returns {builds removed, services visited, the sweep's cursor (0: a walk ended)}.
local keep, cutoff, limit = tonumber(ARGV[1]), tonumber(ARGV[3]) - tonumber(ARGV[2]),
                            tonumber(ARGV[6])
if ARGV[4] == 'service' then return {prune_service(ARGV[5], keep, cutoff, limit), 1, '0'} end
local cursor = redis.call('HGET', KEYS[2], 'cursor') or '0'
local page = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', ARGV[5])
local removed, visited = 0, 0
for i = 1, #page[2], 2 do
  visited = visited + 1
  removed = removed + prune_service(page[2][i], keep, cutoff, limit - removed)
end
redis.call('HSET', KEYS[2], 'cursor', page[1])
return {removed, visited, page[1]}
