-- 90 % GET /users/{id}, 10 % PATCH /users/{id} (a new name), random ids in
-- [BENCH_ID_MIN, BENCH_ID_MAX]. The PATCH bumps the user's version and the
-- user-list cache generation, as any write does.
local common = dofile("bench/wrk/common.lua")

local low = tonumber(os.getenv("BENCH_ID_MIN") or "2")
local high = tonumber(os.getenv("BENCH_ID_MAX") or "1000")

function request()
  local path = "/users/" .. math.random(low, high)
  if math.random(1, 10) == 1 then
    common.counter = common.counter + 1
    local body = string.format('{"name":"Renamed %s-%d"}', common.salt, common.counter)
    return wrk.format("PATCH", path, common.json_headers, body)
  end
  return wrk.format("GET", path, common.get_headers)
end
