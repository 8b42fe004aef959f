--[[ move_in: store in this partition the copies move_out made in another one.
ARGV[1] 'm' messages or 's' schedules   ARGV[2...] packed copies (cmsgpack)
Prevents: a copy stored twice when a mover runs again after a crash (an id already here
is left as it is: it is the copy stored before, or a newer message written here since
its old one was moved, which the old one must not overwrite).
Returns how many copies were stored. ]]
local kind = ARGV[1]
local stored = 0
-- The copies, and the label indexes of the messages to store reached before the first
-- write (_lib.lua).
local copies = {}
for i = 2, #ARGV do
  local c = cmsgpack.unpack(ARGV[i])
  copies[i] = c
  if kind == 'm' and c.raw ~= '' and redis.call('HEXISTS', MSGS, c.id) == 0 then
    c.f = meta_read(c.raw)
    if c.dead ~= '' then
      reach_labels(c.f, ':dlbl')
    elseif c.due ~= '' then
      reach_labels(c.f, ':lbl')
    end
  end
end
for i = 2, #ARGV do
  local c = copies[i]
  local id = c.id
  if kind == 'm' then
    if redis.call('HEXISTS', MSGS, id) == 0 and redis.call('HEXISTS', HIST, id) == 0 then
      if c.raw ~= '' then
        local f = c.f or meta_read(c.raw)
        redis.call('HSET', MSGS, id, c.raw)
        local size = #f[F_BODY]
        if c.body ~= '' then
          redis.call('HSET', BODIES, id, c.body)
          size = #c.body
        end
        redis.call('INCRBY', BYTES, size)
        if c.log ~= '' then redis.call('HSET', LOG, id, c.log) end
        if c.due ~= '' then redis.call('ZADD', DUE, c.due, id) end
        if c.retrying ~= '' then redis.call('ZADD', RETRYING, c.retrying, id) end
        if c.dead ~= '' then
          redis.call('ZADD', DEAD, c.dead, id)
          index_labels(f, id, ':dlbl', c.dead)
        elseif c.due ~= '' then
          index_labels(f, id, ':lbl', c.due)
        end
      end
      if c.hist ~= '' then
        redis.call('HSET', HIST, id, c.hist)
        if c.histidx ~= '' then redis.call('ZADD', HISTIDX, c.histidx, id) end
      end
      stored = stored + 1
    end
  elseif redis.call('HEXISTS', SCHED, id) == 0 then
    redis.call('HSET', SCHED, id, c.definition)
    redis.call('HSET', SCHEDBODY, id, c.body)
    if c.next ~= '' then redis.call('ZADD', SCHEDIDX, c.next, id) end
    redis.call('ZADD', SCHEDALL, c.created, id)
    for _, name in ipairs({'delivered', 'dead', 'last'}) do
      if c[name] ~= '' then redis.call('HSET', SCHEDSTAT, id .. ':' .. name, c[name]) end
    end
    stored = stored + 1
  end
end
return stored
