--[[ schedule: store a new message, index it by due time and by its labels.
ARGV[1] id   ARGV[2] metadata record (with the body inline when it is small)
ARGV[3] body when it is not inline, else ''   ARGV[4] body size in bytes   ARGV[5] due ms
ARGV[6] max stored messages (0: no limit)   ARGV[7] max stored body bytes (0: no limit)
ARGV[8] '1' when the message has labels
Prevents: two POSTs with one id both succeeding (the existence check and the write
are one step), and a quota being overrun by concurrent POSTs. An id that exists only
in history is free: the new message replaces its history.
Returns 1 stored, 0 the id exists (pending, in flight or dead-lettered), -1 over the
message quota, -2 over the byte quota. Waking the delivery loop is the caller's business. ]]
local id, meta, body, size, due = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local max_messages, max_bytes = tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('HEXISTS', MSGS, id) == 1 then
  return 0
end
if max_messages > 0 and redis.call('HLEN', MSGS) >= max_messages then
  return -1
end
if max_bytes > 0 and tonumber(redis.call('GET', BYTES) or '0') + size > max_bytes then
  return -2
end
insert(id, meta, body, size, due, ARGV[8])
return 1
