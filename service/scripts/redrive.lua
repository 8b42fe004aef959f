#!lua flags=allow-oom
--[[ redrive: make a dead-lettered message due now, with its attempts reset.
ARGV[1] id
Prevents: redriving a message that is not dead (it would then be due twice).
Returns the new due time in ms, 0 when the message is not dead-lettered, -1 when it is
moving to another partition (a repartition: ask again in a moment). ]]
local id = ARGV[1]
if redis.call('HEXISTS', MOVING, 'm:' .. id) == 1 then return -1 end
local raw = redis.call('HGET', MSGS, id)
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
return now
