#!lua flags=no-writes
--[[ sched_page: one page of recurring schedules by creation time, with their
definitions, filtered by labels.
ARGV[1] page size   ARGV[2] cursor score ('' for the first page)   ARGV[3] cursor id
ARGV[4] most entries to examine   ARGV[5...] labels `name=value` every row must carry
Prevents: a listing that reads every schedule for one filter (at most ARGV[4] a call),
and one that skips or repeats schedules after a cursor from another partition (rank_after).
Returns {schedules in all, score and id of the last entry examined ('' at the end),
then per row: id, score, stored definition}. ]]
local limit, cursor_score, cursor_id, budget = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
local wanted = {}
for i = 5, #ARGV do
  local name, value = string.match(ARGV[i], '^([^=]+)=(.*)$')
  wanted[#wanted + 1] = {name, value}
end

local function matches(raw)
  if #wanted == 0 then return true end
  local definition = cjson.decode(string.sub(raw, string.find(raw, '\n', 1, true) + 1))
  local labels = definition.opts ~= '' and (cjson.decode(definition.opts).L or {}) or {}
  for _, pair in ipairs(wanted) do
    if labels[pair[1]] ~= pair[2] then return false end
  end
  return true
end

local start = 0
if cursor_score ~= '' then
  start = rank_after(SCHEDALL, cursor_score, cursor_id)
end
local out = {redis.call('ZCARD', SCHEDALL), '', ''}
local found, examined = 0, 0
while found < limit and examined < budget do
  local entries = redis.call('ZRANGE', SCHEDALL, start, start + math.max(limit, 100) - 1, 'WITHSCORES')
  if #entries == 0 then
    out[2], out[3] = '', ''
    return out
  end
  for i = 1, #entries, 2 do
    examined = examined + 1
    out[2], out[3] = entries[i + 1], entries[i]
    local raw = redis.call('HGET', SCHED, entries[i])
    if raw and matches(raw) then
      out[#out + 1] = entries[i]
      out[#out + 1] = entries[i + 1]
      out[#out + 1] = raw
      found = found + 1
      if found == limit then return out end
    end
  end
  start = start + #entries / 2
end
return out
