#!lua flags=allow-oom
--[[ claim: move due messages to the in-flight set and return them to this caller only.
ARGV[1] max messages   ARGV[2] claim timeout ms
Prevents: two replicas sending the same attempt (a message leaves the due index and
gets a fresh claim token in one step). Time is the Redis server's, so every replica
agrees on what is due. Label indexes keep the attempt's due time while it is in flight.
Returns {now ms, next due ms or -1, then per message: id, due ms of this attempt,
metadata record (state i, attempts + 1, claim token), body when it is not inline in
the record (else '')}. An index entry without a record is dropped. ]]
local limit, timeout = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', DUE, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
local out = {now, -1}
if #due > 0 then
  local token = b36(redis.call('INCR', SEQ))
  local expires = now + timeout
  for i = 1, #due, 2 do
    local id = due[i]
    redis.call('ZREM', DUE, id)
    redis.call('ZREM', RETRYING, id)
    local raw = redis.call('HGET', MSGS, id)
    if raw then
      local f = meta_read(raw)
      f[F_ATTEMPTS] = tostring(tonumber(f[F_ATTEMPTS]) + 1)
      f[F_STATE] = 'i'
      f[F_CLAIM] = token
      local meta = meta_write(f)
      redis.call('HSET', MSGS, id, meta)
      redis.call('ZADD', INFLIGHT, expires, id)
      local n = #out
      out[n + 1] = id
      out[n + 2] = due[i + 1]
      out[n + 3] = meta
      out[n + 4] = f[F_BODY] == '' and (redis.call('HGET', BODIES, id) or '\n') or ''
    end
  end
end
local nxt = redis.call('ZRANGE', DUE, 0, 0, 'WITHSCORES')
if nxt[2] then
  out[2] = tonumber(nxt[2])
end
return out
