-- GET one of several paths, round robin from a random start per thread.
-- BENCH_PATHS: paths separated by spaces (already URL-encoded), e.g.
--   "/users?q=smith /users?q=lee"
-- Without BENCH_PATHS, the path given on wrk's command line is used.
local common = dofile("bench/wrk/common.lua")

local paths = {}
for path in string.gmatch(os.getenv("BENCH_PATHS") or "", "%S+") do
  paths[#paths + 1] = path
end

local position = 0

function request()
  if #paths == 0 then
    return wrk.format("GET", nil, common.get_headers)
  end
  if position == 0 then
    position = math.random(1, #paths)
  end
  position = position % #paths + 1
  return wrk.format("GET", paths[position], common.get_headers)
end
