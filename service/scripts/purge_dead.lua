--[[ purge_dead: delete dead letters older than the retention period.
Fenced: runs only while the caller still holds the housekeeping lease.
KEYS[1] dead-letter set   KEYS[2] lease   KEYS[3] messages hash
ARGV[1] lease value of the caller   ARGV[2] retention ms   ARGV[3] max entries
Returns the number deleted, or -1 when the caller does not hold the lease. ]]
-- @include record
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return -1
end
local cutoff = redis_now_ms() - tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[3], id)
end
return #ids
