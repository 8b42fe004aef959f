--[[ sched_put: create a recurring schedule, or replace its definition, with its next fires.
ARGV[1] 'create' or 'replace'   ARGV[2] id   ARGV[3] version read before (replace)
ARGV[4] definition JSON   ARGV[5] body its fires carry   ARGV[6] last materialized fire
ms, or '' when the schedule is paused or has ended   ARGV[7] creation ms
ARGV[8...] fires, six values each: id, record, body, size, due, labelled
Prevents: two creates of one id both succeeding; an edit overwriting another made
meanwhile (the version must be the one read); fires of the old definition going out
after an edit (fires not yet due are dropped in the same step).
Returns the new version, 0 when the id exists (create) or does not (replace), -3 when
the schedule changed since it was read, -4 when it is moving to another partition (a
repartition: ask again in a moment). ]]
local mode, id, read, definition, body, next_fire, created = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if redis.call('HEXISTS', MOVING, 's:' .. id) == 1 then return -4 end
local raw = redis.call('HGET', SCHED, id)
local version = 1
if mode == 'create' then
  if raw then return 0 end
  redis.call('ZADD', SCHEDALL, created, id)
else
  if not raw then return 0 end
  version = schedule_version(raw)
  if tostring(version) ~= read then return -3 end
  version = version + 1
  cancel_future_fires(id, now_ms())
end
redis.call('HSET', SCHED, id, version .. '\n' .. definition)
redis.call('HSET', SCHEDBODY, id, body)
if next_fire == '' then
  redis.call('ZREM', SCHEDIDX, id)
else
  redis.call('ZADD', SCHEDIDX, next_fire, id)
end
insert_fires(8)
return version
