--[[ Shared by every script; the store puts it after the generated prelude that names
the keys (MSGS, BODIES, DUE, ...; see service/keys.py SCRIPT_KEYS) and the metadata
field positions (F_DUE, F_CREATED, ... F_BODY; see service/records.py META_FIELDS). ]]

local function meta_read(raw)
  local f, pos = {}, 1
  for i = 1, META_FIELDS - 1 do
    local stop = string.find(raw, '\n', pos, true)
    f[i] = string.sub(raw, pos, stop - 1)
    pos = stop + 1
  end
  f[META_FIELDS] = string.sub(raw, pos)
  return f
end

local function meta_write(f)
  -- An error text comes from a webhook's answer: it must not break the record apart.
  f[F_ERROR] = string.sub(string.gsub(f[F_ERROR], '[\r\n]', ' '), 1, 500)
  return table.concat(f, '\n', 1, META_FIELDS)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function b36(n)
  if n == 0 then return '0' end
  local out, neg = '', n < 0
  if neg then n = -n end
  while n > 0 do
    local r = n % 36
    out = string.sub(DIGITS, r + 1, r + 1) .. out
    n = (n - r) / 36
  end
  return neg and ('-' .. out) or out
end

local function holds_lease(value)
  return redis.call('GET', LEASE) == value
end

-- Options are compact JSON (records.py); only labels matter to Redis. Kept in the parsed
-- record (as `labels`, false for none): the scripts look at a record's label indexes
-- before writing and touch them again when writing, and decoding twice would cost the
-- settle path.
local function labels_of(f)
  if f.labels == nil then
    f.labels = f[F_OPTS] ~= '' and cjson.decode(f[F_OPTS]).L or false
  end
  return f.labels or nil
end

-- Label indexes share the partition's hash tag: `<tag>::lbl:<key>=<value>` holds live
-- messages (pending or in flight) by next due time, `<tag>::dlbl:...` dead letters by
-- the time they died (two colons: TAG keeps the one before 'msgs'; keys.Keys.label
-- names them the same way). Keys are built here from MSGS, which ends in ':msgs'.
local TAG = string.sub(MSGS, 1, #MSGS - 4)
local function label_key(kind, name, value)
  return TAG .. kind .. ':' .. name .. '=' .. value
end

local function index_labels(f, id, kind, score)
  local labels = labels_of(f)
  if not labels then return end
  for name, value in pairs(labels) do
    if score then
      redis.call('ZADD', label_key(kind, name, value), score, id)
    else
      redis.call('ZREM', label_key(kind, name, value), id)
    end
  end
end

-- The attempts log: JSON entries (made by the service) joined by newlines, last 20 kept.
local MAX_LOGGED = 20
local function log_attempt(id, entry)
  if entry == '' then return end
  local log = redis.call('HGET', LOG, id)
  log = log and (log .. '\n' .. entry) or entry
  local _, lines = string.gsub(log, '\n', '')
  while lines >= MAX_LOGGED do
    log = string.sub(log, string.find(log, '\n', 1, true) + 1)
    lines = lines - 1
  end
  redis.call('HSET', LOG, id, log)
end

-- Keep what is left of a finished message, for GET /messages/{id}: no payload, no
-- header values. The housekeeper trims it by age and count. `request` (optional) names
-- the call that finished it, so that the same call sent again recognises its own work.
local function remember(id, f, state, now, enabled, log, request)
  if enabled ~= '1' then return end
  local record = cjson.encode({
    st = state, d = f[F_DUE], c = f[F_CREATED], f = b36(now), n = tonumber(f[F_ATTEMPTS]),
    u = f[F_URL], e = f[F_ERROR], o = f[F_OPTS], i = f[F_INC],
    a = log or redis.call('HGET', LOG, id) or '', q = request,
  })
  redis.call('HSET', HIST, id, record)
  redis.call('ZADD', HISTIDX, now, id)
end

-- Delete a message's record, body (inline in `f`, or in BODIES) and attempts log, take
-- its body off the byte count, and drop it from every label index.
local function forget(id, f)
  local size = #f[F_BODY]
  if size == 0 then
    size = redis.call('HSTRLEN', BODIES, id)
    redis.call('HDEL', BODIES, id)
  end
  redis.call('HDEL', MSGS, id)
  redis.call('HDEL', LOG, id)
  redis.call('DECRBY', BYTES, size)
  index_labels(f, id, f[F_STATE] == 'd' and ':dlbl' or ':lbl', nil)
end

-- Looks at every label index of `f` (of `kind`) before a script writes anything. On a
-- Cluster node whose slot is migrating, an index that has moved away (or is new) stops
-- the script where it is first touched: stopped here, before its first write, the script
-- has done nothing, and the caller tries again once the slot has moved (store_errors:
-- cluster_down). Stopped at index_labels, after a message's own writes, it would leave
-- the message half changed: stored without its label entries, settled with a stale
-- one, or (in ack and dead_letter) settled without the callback it was to store. So
-- every script that writes label indexes first reaches every one it will touch. Only a
-- Cluster migrates slots: on one Redis, lua.Scripts builds this as a no-op.
local function reach_labels(f, kind)
  local labels = labels_of(f)
  if not labels then return end
  for name, value in pairs(labels) do
    redis.call('EXISTS', label_key(kind, name, value))
  end
end

-- reach_labels for the indexes a message sits in now: dead letters', or live messages'.
local function reach_own_labels(f)
  reach_labels(f, f[F_STATE] == 'd' and ':dlbl' or ':lbl')
end

-- A new message's parsed record when it has labels (`labelled` is '1': only then is it
-- parsed), its label indexes reached; false otherwise. insert() takes it.
local function labelled_record(meta, labelled)
  if labelled ~= '1' then return false end
  local f = meta_read(meta)
  reach_labels(f, ':lbl')
  return f
