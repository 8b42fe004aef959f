#!lua flags=allow-oom
--[[ ack: webhooks answered 2xx, so these messages are done: removed, remembered in
history, and their success callback (if any) stored as a new message in the same step.
ARGV[1] '1' to keep history   ARGV[2] how many delivered messages have no callback (N)
then N triples: id, claim token, attempt log entry; then per delivered message with a
callback, eight values: id, claim token, attempt log entry, callback id, callback record,
callback body (when not inline), callback body size, '1' when the callback has labels
Prevents: a late ack from an expired claim removing a message that is due again or in
flight elsewhere; an ack removing a new message that re-used a deleted id; a callback
stored without its outcome, or an outcome without its callback.
Returns the number removed. ]]
local history, plain = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local removed = 0

local function done(i)
  local id = ARGV[i]
  local f = claimed(id, ARGV[i + 1])
  if not f then return false end
  redis.call('ZREM', INFLIGHT, id)
  -- The log goes with the message: history gets it, this attempt included.
  local log = redis.call('HGET', LOG, id)
  remember(id, f, 'delivered', now, history, log and (log .. '\n' .. ARGV[i + 2]) or ARGV[i + 2])
  count_fire(f, 'delivered')
  forget(id, f)
  removed = removed + 1
  return true
end

local callbacks = 3 + 3 * plain
for i = 3, callbacks - 1, 3 do
  done(i)
end
for i = callbacks, #ARGV, 8 do
  if done(i) then
    insert(ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6]), now, ARGV[i + 7])
  end
end
return removed
