#!lua flags=allow-oom
--[[ purge_dead: delete dead letters older than the retention period.
ARGV[1] lease value of the caller   ARGV[2] retention ms   ARGV[3] max entries
Prevents: a former lease holder acting after another took over (fenced).
Returns the number deleted, or -1 when the caller does not hold the lease. ]]
local lease, retention, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if not holds_lease(lease) then
  return -1
end
local ids = redis.call('ZRANGEBYSCORE', DEAD, '-inf', now_ms() - retention, 'LIMIT', 0, limit)
for _, id in ipairs(ids) do
  redis.call('ZREM', DEAD, id)
  local raw = redis.call('HGET', MSGS, id)
  if raw then
    forget(id, meta_read(raw))
  end
end
return #ids
