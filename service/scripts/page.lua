--[[ page: one page of a sorted set in score order, with each message's summary.
KEYS[1] sorted set (due index or dead-letter set)   KEYS[2] messages hash
ARGV[1] page size   ARGV[2] cursor score ('' for the first page)   ARGV[3] cursor id
The page starts right after the cursor's entry. When that entry has gone, it starts at
the first entry with the cursor's score (an entry may then show twice, none is skipped).
Returns {total, then per entry: id, score, url, attempts, last error}. ]]
-- @include record
local limit = tonumber(ARGV[1])
local start = 0
if ARGV[2] ~= '' then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[3])
  if score and tonumber(score) == tonumber(ARGV[2]) then
    start = redis.call('ZRANK', KEYS[1], ARGV[3]) + 1
  else
    start = redis.call('ZCOUNT', KEYS[1], '-inf', '(' .. ARGV[2])
  end
end
local out = {redis.call('ZCARD', KEYS[1])}
local rows = redis.call('ZRANGE', KEYS[1], start, start + limit - 1, 'WITHSCORES')
for i = 1, #rows, 2 do
  local raw = redis.call('HGET', KEYS[2], rows[i])
  local url, attempts, err = '', '0', ''
  if raw then
    local f = record_read(raw)
    url, attempts, err = f[URL], f[ATTEMPTS], f[ERROR]
  end
  local n = #out
  out[n + 1] = rows[i]
  out[n + 2] = rows[i + 1]
  out[n + 3] = url
  out[n + 4] = attempts
  out[n + 5] = err
end
return out
