#!lua flags=allow-oom
--[[ lease_release: give the lease up on shutdown so another replica takes it at once.
ARGV[1] lease value of the caller (owner:fence)
Prevents: releasing a lease someone else took meanwhile.
Returns 1 when released, 0 when the caller did not hold it. ]]
if holds_lease(ARGV[1]) then
  return redis.call('DEL', LEASE)
end
return 0
