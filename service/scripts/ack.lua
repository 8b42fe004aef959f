--[[ ack: webhooks answered 2xx, so these messages are done and removed.
KEYS[1] messages hash   KEYS[2] in-flight set
ARGV pairs: id, created token (base 36) of the claimed message (one pair per message)
Only the same incarnation of an id is removed: if a message was deleted and its id
re-used while the delivery ran, the new message stays.
Returns the number removed. ]]
-- @include record
local removed = 0
for i = 1, #ARGV, 2 do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw and record_read(raw)[CREATED] == ARGV[i + 1] then
    redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('HDEL', KEYS[1], ARGV[i])
    removed = removed + 1
  end
end
return removed
