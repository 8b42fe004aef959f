--[[ schedule: store a new message and index it by due time.
KEYS[1] message hash   KEYS[2] due index
ARGV[1] id  ARGV[2] due ms  ARGV[3] payload JSON  ARGV[4] webhook URL
ARGV[5] created ms  ARGV[6] trace context ('' for none)
Returns 0 when the id exists (in any state), 1 when stored,
2 when stored and now the earliest due message (the caller wakes its loop). ]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'p', ARGV[3], 'u', ARGV[4], 'c', ARGV[5], 's', 'p')
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[1], 't', ARGV[6])
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
local first = redis.call('ZRANGE', KEYS[2], 0, 0)
if first[1] == ARGV[1] then
  return 2
end
return 1
