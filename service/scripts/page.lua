#!lua flags=no-writes
--[[ page: one page of an index in score order, with each row's metadata, filtered.
ARGV[1] index: due, retrying, inflight, dead, lbl (live messages with a label) or dlbl
(dead letters with a label)   ARGV[2] page size   ARGV[3] cursor score ('' for the
first page)   ARGV[4] cursor id   ARGV[5] state the rows must be in: '' (any), p
(pending), s (scheduled: pending, never attempted), r (retrying), i (in flight), d
(dead)   ARGV[6] most entries to examine   ARGV[7...] labels `name=value` every row
must carry; with index lbl or dlbl the first of them names the index
Prevents: a page that skips or repeats entries when the cursor's entry has gone meanwhile
or lives in another partition (it starts at the first entry after the cursor's score and
id, rank_after), and a filtered listing that reads the whole store (it walks one index,
at most ARGV[6] entries per call). Bodies stored apart are never read.
Returns {index size, claims in flight in the partition (GET /messages shows their count),
score and id of the last entry examined ('' when the index ended), then per row: id,
score, metadata record}. ]]
local kind, limit, cursor_score, cursor_id = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local state, budget = ARGV[5], tonumber(ARGV[6])
local wanted = {}
for i = 7, #ARGV do
  local name, value = string.match(ARGV[i], '^([^=]+)=(.*)$')
  wanted[#wanted + 1] = {name, value}
end
local indexes = {due = DUE, retrying = RETRYING, inflight = INFLIGHT, dead = DEAD}
local index = indexes[kind]
if not index then
  index = label_key(':' .. kind, wanted[1][1], wanted[1][2])
end

local function matches(f)
  local s = f[F_STATE]
  if state == 's' and (s ~= 'p' or f[F_ATTEMPTS] ~= '0') then return false end
  if state == 'r' and (s ~= 'p' or f[F_ATTEMPTS] == '0') then return false end
  if (state == 'p' or state == 'i' or state == 'd') and s ~= state then return false end
  if #wanted == 0 then return true end
  local labels = labels_of(f) or {}
  for _, pair in ipairs(wanted) do
    if labels[pair[1]] ~= pair[2] then return false end
  end
  return true
end

local unfiltered = state == '' and #wanted == 0

local start = 0
if cursor_score ~= '' then
  start = rank_after(index, cursor_score, cursor_id)
end
local out = {redis.call('ZCARD', index), redis.call('ZCARD', INFLIGHT), '', ''}
local found, examined = 0, 0
while found < limit and examined < budget do
  -- Unfiltered, every entry is a row: read no more than the page needs (a merged page
  -- asks each partition for a few rows); filtered, read ahead in batches.
  local wanted_rows = limit - found
  if not unfiltered then wanted_rows = math.max(wanted_rows, 100) end
  local batch = math.min(budget - examined, wanted_rows)
  local entries = redis.call('ZRANGE', index, start, start + batch - 1, 'WITHSCORES')
  if #entries == 0 then
    out[3], out[4] = '', ''
    return out
  end
  local count, done = #entries / 2, 0
  while done < count do
    -- Records by HMGET, as many at a time as rows are still missing (all of an
    -- unfiltered batch at once): one call instead of one HGET per entry. Filtered, at
    -- least 25: most entries may not match, and a merged page asks each partition for
    -- a row or two (HMGETs of one or two records made a sparse filter's page at 16
    -- partitions about 1.5 times as slow: `python -m bench.page_cost`).
    local ids = {}
    local take = limit - found
    if not unfiltered then take = math.max(take, 25) end
    for i = done + 1, math.min(count, done + take) do
      ids[#ids + 1] = entries[2 * i - 1]
    end
    local records = redis.call('HMGET', MSGS, unpack(ids))
    for j = 1, #ids do
      local i = 2 * (done + j) - 1
      examined = examined + 1
      out[3], out[4] = entries[i + 1], entries[i]
      local raw = records[j]
      if raw and (unfiltered or matches(meta_read(raw))) then
        out[#out + 1] = entries[i]
        out[#out + 1] = entries[i + 1]
        out[#out + 1] = raw
        found = found + 1
        if found == limit then return out end
      end
    end
    done = done + #ids
  end
  start = start + count
end
return out
