#!lua flags=no-writes
--[[ stats: sizes of the indexes and of the store, read in one step so they agree.
No ARGV. Returns {pending, in flight, dead, stored messages, stored body bytes,
retrying, history records, recurring schedules}. ]]
return {
  redis.call('ZCARD', DUE),
  redis.call('ZCARD', INFLIGHT),
  redis.call('ZCARD', DEAD),
  redis.call('HLEN', MSGS),
  tonumber(redis.call('GET', BYTES) or '0'),
  redis.call('ZCARD', RETRYING),
  redis.call('ZCARD', HISTIDX),
  redis.call('HLEN', SCHED),
}
