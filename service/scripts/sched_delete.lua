#!lua flags=allow-oom
--[[ sched_delete: delete a recurring schedule; fires already due or in flight finish.
ARGV[1] id
Prevents: a fire going out after the answer (every fire not yet due is dropped in the
same step).
Returns 1 deleted, 0 no such schedule, -1 moving to another partition (a repartition:
ask again in a moment). ]]
local id = ARGV[1]
if redis.call('HEXISTS', MOVING, 's:' .. id) == 1 then return -1 end
if redis.call('HEXISTS', SCHED, id) == 0 then return 0 end
local dropped = future_fires(id, now_ms())  -- (their label indexes reached: _lib.lua)
redis.call('HDEL', SCHED, id)
redis.call('HDEL', SCHEDBODY, id)
redis.call('ZREM', SCHEDIDX, id)
redis.call('ZREM', SCHEDALL, id)
redis.call('HDEL', SCHEDSTAT, id .. ':delivered', id .. ':dead', id .. ':last')
drop_fires(dropped)
return 1
