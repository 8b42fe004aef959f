#!lua flags=allow-oom
--[[ dead_letter: park a message whose delivery failed for good, keeping its last error.
ARGV[1] id   ARGV[2] claim token   ARGV[3] error text
Prevents: a late dead-letter from an expired claim leaving the id both due again and
dead (a redrive would then make it claimable while another replica delivers it).
Returns 1 when parked, 0 when the claim is not current. ]]
local id, token, err = ARGV[1], ARGV[2], ARGV[3]
local f = claimed(id, token)
if not f then
  return 0
end
local now = now_ms()
f[F_STATE] = 'd'
f[F_DEAD_AT] = b36(now)
f[F_CLAIM] = ''
f[F_ERROR] = err
redis.call('HSET', MSGS, id, meta_write(f))
redis.call('ZREM', INFLIGHT, id)
redis.call('ZADD', DEAD, now, id)
return 1
