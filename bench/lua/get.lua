-- GET of the URL given to wrk; only the end-of-run report is added.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local report = require("report")

function done(summary, latency, requests)
  report.done(summary, latency)
end
