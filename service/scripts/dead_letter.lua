#!lua flags=allow-oom
--[[ dead_letter: park a message whose delivery failed for good, keeping its last error,
and store its failure callback (if any) as a new message in the same step.
ARGV[1] id   ARGV[2] claim token   ARGV[3] error text   ARGV[4] attempt log entry
ARGV[5] callback id ('' for none)   ARGV[6] callback record   ARGV[7] callback body
(when not inline)   ARGV[8] callback body size   ARGV[9] '1' when the callback has labels
Prevents: a late dead-letter from an expired claim leaving the id both due again and
dead (a redrive would then make it claimable while another replica delivers it).
Returns 1 when parked, 0 when the claim is not current. ]]
local id, token, err, entry = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local f = claimed(id, token)
if not f then
  return 0
end
-- Every label index this call touches, reached before its first write (_lib.lua).
reach_labels(f, ':lbl')
reach_labels(f, ':dlbl')
local callback = ARGV[5] ~= '' and labelled_record(ARGV[6], ARGV[9])
local now = now_ms()
index_labels(f, id, ':lbl', nil)
f[F_STATE] = 'd'
f[F_DEAD_AT] = b36(now)
f[F_CLAIM] = ''
f[F_ERROR] = err
redis.call('HSET', MSGS, id, meta_write(f))
redis.call('ZREM', INFLIGHT, id)
redis.call('ZADD', DEAD, now, id)
index_labels(f, id, ':dlbl', now)
log_attempt(id, entry)
count_fire(f, 'dead')
if ARGV[5] ~= '' then
  insert(ARGV[5], ARGV[6], callback, ARGV[7], tonumber(ARGV[8]), now)
end
return 1
