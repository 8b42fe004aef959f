#!lua flags=allow-oom
--[[ retry: put a claimed message back into the due index after a failed attempt.
ARGV[1] id   ARGV[2] claim token   ARGV[3] delay ms   ARGV[4] last error text
ARGV[5] attempt log entry
Prevents: a stale claim (expired, recovered, maybe claimed again elsewhere) or a
deleted message being rescheduled, so a delete racing a delivery never brings it back.
Returns the new due time in ms, or 0 when the claim is not current. ]]
local id, token, delay, err, entry = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local f = claimed(id, token)
if not f then
  return 0
end
reach_labels(f, ':lbl')  -- before any write (_lib.lua)
local due = now_ms() + delay
f[F_STATE] = 'p'
f[F_CLAIM] = ''
f[F_ERROR] = err
redis.call('HSET', MSGS, id, meta_write(f))
redis.call('ZREM', INFLIGHT, id)
redis.call('ZADD', DUE, due, id)
redis.call('ZADD', RETRYING, due, id)
index_labels(f, id, ':lbl', due)
log_attempt(id, entry)
return due
