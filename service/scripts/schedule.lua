--[[ schedule: store a new message, index it by due time and by its labels.
ARGV[1] id   ARGV[2] metadata record (with the body inline when it is small)
ARGV[3] body when it is not inline, else ''   ARGV[4] body size in bytes   ARGV[5] due ms
ARGV[6] max stored messages (0: no limit)   ARGV[7] max stored body bytes (0: no limit)
ARGV[8] '1' when the message has labels
Prevents: two POSTs with one id both succeeding (the existence check and the write
are one step), a quota being overrun by concurrent POSTs, and this call run twice
storing its message twice. A call whose answer was lost on the way is sent again by
the client (a Cluster client drops every connection, in use or not, when it refreshes
its slot map): the second run finds its own message, pending or, when it was
delivered meanwhile, in history, by its incarnation (new for every request), and
answers 1 again without storing anything; before, it answered 0 (a 409 for a message
that was stored) or stored a delivered message again, which was sent twice. An id
that exists only in history from another request is free: the new message replaces
its history.
Returns 1 stored (now or by this call's earlier run), 0 the id exists (pending, in
flight or dead-lettered), -1 over the message quota, -2 over the byte quota. Waking the
delivery loop is the caller's business. ]]
local id, meta, body, size, due = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local max_messages, max_bytes = tonumber(ARGV[6]), tonumber(ARGV[7])
local stored = redis.call('HGET', MSGS, id)
if stored then
  if meta_read(stored)[F_INC] == meta_read(meta)[F_INC] then return 1 end
  return 0
end
local finished = redis.call('HGET', HIST, id)
if finished and cjson.decode(finished).i == meta_read(meta)[F_INC] then
  return 1
end
if max_messages > 0 and redis.call('HLEN', MSGS) >= max_messages then
  return -1
end
if max_bytes > 0 and tonumber(redis.call('GET', BYTES) or '0') + size > max_bytes then
  return -2
end
insert(id, meta, labelled_record(meta, ARGV[8]), body, size, due)
return 1
