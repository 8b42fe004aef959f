--[[ redrive: make a dead-lettered message due now, with its attempts reset.
KEYS[1] messages hash   KEYS[2] dead-letter set   KEYS[3] due index
ARGV[1] id
Returns the new due time in ms, or 0 when the message is not dead-lettered. ]]
-- @include record
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw or redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then
  return 0
end
local now = redis_now_ms()
local f = record_read(raw)
f[STATE] = 'p'
f[ATTEMPTS] = '0'
f[DEAD_AT] = ''
redis.call('HSET', KEYS[1], ARGV[1], record_write(f, raw))
redis.call('ZADD', KEYS[3], now, ARGV[1])
return now
