--[[ schedule: store a new message and index it by due time.
KEYS[1] messages hash   KEYS[2] due index
ARGV[1] id   ARGV[2] record (see _record.lua)   ARGV[3] due ms
Returns 0 when the id exists (in any state), 1 when stored,
2 when stored and now the earliest due message (the caller wakes its loop). ]]
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local first = redis.call('ZRANGE', KEYS[2], 0, 0)
if first[1] == ARGV[1] then
  return 2
end
return 1
