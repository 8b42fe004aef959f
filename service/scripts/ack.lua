--[[ ack: the webhook answered 2xx, so the message is done and removed.
KEYS[1] message hash   KEYS[2] in-flight set
ARGV[1] id   ARGV[2] created ms of the claimed message
Only the same incarnation of the id is removed: if the message was deleted and an
id re-used while this delivery ran, the new message stays.
Returns 1 when removed, 0 when the message was already gone or replaced. ]]
if redis.call('HGET', KEYS[1], 'c') ~= ARGV[2] then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
