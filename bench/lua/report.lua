-- Shared by the wrk scripts of bench/run: prints one machine-readable line at the end of a
-- run, which bench/run hands to `benchtool record`. Latencies are in microseconds.
local report = {}

function report.done(summary, latency, extra)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d,"exhausted":%s}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, tostring(extra and extra.exhausted or false)))
end

return report
