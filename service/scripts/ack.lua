#!lua flags=allow-oom
--[[ ack: webhooks answered 2xx, so these messages are done and removed.
ARGV pairs: id, claim token (one pair per delivered message)
Prevents: a late ack from an expired claim removing a message that is due again or
in flight elsewhere, and an ack removing a new message that re-used a deleted id.
Returns the number removed. ]]
local removed = 0
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  local f = claimed(id, ARGV[i + 1])
  if f then
    redis.call('ZREM', INFLIGHT, id)
    forget(id, f)
    removed = removed + 1
  end
end
return removed
