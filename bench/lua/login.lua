-- POST /api/auth/login with the right password, cycling over the first BENCH_LOGIN_USERS
-- imported voters (voter<N>@bench.invalid, all with the password BENCH_PASSWORD).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local report = require("report")

local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

function init(args)
  local users = tonumber(os.getenv("BENCH_LOGIN_USERS"))
  local password = os.getenv("BENCH_PASSWORD")
  requests = {}
  for n = 1, users do
    requests[n] = wrk.format("POST", "/api/auth/login", {["Content-Type"] = "application/json"},
      '{"email":"voter' .. (n - 1) .. '@bench.invalid","password":"' .. password .. '"}')
  end
  position = thread_id
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function done(summary, latency, requests)
  report.done(summary, latency)
end
