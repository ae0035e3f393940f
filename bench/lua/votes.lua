-- POST of BENCH_BODY to BENCH_PATH (/api/votes, or /api/elections/{id}/ballots), every request by
-- a different pre-registered voter (a voter votes once per election), with an Idempotency-Key as
-- the web UI sends. Each wrk thread takes its own contiguous block of
-- tokens from BENCH_TOKENS (one JWT per line): lines BENCH_TOKEN_OFFSET + 1 ... + BENCH_TOKEN_COUNT,
-- split evenly over BENCH_THREADS threads. A thread that has used its block stops, so a run
-- never votes twice with one voter; the report then says "exhausted".
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local report = require("report")

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS"))
  local offset = tonumber(os.getenv("BENCH_TOKEN_OFFSET"))
  local count = tonumber(os.getenv("BENCH_TOKEN_COUNT"))
  local path = os.getenv("BENCH_PATH")
  local body = os.getenv("BENCH_BODY")
  local block = math.floor(count / nthreads)
  local first = offset + thread_id * block + 1
  local last = first + block - 1
  requests = {}
  exhausted = false
  used = 0
  local line_no = 0
  for token in io.lines(os.getenv("BENCH_TOKENS")) do
    line_no = line_no + 1
    if line_no > last then break end
    if line_no >= first then
      local key = string.format("%08x-0000-4000-8000-%012x", thread_id, line_no)
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Authorization"] = "Bearer " .. token,
        ["Content-Type"] = "application/json",
        ["Idempotency-Key"] = key,
      }, body)
    end
  end
end

function request()
  used = used + 1
  if used > #requests then
    exhausted = true
    wrk.thread:stop()
    -- wrk needs a request even now; an unauthenticated one changes nothing (401).
    return wrk.format("POST", os.getenv("BENCH_PATH"), {["Content-Type"] = "application/json"}, "{}")
  end
  return requests[used]
end

function done(summary, latency, requests)
  local any_exhausted = false
  for _, thread in ipairs(threads) do
    if thread:get("exhausted") then any_exhausted = true end
  end
  report.done(summary, latency, { exhausted = any_exhausted })
end
