-- wrk script: POST a webhook body to the sink, as a delivery would.
-- done() prints one line `WRKJSON {...}` (same fields as create.lua).

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "sink-ceiling"
wrk.headers["Idempotency-Key"] = "sink-ceiling"
wrk.headers["X-Message-Id"] = "sink-ceiling"
wrk.body = '{"event":"bench","seq":1,"pad":"' .. string.rep("x", 66) .. '"}'

dofile("bench/lua/report.lua")
