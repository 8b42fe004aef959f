--[[ The message record, shared by every script that reads or writes one (included by
the store where a script says `-- @include record`).

A message is one field of the messages hash: its id maps to eight header lines, then
the payload bytes. One hash field per message, not one key, keeps a pending message
at about 350 bytes of Redis memory (see docs/benchmarks.md).
    due \n created \n attempts \n state (p, i, d) \n dead-at ms \n url \n trace \n
    last error \n payload
Due and created are milliseconds in base 36 (written by the store; scripts compare
`created` as an opaque incarnation token). No header field holds a newline: URLs are
validated, errors are flattened here. ]]
local DUE, CREATED, ATTEMPTS, STATE, DEAD_AT, URL, TRACE, ERROR = 1, 2, 3, 4, 5, 6, 7, 8

local function record_read(raw)
  local fields, pos = {}, 1
  for i = 1, 8 do
    local stop = string.find(raw, '\n', pos, true)
    fields[i] = string.sub(raw, pos, stop - 1)
    pos = stop + 1
  end
  fields.body_at = pos
  return fields
end

local function record_payload(raw, fields)
  return string.sub(raw, fields.body_at)
end

local function record_write(fields, raw)
  fields[ERROR] = string.gsub(fields[ERROR], '[\r\n]', ' ')
  local header = table.concat(fields, '\n', 1, 8)
  return header .. '\n' .. string.sub(raw, fields.body_at)
end

local function redis_now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
