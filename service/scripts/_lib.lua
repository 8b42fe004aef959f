--[[ Shared by every script; the store puts it after the generated prelude that names
the keys (MSGS, BODIES, DUE, INFLIGHT, DEAD, LEASE, FENCE, SEQ, BYTES) and the
metadata field positions (F_DUE, F_CREATED, ... F_OPTS; see service/records.py). ]]

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

-- Delete a message's record and body (inline in `f`, or in BODIES), and take the body
-- off the byte count.
local function forget(id, f)
  local size = #f[F_BODY]
  if size == 0 then
    size = redis.call('HSTRLEN', BODIES, id)
    redis.call('HDEL', BODIES, id)
  end
  redis.call('HDEL', MSGS, id)
  redis.call('DECRBY', BYTES, size)
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

local function holds_lease(value)
  return redis.call('GET', LEASE) == value
end
