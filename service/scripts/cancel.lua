--[[ cancel: delete a message in whatever state it is, or only when dead-lettered.
KEYS[1] messages hash   KEYS[2] due index   KEYS[3] in-flight set   KEYS[4] dead-letter set
ARGV[1] id   ARGV[2] '1' to delete only a dead-lettered message
Returns 1 when deleted, 0 when there is no such message (in that state). ]]
-- @include record
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return 0
end
if ARGV[2] == '1' and record_read(raw)[STATE] ~= 'd' then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
