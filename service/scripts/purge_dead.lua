--[[ purge_dead: delete dead letters older than the retention period.
Fenced: runs only while the caller still holds the housekeeping lease.
KEYS[1] dead-letter set   KEYS[2] lease
ARGV[1] lease value of the caller   ARGV[2] retention ms   ARGV[3] max entries
ARGV[4] message key prefix
Returns the number deleted, or -1 when the caller does not hold the lease. ]]
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return -1
end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('DEL', ARGV[4] .. id)
end
return #ids
