--[[ lease_release: give the lease up on shutdown so another replica takes it at once.
KEYS[1] lease   ARGV[1] lease value of the caller (owner:fence)
Returns 1 when released, 0 when the caller did not hold it. ]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
