-- POST of pre-generated encrypted ballots: line N of BENCH_BODIES is the body of the voter whose
-- token is line N of BENCH_TOKENS (a ballot is bound to its voter's pseudonym). Blocks of lines
-- per thread as in votes.lua (BENCH_TOKEN_OFFSET, BENCH_TOKEN_COUNT, BENCH_THREADS). With
-- BENCH_CYCLE=1 (the ceiling route, which stores nothing) a thread starts its block over when it
-- has sent it; otherwise it stops, and the report says "exhausted".
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
  cycle = os.getenv("BENCH_CYCLE") == "1"
  local block = math.floor(count / nthreads)
  local first = offset + thread_id * block + 1
  local last = first + block - 1
  local tokens = {}
  local line_no = 0
  for token in io.lines(os.getenv("BENCH_TOKENS")) do
    line_no = line_no + 1
    if line_no > last then break end
    if line_no >= first then tokens[line_no] = token end
  end
  requests = {}
  exhausted = false
  used = 0
  line_no = 0
  for body in io.lines(os.getenv("BENCH_BODIES")) do
    line_no = line_no + 1
    if line_no > last then break end
    if line_no >= first then
      requests[#requests + 1] = wrk.format("POST", path, {
        ["Authorization"] = "Bearer " .. tokens[line_no],
        ["Content-Type"] = "application/json",
        ["Idempotency-Key"] = string.format("%08x-0000-4000-8000-%012x", thread_id, line_no),
      }, body)
    end
  end
end

function request()
  used = used + 1
  if used > #requests then
    if cycle and #requests > 0 then
      used = 1
    else
      exhausted = true
      wrk.thread:stop()
      return wrk.format("POST", os.getenv("BENCH_PATH"), {["Content-Type"] = "application/json"}, "{}")
    end
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
