--[[ retry: put a claimed message back into the due index after a failed attempt.
KEYS[1] message hash   KEYS[2] due index   KEYS[3] in-flight set
ARGV[1] id   ARGV[2] created ms   ARGV[3] attempt number of the claim
ARGV[4] delay ms   ARGV[5] last error text
Only the current claim may decide: a stale claim (expired and claimed again elsewhere)
or a deleted message is left alone, so a delete racing a delivery never brings it back.
Returns the new due time in ms, or 0 when the claim was stale or the message gone. ]]
local f = redis.call('HMGET', KEYS[1], 'c', 'a')
if f[1] ~= ARGV[2] or f[2] ~= ARGV[3] then
  return 0
end
local t = redis.call('TIME')
local due = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], due, ARGV[1])
redis.call('HSET', KEYS[1], 's', 'p', 'e', ARGV[5])
return due
