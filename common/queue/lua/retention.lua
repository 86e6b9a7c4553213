-- Retention (docs/redis.md#retention), shared by finish.lua and prune.lua (which follow it).
-- A build may go only when it is both beyond its service's newest `keep` builds and was queued
-- before `cutoff` (ms): whichever rule keeps more wins. Never removed: the service's last
-- successful build, a build in its protected set (deployment revisions), a build that has not
-- ended. Removing a build deletes its record, its event stream (the log lines are events), its
-- scan report and its entry in the service's history.
local ended_status = {succeeded = true, failed = true, cancelled = true, superseded = true}
-- The newest successful build of each service (by queue time) is kept whatever its age.
local function note_success(svc, id, queued_at)
  local s = P .. 'svc:' .. svc
  local at = tonumber(queued_at or '0') or 0
  if at >= (tonumber(redis.call('HGET', s, 'last_success_at') or '-1') or -1) then
    redis.call('HSET', s, 'last_success', id, 'last_success_at', at)
  end
end
-- Removes at most `limit` builds of svc, the oldest first, and reads at most limit + 64 history
-- entries (kept builds among the oldest are passed over, up to 64 of them). Returns how many
-- went.
local function prune_service(svc, keep, cutoff, limit)
  local history = P .. 'service:' .. svc .. ':builds'
  local beyond = redis.call('ZCARD', history) - keep
  if beyond <= 0 or limit <= 0 then return 0 end
  local last_success = redis.call('HGET', P .. 'svc:' .. svc, 'last_success')
  local protected = P .. 'service:' .. svc .. ':protected'
  local removed = 0
  local oldest = redis.call('ZRANGEBYSCORE', history, '-inf', string.format('(%d', cutoff),
                            'LIMIT', 0, math.min(beyond, limit + 64))
  for _, id in ipairs(oldest) do
    if removed >= limit then break end
    local b = P .. 'build:' .. id
    local status = redis.call('HGET', b, 'status')
    -- A history written before last_success was recorded: its successful builds stay until
    -- the service's next success names one.
    local kept = (status and not ended_status[status]) or id == last_success
    kept = kept or (not last_success and status == 'succeeded')
    kept = kept or redis.call('SISMEMBER', protected, id) == 1
    if not kept then
      redis.call('DEL', b, b .. ':events', b .. ':scan')
      redis.call('ZREM', history, id)
      removed = removed + 1
    end
  end
  if removed > 0 then redis.call('HINCRBY', P .. 'retention', 'pruned', removed) end
  return removed
end
