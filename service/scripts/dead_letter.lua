--[[ dead_letter: park a message whose last attempt failed, keeping its last error.
KEYS[1] message hash   KEYS[2] in-flight set   KEYS[3] dead-letter set
ARGV[1] id   ARGV[2] created ms   ARGV[3] attempt number of the claim   ARGV[4] error text
Returns 1 when parked, 0 when the claim was stale or the message gone. ]]
local f = redis.call('HMGET', KEYS[1], 'c', 'a')
if f[1] ~= ARGV[2] or f[2] ~= ARGV[3] then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('HSET', KEYS[1], 's', 'd', 'e', ARGV[4], 'x', now)
return 1
