#!lua flags=allow-oom
--[[ cancel_labelled: cancel live messages (pending or in flight) carrying every given
label, a bounded batch per call, so millions are cancelled without one long script.
ARGV[1] '1' to keep history   ARGV[2] entries to examine   ARGV[3] entries of the first
label's index already examined and kept (they did not carry every label)
ARGV[4...] labels `name=value`; the first names the index walked
Prevents: a message escaping the cancel by being claimed between batches (each batch
is atomic, and a cancelled message cannot settle); one call blocking Redis for long.
Returns {cancelled, examined, kept}: call again with ARGV[3] + kept until examined is 0. ]]
local history, budget, skip = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local wanted = {}
for i = 4, #ARGV do
  local name, value = string.match(ARGV[i], '^([^=]+)=(.*)$')
  wanted[#wanted + 1] = {name, value}
end
local index = label_key(':lbl', wanted[1][1], wanted[1][2])
local ids = redis.call('ZRANGE', index, skip, skip + budget - 1)
local now = now_ms()
local cancelled, kept = 0, 0
-- Every record read, and the label indexes of those to cancel reached, before the first
-- write (_lib.lua, reach_labels).
local records = {}
for n, id in ipairs(ids) do
  local raw = redis.call('HGET', MSGS, id)
  local f = raw and meta_read(raw)
  if f then
    local labels = labels_of(f) or {}
    for _, pair in ipairs(wanted) do
      if labels[pair[1]] ~= pair[2] then f.keep = true end
    end
    if not f.keep then reach_own_labels(f) end
  end
  records[n] = f
end
for n, id in ipairs(ids) do
  local f = records[n]
  if not f then
    redis.call('ZREM', index, id)  -- a stale entry: nothing to cancel
  elseif f.keep then
    kept = kept + 1
  else
    remember(id, f, 'cancelled', now, history)
    forget(id, f)
    redis.call('ZREM', DUE, id)
    redis.call('ZREM', RETRYING, id)
    redis.call('ZREM', INFLIGHT, id)
    cancelled = cancelled + 1
  end
end
return {cancelled, #ids, kept}
