--[[ partition_count: the partition count the data was written with, recorded once.
KEYS[SCRIPT_KEY_COUNT + 1] the record (home partition)   ARGV[1] this start's count
ARGV[2] '1' when messages of the first storage layout exist (they move to partition 0)
Prevents: two starts that disagree on the count both recording theirs, and a first start
with a count above 1 over data that an older version wrote without a record (all of it
in partition 0, or bound for it, which is where count 1 puts it).
Returns the recorded count: ARGV[1] when this call recorded it, else what was there. ]]
local record = KEYS[SCRIPT_KEY_COUNT + 1]
local recorded = redis.call('GET', record)
if recorded then
  return tonumber(recorded)
end
local count = tonumber(ARGV[1])
if count ~= 1 and (ARGV[2] == '1' or redis.call('HLEN', MSGS) > 0 or redis.call('HLEN', SCHED) > 0
    or redis.call('ZCARD', DEAD) > 0) then
  count = 1
end
redis.call('SET', record, count)
return count
