#!lua flags=allow-oom
--[[ sched_advance: materialize the next fires of a schedule (the lease holder's sweep).
ARGV[1] lease value of the caller   ARGV[2] id   ARGV[3] version the fires were computed
from   ARGV[4] last materialized fire ms read   ARGV[5] new last fire ms, or '' when
the schedule has ended   ARGV[6...] fires, six values each: id, record, body, size, due,
labelled
Prevents: a tick fired twice or from a stale definition (fenced by the lease, the
version and the last fire must be the ones read; fire ids are never reused); a former
lease holder acting after another took over.
Returns 1 advanced, 0 when something changed meanwhile, -1 when the caller does not
hold the lease. ]]
local lease, id, version, read, next_fire = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if not holds_lease(lease) then
  return -1
end
local raw = redis.call('HGET', SCHED, id)
if not raw or tostring(schedule_version(raw)) ~= version then return 0 end
local current = redis.call('ZSCORE', SCHEDIDX, id)
if not current or tonumber(current) ~= tonumber(read) then return 0 end
insert_fires(new_fires(6))
if next_fire == '' then
  redis.call('ZREM', SCHEDIDX, id)
else
  redis.call('ZADD', SCHEDIDX, next_fire, id)
end
return 1
