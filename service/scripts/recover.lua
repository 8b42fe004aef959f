--[[ recover: return expired claims (their replica died or hung) to the due index.
Fenced: runs only while the caller still holds the housekeeping lease.
KEYS[1] in-flight set   KEYS[2] due index   KEYS[3] lease
ARGV[1] lease value of the caller (owner:fence)   ARGV[2] max entries   ARGV[3] message key prefix
Returns the number of claims returned, or -1 when the caller does not hold the lease. ]]
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[3] .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 's', 'p', 'e', 'claim expired: the delivering replica stopped')
    redis.call('ZADD', KEYS[2], now, id)
  end
end
return #ids
