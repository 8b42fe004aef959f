--[[ dead_letter: park a message whose last attempt failed, keeping its last error.
KEYS[1] messages hash   KEYS[2] in-flight set   KEYS[3] dead-letter set
ARGV[1] id   ARGV[2] created token (base 36)   ARGV[3] attempt number of the claim   ARGV[4] error text
Returns 1 when parked, 0 when the claim was stale or the message gone. ]]
-- @include record
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return 0
end
local f = record_read(raw)
if f[CREATED] ~= ARGV[2] or f[ATTEMPTS] ~= ARGV[3] then
  return 0
end
local now = redis_now_ms()
f[STATE] = 'd'
f[DEAD_AT] = tostring(now)
f[ERROR] = ARGV[4]
redis.call('HSET', KEYS[1], ARGV[1], record_write(f, raw))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], now, ARGV[1])
return 1
