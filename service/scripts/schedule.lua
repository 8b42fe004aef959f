--[[ schedule: store a new message and index it by due time.
KEYS[1] messages hash   KEYS[2] due index
ARGV[1] id   ARGV[2] record (see _record.lua)   ARGV[3] due ms
Returns 0 when the id exists (in any state), 1 when stored. Waking the delivery loop
is the caller's business: it compares the due time with the loop's alarm itself. ]]
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