end

-- Store a new message (also callbacks, which the settle scripts create). `f` is its
-- parsed record from labelled_record, or false; a script that writes anything before
-- calling insert calls labelled_record before its first write.
local function insert(id, meta, f, body, size, due)
  redis.call('HSET', MSGS, id, meta)
  if body ~= '' then
    redis.call('HSET', BODIES, id, body)
  end
  redis.call('INCRBY', BYTES, size)
  redis.call('ZADD', DUE, due, id)
  if f then
    index_labels(f, id, ':lbl', due)
  end
  -- An id reborn after it finished is a new message: its history goes (its entry in
  -- HISTIDX stays; when it finishes again, ZADD moves that entry to the new time).
  redis.call('HDEL', HIST, id)
end

-- The record of a message held under the claim `token`, or nil. Settling needs it:
-- a claim that expired (and was recovered, or claimed again) must not settle.
local function claimed(id, token)
  local raw = redis.call('HGET', MSGS, id)
  if not raw then return nil end
  local f = meta_read(raw)
  if f[F_STATE] ~= 'i' or f[F_CLAIM] ~= token then return nil end
  return f
end

-- A fire of a recurring schedule (options `s`) counts towards its schedule's figures.
local function count_fire(f, outcome)
  if f[F_OPTS] == '' then return end
  local schedule = cjson.decode(f[F_OPTS]).s
  if not schedule then return end
  redis.call('HINCRBY', SCHEDSTAT, schedule .. ':' .. outcome, 1)
  redis.call('HSET', SCHEDSTAT, schedule .. ':last', f[F_DUE])
end

-- Fires of a schedule not yet due and never attempted are dropped (a pause, an edit or a
-- delete takes effect from the next fire); fires already due or in flight finish.
-- Two steps, so that a script finds every fire and reaches its label indexes
-- (future_fires) before it writes anything, then drops them (drop_fires).
local function future_fires(schedule, now)
  local index = label_key(':lbl', 'schedule', schedule)
  local fires = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', index, '(' .. now, '+inf')) do
    local raw = redis.call('HGET', MSGS, id)
    if raw then
      local f = meta_read(raw)
      if f[F_STATE] == 'p' and f[F_ATTEMPTS] == '0' then
        reach_labels(f, ':lbl')
        fires[#fires + 1] = {id, f}
      end
    end
  end
  return fires
end

local function drop_fires(fires)
  for _, fire in ipairs(fires) do
    forget(fire[1], fire[2])
    redis.call('ZREM', DUE, fire[1])
  end
end

-- The fires given as groups of six arguments from `first` (id, record, body, size, due,
-- labelled) that are new, their label indexes reached; insert_fires stores them. A fire
-- id already used (live or in history) is never stored twice, unless it is one of the
-- fires this call drops (`dropping`, from future_fires): an edit that keeps the times
-- replaces those fires by the new definition's, under the same ids.
local function new_fires(first, dropping)
  local freed = {}
  for _, fire in ipairs(dropping or {}) do freed[fire[1]] = true end
  local fires = {}
  for i = first, #ARGV, 6 do
    local id = ARGV[i]
    local live = not freed[id] and redis.call('HEXISTS', MSGS, id) == 1
    if not live and redis.call('HEXISTS', HIST, id) == 0 then
      fires[#fires + 1] = {i, labelled_record(ARGV[i + 1], ARGV[i + 5])}
    end
  end
  return fires
end

local function insert_fires(fires)
  for _, fire in ipairs(fires) do
    local i = fire[1]
    insert(ARGV[i], ARGV[i + 1], fire[2], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4])
  end
end

-- A schedule's stored definition is `version\ndefinition JSON`.
local function schedule_version(raw)
  return tonumber(string.sub(raw, 1, string.find(raw, '\n', 1, true) - 1))
end

-- a < b comparing bytes, as Redis orders the members of one score (Lua's own `<` follows
-- the server's collation locale).
local function bytes_before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- The rank of the first entry after (score, id) in the index's order, when that entry
-- is not in the index: past the entries of lower score and those of this score whose id
-- sorts before.
local function rank_past(index, score, id)
  local lo = redis.call('ZCOUNT', index, '-inf', '(' .. score)
  local hi = redis.call('ZCOUNT', index, '-inf', score)
  while lo < hi do  -- binary search among the entries of this score
    local mid = math.floor((lo + hi) / 2)
    if bytes_before(id, redis.call('ZRANGE', index, mid, mid)[1]) then hi = mid else lo = mid + 1 end
  end
  return lo
end

-- The rank of the first entry after (score, id) in the index's order, whether that entry
-- is there or not: a page that starts after a row of another partition, or after a row
-- that has gone meanwhile, repeats none and skips none.
local function rank_after(index, score, id)
  local current = redis.call('ZSCORE', index, id)
  if current and tonumber(current) == tonumber(score) then
    return redis.call('ZRANK', index, id) + 1
  end
  return rank_past(index, score, id)
end
