--[[ claim: move due messages to the in-flight set and return them to this caller only.
KEYS[1] messages hash   KEYS[2] due index   KEYS[3] in-flight set
ARGV[1] max messages   ARGV[2] claim timeout ms
Time is the Redis server's, so every replica agrees on what is due.
Returns {now ms, next due ms or -1, then per message: id, due ms of this attempt,
payload, url, attempt, created, trace}. An index entry without a record is dropped. ]]
-- @include record
local now = redis_now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local expires = now + tonumber(ARGV[2])
local out = {now, -1}
for i = 1, #due, 2 do
  local id = due[i]
  redis.call('ZREM', KEYS[2], id)
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then
    local f = record_read(raw)
    f[ATTEMPTS] = tostring(tonumber(f[ATTEMPTS]) + 1)
    f[STATE] = 'i'
    redis.call('HSET', KEYS[1], id, record_write(f, raw))
    redis.call('ZADD', KEYS[3], expires, id)
    local n = #out
    out[n + 1] = id
    out[n + 2] = due[i + 1]
    out[n + 3] = record_payload(raw, f)
    out[n + 4] = f[URL]
    out[n + 5] = f[ATTEMPTS]
    out[n + 6] = f[CREATED]
    out[n + 7] = f[TRACE]
  end
end
local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if nxt[2] then
  out[2] = tonumber(nxt[2])
end
return out
