--[[ claim: move due messages to the in-flight set and return them to this caller only.
KEYS[1] due index   KEYS[2] in-flight set
ARGV[1] max messages   ARGV[2] claim timeout ms   ARGV[3] message key prefix
Time is the Redis server's, so every replica agrees on what is due.
Returns {now ms, next due ms or -1, then per message: id, due ms of this attempt,
payload, url, attempt, created, trace}. An index entry whose hash is gone (deleted) is dropped. ]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local expires = now + tonumber(ARGV[2])
local out = {now, -1}
for i = 1, #due, 2 do
  local id = due[i]
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[3] .. id
  local f = redis.call('HMGET', key, 'p', 'u', 'c', 't')
  if f[1] then
    local attempt = redis.call('HINCRBY', key, 'a', 1)
    redis.call('HSET', key, 's', 'i')
    redis.call('ZADD', KEYS[2], expires, id)
    table.insert(out, id)
    table.insert(out, due[i + 1])
    table.insert(out, f[1])
    table.insert(out, f[2])
    table.insert(out, attempt)
    table.insert(out, f[3])
    table.insert(out, f[4] or '')
  end
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if nxt[2] then
  out[2] = tonumber(nxt[2])
end
return out
