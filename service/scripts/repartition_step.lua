--[[ repartition_step: begin or finish a repartition (the recorded count changes here only).
KEYS[SCRIPT_KEY_COUNT + 1] the recorded count   KEYS[SCRIPT_KEY_COUNT + 2] the target of a
repartition in progress   KEYS[SCRIPT_KEY_COUNT + 3] the replicas hash (all home partition)
ARGV[1] 'begin' or 'finish'   ARGV[2] the count expected recorded   ARGV[3] the target
Prevents: two repartitions with different targets at once, and a finish that does not
match the repartition in progress.
Returns {'ok' or 'refused', recorded count, target or '', then the replicas hash
(id, `layout|expiry ms`, ...)}. ]]
local record, target, replicas = KEYS[SCRIPT_KEY_COUNT + 1], KEYS[SCRIPT_KEY_COUNT + 2], KEYS[SCRIPT_KEY_COUNT + 3]
local step, expected, wanted = ARGV[1], ARGV[2], ARGV[3]
local recorded = redis.call('GET', record) or ''
local current = redis.call('GET', target) or ''
local answer = 'refused'
if recorded == expected then
  if step == 'begin' and (current == '' or current == wanted) then
    redis.call('SET', target, wanted)
    answer = 'ok'
  elseif step == 'finish' and current == wanted then
    redis.call('SET', record, wanted)
    redis.call('DEL', target)
    answer = 'ok'
  end
end
local out = {answer, redis.call('GET', record) or '', redis.call('GET', target) or ''}
for _, value in ipairs(redis.call('HGETALL', replicas)) do out[#out + 1] = value end
return out
