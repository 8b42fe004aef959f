#!lua flags=allow-oom
--[[ lease_acquire: take the housekeeping lease, or renew it when the caller holds it.
ARGV[1] owner (unique per process)   ARGV[2] time to live ms
Prevents: two holders at once (take and renew are one step), and a paused former
holder's fenced writes passing: the value is `owner:fence` and the fence grows at
every new holder.
Returns the caller's fencing token, or 0 when another replica holds the lease. ]]
local owner, ttl = ARGV[1], ARGV[2]
local current = redis.call('GET', LEASE)
if not current then
  local fence = redis.call('INCR', FENCE)
  redis.call('SET', LEASE, owner .. ':' .. fence, 'PX', ttl)
  return fence
end
local sep = string.find(current, ':', 1, true)
if sep and string.sub(current, 1, sep - 1) == owner then
  redis.call('PEXPIRE', LEASE, ttl)
  return tonumber(string.sub(current, sep + 1))
end
return 0
