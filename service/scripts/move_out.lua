--[[ move_out: take messages or schedules of this partition off its indexes for a
repartition, keeping their records readable here until move_done deletes them.
ARGV[1] 'm' messages (live, dead-lettered or in history) or 's' schedules
ARGV[2...] ids whose partition under the new count is another one
Prevents: a message being claimed here while its copy is due in the other partition
(it leaves DUE in this step), a change made here being lost in the copy (MOVING lists
it, and the scripts that change a message or a schedule refuse one listed), a mover
that crashed losing what it took off the indexes (the copy is kept in MOVING, and a
second move_out answers that copy again), and a schedule's fire counts counted twice
or lost (they leave with the copy; fires in flight count here when they finish).
Returns id, packed copy (cmsgpack), id, copy, ... for the ids moved; ids in flight (they
settle here first), gone, or without data are left out. ]]
local kind = ARGV[1]
local out = {}
-- The copy kept until move_done, and answered.
local function keep(id, entry, copy)
  local packed = cmsgpack.pack(copy)
  redis.call('HSET', MOVING, entry, packed)
  out[#out + 1] = id
  out[#out + 1] = packed
end
-- The label indexes of the messages to move, reached before the first write (_lib.lua).
for i = 2, kind == 'm' and #ARGV or 1 do
  local raw = redis.call('HEXISTS', MOVING, 'm:' .. ARGV[i]) == 0
    and redis.call('HGET', MSGS, ARGV[i])
  if raw then
    local f = meta_read(raw)
    if f[F_STATE] ~= 'i' then reach_own_labels(f) end
  end
end
for i = 2, #ARGV do
  local id = ARGV[i]
  local entry = kind .. ':' .. id
  local kept = redis.call('HGET', MOVING, entry)
  if kept then
    out[#out + 1] = id
    out[#out + 1] = kept
  elseif kind == 'm' then
    local raw = redis.call('HGET', MSGS, id)
    local hist = redis.call('HGET', HIST, id)
    local f = raw and meta_read(raw)
    if (raw or hist) and not (f and f[F_STATE] == 'i') then
      local copy = {
        id = id, raw = raw or '', body = redis.call('HGET', BODIES, id) or '',
        log = redis.call('HGET', LOG, id) or '', due = redis.call('ZSCORE', DUE, id) or '',
        retrying = redis.call('ZSCORE', RETRYING, id) or '',
        dead = redis.call('ZSCORE', DEAD, id) or '', hist = hist or '',
        histidx = redis.call('ZSCORE', HISTIDX, id) or '',
      }
      if f then
        index_labels(f, id, f[F_STATE] == 'd' and ':dlbl' or ':lbl', nil)
      end
      redis.call('ZREM', DUE, id)
      redis.call('ZREM', RETRYING, id)
      redis.call('ZREM', DEAD, id)
      redis.call('ZREM', HISTIDX, id)
      keep(id, entry, copy)
    end
  else
    local definition = redis.call('HGET', SCHED, id)
    if definition then
      local stats = redis.call('HMGET', SCHEDSTAT, id .. ':delivered', id .. ':dead', id .. ':last')
      local copy = {
        id = id, definition = definition, body = redis.call('HGET', SCHEDBODY, id) or '',
        next = redis.call('ZSCORE', SCHEDIDX, id) or '',
        created = redis.call('ZSCORE', SCHEDALL, id) or '0',
        delivered = stats[1] or '', dead = stats[2] or '', last = stats[3] or '',
      }
      -- Off the sweep's index here: the partition it moves to sweeps it from now on.
      redis.call('ZREM', SCHEDIDX, id)
      redis.call('ZREM', SCHEDALL, id)
      -- Its counts go with the copy: a fire that finishes here later (it was in flight)
      -- counts here again, and reading a schedule adds every partition's counts.
      redis.call('HDEL', SCHEDSTAT, id .. ':delivered', id .. ':dead', id .. ':last')
      keep(id, entry, copy)
    end
  end
end
return out
