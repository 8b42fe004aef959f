#!lua flags=allow-oom
--[[ patch: replace a pending message's definition (a merge patch the service applied).
ARGV[1] id   ARGV[2] the record the patch was computed from   ARGV[3] new record
ARGV[4] new body when not inline, else ''   ARGV[5] new body size   ARGV[6] new due ms
Prevents: a patch overwriting a change made meanwhile (the record must be exactly the
one read), a patch racing a claim (a message in flight or dead is refused), and this
call sent again after its answer was lost answering -3 for its own change.
Returns 1 patched, 0 no such message, -1 in flight, -2 dead-lettered, -3 changed since
it was read, -4 moving to another partition (a repartition: ask again in a moment). ]]
local id, expected, meta, body, size, due = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
if redis.call('HEXISTS', MOVING, 'm:' .. id) == 1 then return -4 end
local raw = redis.call('HGET', MSGS, id)
if not raw then return 0 end
local f = meta_read(raw)
if f[F_STATE] == 'i' then return -1 end
if f[F_STATE] == 'd' then return -2 end
if raw ~= expected then
  -- This call's own earlier run, its answer lost and the call sent again (schedule.lua
  -- explains when): the record it wrote, with this request's incarnation, is there.
  if raw == meta then return 1 end
  return -3
end
-- The old and the new definition's label indexes, reached before the first write.
local new = meta_read(meta)  -- (a patch is rare: parsed every time)
reach_labels(f, ':lbl')
reach_labels(new, ':lbl')
-- Out with the old definition's labels and body; the attempts log stays.
index_labels(f, id, ':lbl', nil)
local old_size = #f[F_BODY]
if old_size == 0 then
  old_size = redis.call('HSTRLEN', BODIES, id)
  redis.call('HDEL', BODIES, id)
end
redis.call('HSET', MSGS, id, meta)
if body ~= '' then
  redis.call('HSET', BODIES, id, body)
end
redis.call('INCRBY', BYTES, size - old_size)
redis.call('ZADD', DUE, due, id)
if tonumber(f[F_ATTEMPTS]) > 0 then
  redis.call('ZADD', RETRYING, due, id)
end
index_labels(new, id, ':lbl', due)
return 1
