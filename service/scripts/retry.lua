--[[ retry: put a claimed message back into the due index after a failed attempt.
KEYS[1] messages hash   KEYS[2] due index   KEYS[3] in-flight set
ARGV[1] id   ARGV[2] created token (base 36)   ARGV[3] attempt number of the claim
ARGV[4] delay ms   ARGV[5] last error text
Only the current claim may decide: a stale claim (expired and claimed again elsewhere)
or a deleted message is left alone, so a delete racing a delivery never brings it back.
Returns the new due time in ms, or 0 when the claim was stale or the message gone. ]]
-- @include record
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return 0
end
local f = record_read(raw)
if f[CREATED] ~= ARGV[2] or f[ATTEMPTS] ~= ARGV[3] then
  return 0
end
local due = redis_now_ms() + tonumber(ARGV[4])
f[STATE] = 'p'
f[ERROR] = ARGV[5]
redis.call('HSET', KEYS[1], ARGV[1], record_write(f, raw))
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], due, ARGV[1])
return due
