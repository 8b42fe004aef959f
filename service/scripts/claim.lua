#!lua flags=allow-oom
--[[ claim: move due messages to the in-flight set and return them to this caller only.
ARGV[1] max messages   ARGV[2] claim timeout ms   ARGV[3] the claimer ('' for none: a
replica's delivery loop, named once per process)   ARGV[4] this request's id, new for
every claim the claimer makes in this partition, the same when it asks again because
no answer came
Prevents: two replicas sending the same attempt (a message leaves the due index and
gets a fresh claim token in one step), and a batch whose answer was lost (a dropped
connection or a timeout after the script ran) waiting in flight until its claim expires:
the batch is kept per claimer (CLAIMS: claimer -> `expiry ms:request:` then cmsgpack
{token, id, due ms, id, due ms, ...}, one field per claimer, replaced by its next batch
and dropped by recover once expired; a request id holds no ':'), and the same request
asked again answers the
messages of that batch still held under its token, claiming nothing new. Time is the
Redis server's, so every replica agrees on what is due. Label indexes keep the
attempt's due time while it is in flight.
Returns {now ms, next due ms or -1, then per message: id, due ms of this attempt,
metadata record (state i, attempts + 1, claim token), body when it is not inline in
the record (else '')}. An index entry without a record is dropped. ]]
local limit, timeout = tonumber(ARGV[1]), tonumber(ARGV[2])
local claimer, request = ARGV[3] or '', ARGV[4] or ''
local now = now_ms()
local out = {now, -1}

local function answer(id, due, meta, f)
  local n = #out
  out[n + 1] = id
  out[n + 2] = due
  out[n + 3] = meta
  out[n + 4] = f[F_BODY] == '' and (redis.call('HGET', BODIES, id) or '\n') or ''
end

local function next_due()
  local nxt = redis.call('ZRANGE', DUE, 0, 0, 'WITHSCORES')
  if nxt[2] then
    out[2] = tonumber(nxt[2])
  end
  return out
end

if claimer ~= '' then
  -- Only the request is compared on every claim; the batch is unpacked when it matches.
  local kept = redis.call('HGET', CLAIMS, claimer)
  local expiry, asked = string.match(kept or '', '^(%d+):([^:]*):')
  if asked == request then
    -- This request ran before; its answer never arrived. The same batch again.
    local batch = cmsgpack.unpack(string.sub(kept, #expiry + #asked + 3))
    local token = batch[1]
    for i = 2, #batch, 2 do
      local meta = redis.call('HGET', MSGS, batch[i])
      local f = meta and meta_read(meta)
      if f and f[F_STATE] == 'i' and f[F_CLAIM] == token then
        answer(batch[i], batch[i + 1], meta, f)
      end
    end
    return next_due()
  end
end

local due = redis.call('ZRANGEBYSCORE', DUE, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
if #due > 0 then
  local token = b36(redis.call('INCR', SEQ))
  local expires = now + timeout
  local batch = {token}
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
      answer(id, due[i + 1], meta, f)
      batch[#batch + 1], batch[#batch + 2] = id, due[i + 1]
    end
  end
  if claimer ~= '' and #batch > 1 then
    redis.call('HSET', CLAIMS, claimer, expires .. ':' .. request .. ':' .. cmsgpack.pack(batch))
  end
end
return next_due()
