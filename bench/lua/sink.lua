-- wrk script: POST a webhook body to the sink, as a delivery would.
-- done() prints one line `WRKJSON {...}` (same fields as create.lua).

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["webhook-id"] = "sink-ceiling"
wrk.headers["Idempotency-Key"] = "sink-ceiling"
wrk.body = '{"event":"bench","seq":1,"pad":"' .. string.rep("x", 66) .. '"}'

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
