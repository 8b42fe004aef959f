#!lua flags=allow-oom
--[[ ack: webhooks answered 2xx, so these messages are done: removed, remembered in
history, and their success callback (if any) stored as a new message in the same step.
ARGV[1] '1' to keep history   then per delivered message, seven values: id, claim token,
attempt log entry, callback id ('' for none), callback record, callback body
(when not inline), callback body size
Prevents: a late ack from an expired claim removing a message that is due again or in
flight elsewhere; an ack removing a new message that re-used a deleted id; a callback
stored without its outcome, or an outcome without its callback.
Returns the number removed. ]]
local history = ARGV[1]
local now = now_ms()
local removed = 0
for i = 2, #ARGV, 7 do
  local id = ARGV[i]
  local f = claimed(id, ARGV[i + 1])
  if f then
    redis.call('ZREM', INFLIGHT, id)
    log_attempt(id, ARGV[i + 2])
    remember(id, f, 'delivered', now, history)
    forget(id, f)
    if ARGV[i + 3] ~= '' then
      insert(ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6]), now)
    end
    removed = removed + 1
  end
end
return removed
