#!lua flags=allow-oom
--[[ recover: return expired claims (their replica died or hung) to the due index.
ARGV[1] lease value of the caller (owner:fence)   ARGV[2] max entries
Prevents: a former lease holder, paused past its lease, acting after another replica
took over (fenced); the expired claim's token is cleared, so its replica can no
longer settle it if it wakes up.
Returns the number of claims returned, or -1 when the caller does not hold the lease. ]]
local lease, limit = ARGV[1], tonumber(ARGV[2])
if not holds_lease(lease) then
  return -1
end
local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', INFLIGHT, '-inf', now, 'LIMIT', 0, limit)
-- Every record read and its label indexes reached before the first write (_lib.lua).
local records = {}
for n, id in ipairs(ids) do
  local raw = redis.call('HGET', MSGS, id)
  records[n] = raw and meta_read(raw)
  if raw then reach_labels(records[n], ':lbl') end
end
for n, id in ipairs(ids) do
  redis.call('ZREM', INFLIGHT, id)
  local f = records[n]
  if f then
    f[F_STATE] = 'p'
    f[F_CLAIM] = ''
    f[F_ERROR] = 'claim expired: the delivering replica stopped before settling'
    redis.call('HSET', MSGS, id, meta_write(f))
    redis.call('ZADD', DUE, now, id)
    redis.call('ZADD', RETRYING, now, id)
    index_labels(f, id, ':lbl', now)
  end
end
-- The batches claim.lua keeps for its claimers, once their claims have expired: asked
-- again, such a claim would find none of its messages held any more.
local kept = redis.call('HGETALL', CLAIMS)
for i = 1, #kept, 2 do
  if tonumber(string.match(kept[i + 1], '^(%d+):')) <= now then
    redis.call('HDEL', CLAIMS, kept[i])
  end
end
return #ids
