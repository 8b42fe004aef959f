--[[ recover: return expired claims (their replica died or hung) to the due index.
Fenced: runs only while the caller still holds the housekeeping lease.
KEYS[1] in-flight set   KEYS[2] due index   KEYS[3] lease   KEYS[4] messages hash
ARGV[1] lease value of the caller (owner:fence)   ARGV[2] max entries
Returns the number of claims returned, or -1 when the caller does not hold the lease. ]]
-- @include record
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return -1
end
local now = redis_now_ms()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local raw = redis.call('HGET', KEYS[4], id)
  if raw then
    local f = record_read(raw)
    f[STATE] = 'p'
    f[ERROR] = 'claim expired: the delivering replica stopped before settling'
    redis.call('HSET', KEYS[4], id, record_write(f, raw))
    redis.call('ZADD', KEYS[2], now, id)
  end
end
return #ids
