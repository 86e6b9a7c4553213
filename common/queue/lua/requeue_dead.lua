-- KEYS: dead-letter stream
-- ARGV: entry id, now ms, ts, message
-- Returns the build id, or '' when there is no such entry or its build no longer is dead.
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
