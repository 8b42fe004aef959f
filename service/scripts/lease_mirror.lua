#!lua flags=allow-oom
--[[ lease_mirror: the holder's lease value copied into a partition other than the home
one, so that the fenced scripts there check it inside their own slot.
ARGV[1] the holder's lease value (owner:fence)
Prevents: a former holder's fenced writes here once the new holder mirrored itself (a
mirror never replaces one with a higher fence). The holder mirrors at every take and
renewal, before its first fenced write, so two holders' writes never interleave here.
Returns 1 when this partition names the caller, 0 when a newer holder is mirrored. ]]
local value = ARGV[1]
local current = redis.call('GET', LEASE)
if current == value then
  return 1
end
if current and tonumber(string.match(current, ':(%d+)$')) > tonumber(string.match(value, ':(%d+)$')) then
  return 0
end
redis.call('SET', LEASE, value)
return 1
