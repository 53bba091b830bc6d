-- GET /users/{id}, a random id in [BENCH_ID_MIN, BENCH_ID_MAX] for each request.
local common = dofile("bench/wrk/common.lua")

local low = tonumber(os.getenv("BENCH_ID_MIN") or "1")
local high = tonumber(os.getenv("BENCH_ID_MAX") or "1000")

function request()
  return wrk.format("GET", "/users/" .. math.random(low, high), common.get_headers)
end
