--[[ lease_acquire: take the housekeeping lease, or renew it when the caller holds it.
KEYS[1] lease   KEYS[2] fencing counter
ARGV[1] owner (unique per process)   ARGV[2] time to live ms
The value is `owner:fence`; the fence grows at every new holder, so a paused former
holder's fenced writes are refused once someone else took over.
Returns the caller's fencing token, or 0 when another replica holds the lease. ]]
local current = redis.call('GET', KEYS[1])
if not current then
  local fence = redis.call('INCR', KEYS[2])
  redis.call('SET', KEYS[1], ARGV[1] .. ':' .. fence, 'PX', ARGV[2])
  return fence
end
local sep = string.find(current, ':', 1, true)
if sep and string.sub(current, 1, sep - 1) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(string.sub(current, sep + 1))
end
return 0
