-- The deploy lock of one (service, environment) (common/queue/deployment_store.cpp). KEYS: the
-- lock. ARGV: op (acquire, renew, release), the deployment id, the lease in ms.
-- acquire: taken when free or already held by the same id; renew: extended only while held;
-- release: freed only by its holder. Returns 1 on success, 0 otherwise.
local op, id, lease = ARGV[1], ARGV[2], ARGV[3]
local holder = redis.call('GET', KEYS[1])
if op == 'release' then
  if holder == id then redis.call('DEL', KEYS[1]) return 1 end
  return 0
end
if holder == id or (op == 'acquire' and not holder) then
  redis.call('SET', KEYS[1], id, 'PX', lease)
  return 1
end
return 0
