-- wrk script: POST /messages/batch with `size` new messages (new ids) per request.
-- Arguments (after `--`): token, webhook URL, batch size, scheduleTo, id prefix.
-- Each answer is read for the items it scheduled; done() prints the `WRKJSON {...}` line
-- of create.lua, then `WRKITEMS {"scheduled":N,"failed":M}` summed over the threads.

local thread_counter = 0
local threads = {}

function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_id", thread_counter)
  table.insert(threads, thread)
end

-- Globals, not locals: done() reads them from each thread with thread:get().
scheduled, failed = 0, 0
local counter, size = 0, 0
local head, tail

function init(args)
  local token, hook, due, prefix = args[1], args[2], args[4], args[5]
  size = tonumber(args[3])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
  head = '{"id":"' .. prefix .. "-t" .. thread_id .. "-"
  tail = '","scheduleTo":"' .. due .. '","payload":{"event":"bench","seq":1,"pad":"'
    .. string.rep("x", 66) .. '"},"webhookUrl":"' .. hook .. '"}'
end

function request()
  counter = counter + 1
  local items = {}
  for i = 1, size do
    items[i] = head .. counter .. "-" .. i .. tail
  end
  local body = '{"messages":[' .. table.concat(items, ",") .. "]}"
  return wrk.format(nil, "/messages/batch", nil, body)
end

function response(status, headers, body)
  if status ~= 200 then
    failed = failed + size
    return
  end
  local _, ok = string.gsub(body, '"status":"scheduled"', "")
  scheduled = scheduled + ok
  failed = failed + size - ok
end

dofile("bench/lua/report.lua")

local report = done
function done(summary, latency, requests)
  report(summary, latency, requests)
  local ok, bad = 0, 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("scheduled")
    bad = bad + thread:get("failed")
  end
  io.write(string.format('WRKITEMS {"scheduled":%d,"failed":%d}\n', ok, bad))
end
