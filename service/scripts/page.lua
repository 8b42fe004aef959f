#!lua flags=no-writes
--[[ page: one page of the due index or the dead letters in score order, with metadata.
ARGV[1] 'due' or 'dead'   ARGV[2] page size   ARGV[3] cursor score ('' for the first
page)   ARGV[4] cursor id
Prevents: a page that skips entries when the cursor's entry has gone meanwhile (it
then starts at the first entry with the cursor's score: an entry may show twice,
none is skipped). Bodies stored apart (all but the small ones) are never read, so a
page costs the same whatever the payload sizes.
Returns {total, then per entry: id, score, metadata record}. ]]
local index = ARGV[1] == 'dead' and DEAD or DUE
local limit, cursor_score, cursor_id = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local start = 0
if cursor_score ~= '' then
  local score = redis.call('ZSCORE', index, cursor_id)
  if score and tonumber(score) == tonumber(cursor_score) then
    start = redis.call('ZRANK', index, cursor_id) + 1
  else
    start = redis.call('ZCOUNT', index, '-inf', '(' .. cursor_score)
  end
end
local out = {redis.call('ZCARD', index)}
local rows = redis.call('ZRANGE', index, start, start + limit - 1, 'WITHSCORES')
for i = 1, #rows, 2 do
  local raw = redis.call('HGET', MSGS, rows[i])
  if raw then
    local n = #out
    out[n + 1] = rows[i]
    out[n + 2] = rows[i + 1]
    out[n + 3] = raw
  end
end
return out
