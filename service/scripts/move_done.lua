#!lua flags=allow-oom
--[[ move_done: delete from this partition what move_out took off its indexes, once
move_in stored it in the other partition.
ARGV[1] 'm' messages or 's' schedules   ARGV[2...] ids
Prevents: deleting anything not listed in MOVING (an id that was never moved out, or
was finished before). Frees memory, so it runs at maxmemory.
Returns how many were deleted. ]]
local kind = ARGV[1]
local done = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if redis.call('HDEL', MOVING, kind .. ':' .. id) == 1 then
    if kind == 'm' then
      local raw = redis.call('HGET', MSGS, id)
      if raw then
        local size = #meta_read(raw)[F_BODY]
        if size == 0 then size = redis.call('HSTRLEN', BODIES, id) end
        redis.call('HDEL', MSGS, id)
        redis.call('HDEL', BODIES, id)
        redis.call('HDEL', LOG, id)
        redis.call('DECRBY', BYTES, size)
      end
      redis.call('HDEL', HIST, id)
    else
      redis.call('HDEL', SCHED, id)
      redis.call('HDEL', SCHEDBODY, id)
      -- (Not its counts: move_out took them; any here since are fires that finished here.)
    end
    done = done + 1
  end
end
return done
