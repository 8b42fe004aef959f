#!lua flags=allow-oom
--[[ purge_dead: delete dead letters older than the retention period (they stay in
history, as dead_lettered, for as long as history keeps them).
ARGV[1] lease value of the caller   ARGV[2] retention ms   ARGV[3] max entries
ARGV[4] '1' to keep history
Prevents: a former lease holder acting after another took over (fenced).
Returns the number deleted, or -1 when the caller does not hold the lease. ]]
local lease, retention, limit, history = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
if not holds_lease(lease) then
  return -1
end
local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', DEAD, '-inf', now - retention, 'LIMIT', 0, limit)
-- Every record read and its label indexes reached before the first write (_lib.lua).
local records = {}
for n, id in ipairs(ids) do
  local raw = redis.call('HGET', MSGS, id)
  records[n] = raw and meta_read(raw)
  if raw then reach_own_labels(records[n]) end
end
for n, id in ipairs(ids) do
  redis.call('ZREM', DEAD, id)
  local f = records[n]
  if f then
    remember(id, f, 'dead_lettered', now, history)
    forget(id, f)
  end
end
return #ids
