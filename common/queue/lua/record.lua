-- KEYS: build
-- ARGV: build id, service, lease ('' = unfenced), event prefix, field/value pairs...
if ARGV[3] ~= '' and redis.call('HGET', KEYS[1], 'lease') ~= ARGV[3] then return -1 end
if #ARGV >= 6 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
return emit_prefix(ARGV[1], ARGV[2], ARGV[4])
