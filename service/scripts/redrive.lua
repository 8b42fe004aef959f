#!lua flags=allow-oom
--[[ redrive: make a dead-lettered message due now, with its attempts reset.
ARGV[1] id   ARGV[2] this request's id ('' for none)
Prevents: redriving a message that is not dead (it would then be due twice), and this
call, sent again after its answer was lost (schedule.lua explains when), answering "not
dead-lettered" for the message it redrove: the attempts log keeps a line naming the
request and when it ran, which goes with the message into its history.
Returns the new due time in ms (this request's earlier one when it ran already), 0 when
the message is not dead-lettered, -1 when it is moving to another partition (a
repartition: ask again in a moment). ]]
local id, request = ARGV[1], ARGV[2] or ''
-- This request's line in the attempts log starts so; the time it ran follows.
local marker = '{"q":"' .. request .. '","s":'
if redis.call('HEXISTS', MOVING, 'm:' .. id) == 1 then return -1 end
local raw = redis.call('HGET', MSGS, id)

-- When this request redrove the message already: its line in the attempts log (history's
-- copy once the message has finished).
local function ran_at()
  if request == '' then return nil end
  local log = raw and redis.call('HGET', LOG, id)
  if not raw then
    local finished = redis.call('HGET', HIST, id)
    log = finished and cjson.decode(finished).a
  end
  if not log then return nil end
  local at = string.find(log, marker, 1, true)  -- (plain: an id may hold '-')
  return at and tonumber(string.match(log, '^%d+', at + #marker))
end

local earlier = ran_at()
if earlier then return earlier end
if not raw or not redis.call('ZSCORE', DEAD, id) then
  return 0
end
local f = meta_read(raw)
-- Both label indexes reached before the first write (_lib.lua).
reach_labels(f, ':dlbl')
reach_labels(f, ':lbl')
redis.call('ZREM', DEAD, id)
local now = now_ms()
index_labels(f, id, ':dlbl', nil)
f[F_STATE] = 'p'
f[F_ATTEMPTS] = '0'
f[F_DEAD_AT] = ''
f[F_CLAIM] = ''
redis.call('HSET', MSGS, id, meta_write(f))
redis.call('ZADD', DUE, now, id)
index_labels(f, id, ':lbl', now)
if request ~= '' then log_attempt(id, marker .. now .. '}') end
return now
