--[[ stats: the sizes of the due index, the in-flight set and the dead-letter set.
KEYS[1] due index   KEYS[2] in-flight set   KEYS[3] dead-letter set
Returns {pending, in flight, dead}. ]]
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3])}
