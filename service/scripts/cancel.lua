#!lua flags=allow-oom
--[[ cancel: delete a message in whatever state it is, or only when dead-lettered.
ARGV[1] id   ARGV[2] '1' to cancel only a dead-lettered message   ARGV[3] '1' to keep history
ARGV[4] this request's id ('' for none)
Prevents: a message surviving in one index after its record is gone (every index is
cleared in one step); a delivery in flight can then no longer settle it; this call,
sent again after its answer was lost (schedule.lua explains when), answering "no such
message" for the message it cancelled (with history kept, the history record names the
request that finished it).
Returns 1 when cancelled (now or by this call's earlier run), 0 when there is no such
message (in that state), -1 when it is moving to another partition (a repartition: ask
again in a moment). ]]
local id, dead_only, history, request = ARGV[1], ARGV[2] == '1', ARGV[3], ARGV[4] or ''
if redis.call('HEXISTS', MOVING, 'm:' .. id) == 1 then
  return -1
end
local raw = redis.call('HGET', MSGS, id)
if not raw then
  local finished = request ~= '' and redis.call('HGET', HIST, id)
  if finished and cjson.decode(finished).q == request then return 1 end
  return 0
end
local f = meta_read(raw)
if dead_only and f[F_STATE] ~= 'd' then
  return 0
end
reach_own_labels(f)  -- before any write (_lib.lua)
remember(id, f, f[F_STATE] == 'd' and 'dead_lettered' or 'cancelled', now_ms(), history, nil,
  request ~= '' and request or nil)
forget(id, f)
redis.call('ZREM', DUE, id)
redis.call('ZREM', RETRYING, id)
redis.call('ZREM', INFLIGHT, id)
redis.call('ZREM', DEAD, id)
return 1
