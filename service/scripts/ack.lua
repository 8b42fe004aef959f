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

-- First every message still held under its claim, its label indexes and its callback's
-- reached (before any write: _lib.lua, reach_labels); a message whose claim is stale is
-- left alone, and so is its callback (and an id listed twice is settled once).
local held, seen = {}, {}
local callbacks = 3 + 3 * plain
local at = 3
while at <= #ARGV do
  local f = not seen[ARGV[at]] and claimed(ARGV[at], ARGV[at + 1])
  if f then
    seen[ARGV[at]] = true
    reach_labels(f, ':lbl')
    held[#held + 1] = {at, f, at >= callbacks and labelled_record(ARGV[at + 4], ARGV[at + 7])}
  end
  at = at + (at < callbacks and 3 or 8)
end

for _, item in ipairs(held) do
  local i, f, callback = item[1], item[2], item[3]
  local id = ARGV[i]
  redis.call('ZREM', INFLIGHT, id)
  -- The log goes with the message: history gets it, this attempt included.
  local log = redis.call('HGET', LOG, id)
  remember(id, f, 'delivered', now, history, log and (log .. '\n' .. ARGV[i + 2]) or ARGV[i + 2])
  count_fire(f, 'delivered')
  forget(id, f)
  removed = removed + 1
  if i >= callbacks then
    insert(ARGV[i + 3], ARGV[i + 4], callback, ARGV[i + 5], tonumber(ARGV[i + 6]), now)
  end
end
return removed
