-- KEYS: build
-- ARGV: build id, lease, ts, message
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
