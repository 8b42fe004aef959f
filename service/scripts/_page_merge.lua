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
label), each partition's share is read with its scores (ZRANGE by rank) and only the
records of the rows up to the bound are read (HMGET); filtered, page.lua reads and
filters each partition's entries. Either way, rows past the bound are dropped here, and
a partition with none up to it sends none. Which rows come first is left to the client:
per row, Lua is slow where the client's sort is not.
Returns {index sizes summed, claims in flight summed, the bound's score and id ('' when
every index ended), then every row up to the bound as page.lua answers its rows (id,
score, record), partition after partition, each in order}. The page is the first `page
size` of those rows in (score, id) order; it ends at the last of them if there are that
many, else at the bound. ]]
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

-- Each partition's rows read so far, in order: entries[n] (id, score as Redis wrote it,
-- id, ...); filtered, with their records (records[n]); kept[n] of them lie up to the
-- bound. Unfiltered, rank[n] is where partition n's next read starts.
local entries, records, kept, rank = {}, {}, {}, {}

-- Read `want` more rows of partition n (filtered: examine entries until it has them).
local function ask(n, want)
  use(n)
  local read = entries[n]
  if unfiltered then
    local index = index_key()
    if not read then
      total, in_flight = total + redis.call('ZCARD', index), in_flight + redis.call('ZCARD', INFLIGHT)
      rank[n] = cursor_score ~= '' and rank_after(index, cursor_score, cursor_id) or 0
    end
    -- The rows themselves, with their scores: a partition's share of a page is a few
    -- rows, and reading them is cheaper than finding by rank where they stop (a probe and
    -- a count per partition, and the count again for all of them after each new ask).
    local got = redis.call('ZRANGE', index, rank[n], rank[n] + want - 1, 'WITHSCORES')
    if not read then
      entries[n] = got
    else
      for i = 1, #got do read[#read + 1] = got[i] end
    end
    rank[n] = rank[n] + #got / 2
    frontier[n] = #got == 2 * want and {tonumber(got[#got]), got[#got - 1], got[#got]}
    return
  end
  local first = not read
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

-- How many rows lie up to `bound` (everything read when it is false), over all
-- partitions. The bound only rises (a partition asked again looks further), so each
-- partition's count only grows: a binary search among the rows past its last count.
local function count_safe(bound)
  local sum = 0
  for n = 1, partitions do
    local read = entries[n]
    local lo, hi = kept[n] or 0, #read / 2
    if bound and bound ~= frontier[n] then -- (the bound's own rows all lie up to it)
      local score, id = bound[1], bound[2]
      while lo < hi do -- the first row past the bound lies in (lo, hi + 1]
        local mid = math.floor((lo + hi + 1) / 2)
        local s = tonumber(read[2 * mid])
        if s < score or (s == score and not bytes_before(id, read[2 * mid - 1])) then
          lo = mid
        else
          hi = mid - 1
        end
      end
    else
      lo = hi
    end
    kept[n] = lo
    sum = sum + lo
  end
  return sum
end

for n = 1, partitions do
  ask(n, first_ask)
end

-- While the rows up to the bound do not fill the page, the partition that sets the bound
-- (it holds more of the page than it was asked for) is asked for another share.
-- Unfiltered, an ask reads a share: as many as paging.MAX_ROUNDS rounds would make.
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

local out, at = {total, in_flight, '', ''}, 4
if low then out[3], out[4] = low[3], low[2] end
for n = 1, partitions do
  local rows, raws, keep = entries[n], records[n], kept[n]
  if keep > 0 then
    if not raws then -- unfiltered: the records of the rows kept, and only those
      local ids = {}
      for i = 1, keep do ids[i] = rows[2 * i - 1] end
      use(n)
      raws = redis.call('HMGET', MSGS, unpack(ids))
    end
    for i = 1, keep do
      out[at + 1], out[at + 2], out[at + 3] = rows[2 * i - 1], rows[2 * i], raws[i]
      at = at + 3
    end
  end
end
return out
