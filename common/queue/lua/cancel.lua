-- KEYS: build
-- ARGV: build id, now ms, ts, message
return cancel_build(ARGV[1], 'cancelled', ARGV[2], ARGV[3], ARGV[4])
