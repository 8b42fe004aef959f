--[[ page_merged: one page of an index over every partition of one Redis, in one script
call. Not a script by itself: lua.page_merged_source builds it around page.lua, whose body
becomes `page_one(args)`, and `use(n)` binds partition n's keys (and TAG) before each call.
ARGV[1] partitions   ARGV[2] page size   ARGV[3] rows to ask each partition for first
ARGV[4...] page.lua's arguments (its page size and cursor are replaced by each ask's)
Prevents: a page at P partitions costing P script calls, a second round trip when one
partition holds more than its share of the page (it is asked again here, from where it
stopped), and reading or sending rows beyond what is safe to show.
Rows are safe to show up to the bound, as in paging.merged_page (a Cluster's merge): the
lowest point any partition that has not ended has examined to. Unfiltered (no state, no
label), a partition "examines" to its entry at the rank it was asked to reach, read
alone; the rows up to the bound are then counted by rank (ZCOUNT) and read once, exactly.
Filtered, page.lua reads and filters each partition's entries, and rows past the bound
are dropped here. Which rows come first is left to the client: per row, Lua is slow where
the client's sort is not.
Returns {index sizes summed, claims in flight summed, the bound's score and id ('' when
every index ended), then per partition its rows up to the bound, in order, as two
arrays: ids and scores (id, score, id, ...), and their records}. The page is the first
`page size` of all those rows in (score, id) order; it ends at the last of them if there
are that many, else at the bound. ]]
local partitions, limit, first_ask = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local args = {unpack(ARGV, 4)}
local kind, cursor_score, cursor_id = ARGV[4], ARGV[6], ARGV[7]
local unfiltered = ARGV[8] == '' and #ARGV == 9
local MAX_ROUNDS = 4 -- as paging.MAX_ROUNDS

-- (score, id) after (score, id) in index order; scores are numbers here.
local function after(s1, id1, s2, id2)
  if s1 ~= s2 then return s1 > s2 end
  return bytes_before(id2, id1)
end

local function index_key()
  if kind == 'due' then return DUE end
  if kind == 'retrying' then return RETRYING end
  if kind == 'inflight' then return INFLIGHT end
  return DEAD
end

-- Where each partition has looked to ({score number, id, score text}), or false once its
-- index ended.
local frontier = {}
local total, in_flight = 0, 0

-- The frontier of the partition that has looked least far of those not ended.
local function lowest()
  local low = false
  for n = 1, partitions do
    local f = frontier[n]
    if f and (not low or after(low[1], low[2], f[1], f[2])) then low = f end
  end
  return low
end

-- Unfiltered: ranks in each partition's index. Its rows are [start, stop); it has looked
-- to the entry before `reach`.
local start, reach, stop = {}, {}, {}

local function probe(n)
  local got = redis.call('ZRANGE', index_key(), reach[n] - 1, reach[n] - 1, 'WITHSCORES')
  frontier[n] = #got > 0 and {tonumber(got[2]), got[1], got[2]}
end

-- Filtered: each partition's rows read so far, in order: entries[n] (id, score as Redis
-- wrote it, id, ...) and records[n]; kept[n] of them lie up to the bound.
local entries, records, kept = {}, {}, {}

-- Read (filtered) or look (unfiltered) `want` rows further in partition n.
local function ask(n, want)
  use(n)
  if unfiltered then
    if not start[n] then
      local index = index_key()
      total, in_flight = total + redis.call('ZCARD', index), in_flight + redis.call('ZCARD', INFLIGHT)
      start[n] = cursor_score ~= '' and rank_after(index, cursor_score, cursor_id) or 0
      reach[n] = start[n]
    end
    reach[n] = reach[n] + want
    probe(n)
    return
  end
  local read, first = entries[n], not entries[n]
  args[2] = want
  if first then
    args[3], args[4] = cursor_score, cursor_id
    read = {}
    entries[n], records[n] = read, {}
  else
    args[3], args[4] = frontier[n][3], frontier[n][2]
  end
  local answer = page_one(args)
  if first then total, in_flight = total + answer[1], in_flight + answer[2] end
  local got = records[n]
  for i = 5, #answer, 3 do
    read[#read + 1], read[#read + 2] = answer[i], answer[i + 1]
    got[#got + 1] = answer[i + 2]
  end
  frontier[n] = answer[3] ~= '' and {tonumber(answer[3]), answer[4], answer[3]}
end

-- How many rows lie up to `bound` (everything read or left when it is false), over all
-- partitions.
local function count_safe(bound)
  local sum = 0
  for n = 1, partitions do
    if unfiltered then
      if not bound then
        stop[n] = nil -- every index ended: to the end of each
      elseif bound == frontier[n] then -- (the bound's own partition)
        stop[n] = reach[n]
      else
        use(n)
        stop[n] = math.max(start[n], rank_past(index_key(), bound[3], bound[2]))
      end
      sum = sum + (stop[n] or start[n]) - start[n]
    else
      local read = entries[n]
      local last = #read / 2
      if bound then
        local score, id = bound[1], bound[2]
        while last > 0 do
          local s = tonumber(read[2 * last])
          if s < score or (s == score and not bytes_before(id, read[2 * last - 1])) then break end
          last = last - 1
        end
      end
      kept[n] = last
      sum = sum + last
    end
  end
  return sum
end

for n = 1, partitions do
  ask(n, first_ask)
end

-- While the rows up to the bound do not fill the page, the partition that sets the bound
-- (it holds more of the page than it was asked for) is asked for another share.
-- Unfiltered, an ask reads one entry: as many as paging.MAX_ROUNDS rounds would make.
-- Filtered, each examines up to ARGV[9] entries and the first round already examined
-- up to PAGE_EXAMINE over all partitions: a quarter more at most, so that one call holds
-- Redis about as long as one partition's page does (four rounds' worth held it four
-- times as long: `python -m bench.page_cost`, its sparse filter figure).
local low = lowest()
local safe = count_safe(low)
local asks_again = unfiltered and (MAX_ROUNDS - 1) * partitions or math.ceil(partitions / 4)
for _ = 1, asks_again do
  if safe >= limit or not low then break end
  for n = 1, partitions do
    if frontier[n] == low then
      ask(n, first_ask)
      break
    end
  end
  low = lowest()
  safe = count_safe(low)
end

local out = {total, in_flight, '', ''}
if low then out[3], out[4] = low[3], low[2] end
for n = 1, partitions do
  local rows, raws = {}, {}
  if unfiltered then
    local last = stop[n] and stop[n] - 1 or -1
    if last < 0 or last >= start[n] then
      use(n)
      rows = redis.call('ZRANGE', index_key(), start[n], last, 'WITHSCORES')
      if #rows > 0 then
        local ids = {}
        for i = 1, #rows / 2 do ids[i] = rows[2 * i - 1] end
        raws = redis.call('HMGET', MSGS, unpack(ids))
      end
    end
  else
    rows, raws = entries[n], records[n]
    for i = #raws, kept[n] + 1, -1 do
      rows[2 * i], rows[2 * i - 1], raws[i] = nil, nil, nil
    end
  end
  out[3 + 2 * n], out[4 + 2 * n] = rows, raws
end
return out
