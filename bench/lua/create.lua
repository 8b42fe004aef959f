-- wrk script: POST /messages with a new id on every request.
-- Arguments (after `--`): token, webhook URL, scheduleTo, id prefix.
-- done() prints one line `WRKJSON {...}` with the counts and latency percentiles (µs).

local thread_counter = 0
local threads = {}

function setup(thread)
  thread_counter = thread_counter + 1
  thread:set("thread_id", thread_counter)
  table.insert(threads, thread)
end

local counter = 0
local head, tail

function init(args)
  local token, hook, due, prefix = args[1], args[2], args[3], args[4]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
  head = '{"id":"' .. prefix .. "-t" .. thread_id .. "-"
  tail = '","scheduleTo":"' .. due .. '","payload":{"event":"bench","seq":1,"pad":"'
    .. string.rep("x", 66) .. '"},"webhookUrl":"' .. hook .. '"}'
end

function request()
  counter = counter + 1
  return wrk.format(nil, "/messages", nil, head .. counter .. tail)
end

dofile("bench/lua/report.lua")
