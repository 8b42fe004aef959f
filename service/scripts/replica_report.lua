--[[ replica_report: a replica says which layout it runs, and reads which one it should.
KEYS[SCRIPT_KEY_COUNT + 1] the recorded count   KEYS[SCRIPT_KEY_COUNT + 2] the target of a
repartition in progress   KEYS[SCRIPT_KEY_COUNT + 3] the replicas hash (all home partition)
ARGV[1] replica id   ARGV[2] 'start', 'tick' or 'leave'   ARGV[3] at start the configured
count, at a tick the layout the replica runs (`16`, or `1>16` while moving)
ARGV[4] how long the report holds (ms)
Prevents: a repartition moving data while a replica that has not heard of it still writes
where the old count says. Reading the state and listing the replica are one step: a
replica is either listed before the repartition begins (the mover then waits until it
reports the moving layout) or reads that it has begun. A start whose count fits neither
the recorded count nor a repartition in progress is not listed. Entries past their time
(replicas that died) are dropped.
Returns {recorded count or '', target or '', the layout listed or ''}. ]]
local record, target, replicas = KEYS[SCRIPT_KEY_COUNT + 1], KEYS[SCRIPT_KEY_COUNT + 2], KEYS[SCRIPT_KEY_COUNT + 3]
local id, step, value, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()
local entries = redis.call('HGETALL', replicas)
for i = 1, #entries, 2 do
  local expiry = tonumber(string.match(entries[i + 1], '|(%d+)$'))
  if expiry < now then redis.call('HDEL', replicas, entries[i]) end
end
local recorded = redis.call('GET', record) or ''
local moving_to = redis.call('GET', target) or ''
local name = ''
if step == 'start' then
  if moving_to ~= '' and (value == recorded or value == moving_to) then
    name = recorded .. '>' .. moving_to
  elseif moving_to == '' and value == recorded then
    name = recorded
  end
elseif step == 'tick' then
  name = value
end
if name == '' then
  redis.call('HDEL', replicas, id)
else
  redis.call('HSET', replicas, id, name .. '|' .. (now + ttl))
end
return {recorded, moving_to, name}
