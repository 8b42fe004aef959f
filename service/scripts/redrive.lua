--[[ redrive: make a dead-lettered message due now, with its attempts reset.
KEYS[1] message hash   KEYS[2] dead-letter set   KEYS[3] due index
ARGV[1] id
Returns the new due time in ms, or 0 when the message is not dead-lettered. ]]
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 's', 'p', 'a', 0)
redis.call('HDEL', KEYS[1], 'x')
redis.call('ZADD', KEYS[3], now, ARGV[1])
return now
