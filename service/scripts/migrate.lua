--[[ migrate: move messages of the first storage layout (one `{prefix}` tag, the payload
inside the record) into this partition's layout, a batch at a time.
After the partition's keys: the old messages hash, due index, in-flight set and
dead-letter set.
ARGV[1] max messages   ARGV[2] incarnation prefix (unique per partition)
ARGV[3] largest body kept inline in the record
Prevents: a message existing in both layouts, or in neither (each one moves in one
step). A message an old replica had in flight is made due now: if that replica still
delivers it, the receiver sees it twice under one idempotency key (at least once).
Returns {moved, messages left in the old layout}. ]]
local n = SCRIPT_KEY_COUNT
local OLD_MSGS, OLD_DUE, OLD_INFLIGHT, OLD_DEAD = KEYS[n + 1], KEYS[n + 2], KEYS[n + 3], KEYS[n + 4]
local limit, inc_prefix, inline_limit = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
-- Earliest due first, so the messages that matter soonest move first.
local ids = redis.call('ZRANGE', OLD_DUE, 0, limit - 1)
if #ids == 0 then ids = redis.call('ZRANGE', OLD_INFLIGHT, 0, limit - 1) end
if #ids == 0 then ids = redis.call('ZRANGE', OLD_DEAD, 0, limit - 1) end
if #ids == 0 then
  local scan = redis.call('HSCAN', OLD_MSGS, 0, 'COUNT', limit)
  for i = 1, #scan[2], 2 do ids[#ids + 1] = scan[2][i] end
end
local now = now_ms()
local moved = 0
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', OLD_MSGS, id)
  if raw then
    local old, pos = {}, 1
    for n = 1, 8 do
      local stop = string.find(raw, '\n', pos, true)
      old[n] = string.sub(raw, pos, stop - 1)
      pos = stop + 1
    end
    local payload = string.sub(raw, pos)
    local state, score = old[4], nil
    if state == 'd' then
      score = redis.call('ZSCORE', OLD_DEAD, id) or now
    else
      score = redis.call('ZSCORE', OLD_DUE, id) or now
      state = 'p'
    end
    local dead_at = ''
    if state == 'd' and old[5] ~= '' then dead_at = b36(tonumber(old[5])) end
    if redis.call('HEXISTS', MSGS, id) == 0 then
      local body = '\n' .. payload
      local inline = #body <= inline_limit and body or ''
      local f = {old[1], old[2], old[3], state, dead_at, old[6], old[7], old[8], '',
                 inc_prefix .. b36(redis.call('INCR', SEQ)), '', inline}
      redis.call('HSET', MSGS, id, meta_write(f))
      if inline == '' then
        redis.call('HSET', BODIES, id, body)
      end
      redis.call('INCRBY', BYTES, #body)
      redis.call('ZADD', state == 'd' and DEAD or DUE, score, id)
    end
  end
  redis.call('HDEL', OLD_MSGS, id)
  redis.call('ZREM', OLD_DUE, id)
  redis.call('ZREM', OLD_INFLIGHT, id)
  redis.call('ZREM', OLD_DEAD, id)
  moved = moved + 1
end
return {moved, redis.call('HLEN', OLD_MSGS)}
