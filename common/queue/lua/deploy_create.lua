-- A new deployment revision (common/queue/deployment_store.cpp). KEYS: revision counters
-- (hash), the environment's revisions (zset: id -> revision), the service's protected builds
-- (set), their reference counts (hash). ARGV: id, counter field "<service>/<env>", how many
-- revisions to keep, build id (may be empty), then the revision's field/value pairs.
-- Returns the revision number.
local id, counter, keep, build = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local rev = redis.call('HINCRBY', KEYS[1], counter, 1)
redis.call('HSET', P .. 'deployment:' .. id, 'revision', rev, unpack(ARGV, 5))
redis.call('ZADD', KEYS[2], rev, id)
if build ~= '' then
  redis.call('SADD', KEYS[3], build)
  redis.call('HINCRBY', KEYS[4], build, 1)
end
-- Past `keep`, the oldest revisions go, and their builds lose their protection once no kept
-- revision references them.
local excess = redis.call('ZCARD', KEYS[2]) - keep
if excess > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
    local h = P .. 'deployment:' .. old
    local b = redis.call('HGET', h, 'build_id')
    redis.call('DEL', h)
    redis.call('ZREM', KEYS[2], old)
    if b and b ~= '' and redis.call('HINCRBY', KEYS[4], b, -1) <= 0 then
      redis.call('HDEL', KEYS[4], b)
      redis.call('SREM', KEYS[3], b)
    end
  end
end
return rev
