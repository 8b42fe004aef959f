#!lua flags=allow-oom
--[[ purge_history: drop history older than the retention, then the oldest beyond the
count limit, a bounded batch at a time.
ARGV[1] lease value of the caller   ARGV[2] retention ms   ARGV[3] max records kept in
this partition   ARGV[4] max records dropped by this call
Prevents: a former lease holder acting after another took over (fenced).
Returns the number dropped, or -1 when the caller does not hold the lease. ]]
local lease, retention, keep, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if not holds_lease(lease) then
  return -1
end
local old = redis.call('ZRANGEBYSCORE', HISTIDX, '-inf', now_ms() - retention, 'LIMIT', 0, limit)
local over = redis.call('ZCARD', HISTIDX) - #old - keep
if over > 0 and #old < limit then
  local extra = redis.call('ZRANGE', HISTIDX, #old, #old + math.min(over, limit - #old) - 1)
  for _, id in ipairs(extra) do old[#old + 1] = id end
end
for _, id in ipairs(old) do
  redis.call('ZREM', HISTIDX, id)
  redis.call('HDEL', HIST, id)
end
return #old
