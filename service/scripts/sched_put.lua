--[[ sched_put: create a recurring schedule, or replace its definition, with its next fires.
ARGV[1] 'create' or 'replace'   ARGV[2] id   ARGV[3] version read before (replace)
ARGV[4] definition JSON   ARGV[5] body its fires carry   ARGV[6] last materialized fire
ms, or '' when the schedule is paused or has ended   ARGV[7] creation ms
ARGV[8...] fires, six values each: id, record, body, size, due, labelled
Prevents: two creates of one id both succeeding; an edit overwriting another made
meanwhile (the version must be the one read); fires of the old definition going out
after an edit (fires not yet due are dropped in the same step); this call, sent again
after its answer was lost (as schedule.lua explains), answering 409 for what it did: a
second run that finds its own write (the same definition, created at the same
millisecond, or one version past the one it read) answers that version and writes
nothing.
Returns the new version, 0 when the id exists (create) or does not (replace), -3 when
the schedule changed since it was read, -4 when it is moving to another partition (a
repartition: ask again in a moment). ]]
local mode, id, read, definition, body, next_fire, created = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if redis.call('HEXISTS', MOVING, 's:' .. id) == 1 then return -4 end
local raw = redis.call('HGET', SCHED, id)
local version = 1
-- Whether the stored schedule is this call's own earlier run.
local function ours()
  return string.sub(raw, string.find(raw, '\n', 1, true) + 1) == definition
end
local dropped = {}
if mode == 'create' then
  if raw then
    if ours() and tonumber(redis.call('ZSCORE', SCHEDALL, id)) == tonumber(created) then
      return schedule_version(raw)
    end
    return 0
  end
else
  if not raw then return 0 end
  version = schedule_version(raw)
  if tostring(version) ~= read then
    if tostring(version - 1) == read and ours() then return version end
    return -3
  end
  version = version + 1
  dropped = future_fires(id, now_ms())
end
-- Every label index this call will touch is reached before its first write (_lib.lua).
local fires = new_fires(8, dropped)
if mode == 'create' then
  redis.call('ZADD', SCHEDALL, created, id)
end
drop_fires(dropped)
redis.call('HSET', SCHED, id, version .. '\n' .. definition)
redis.call('HSET', SCHEDBODY, id, body)
if next_fire == '' then
  redis.call('ZREM', SCHEDIDX, id)
else
  redis.call('ZADD', SCHEDIDX, next_fire, id)
end
insert_fires(fires)
return version
