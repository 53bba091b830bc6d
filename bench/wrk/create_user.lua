-- POST /users with a new, unique name and email on every request.
local common = dofile("bench/wrk/common.lua")

function request()
  common.counter = common.counter + 1
  local tag = common.salt .. "-" .. common.counter
  local body = string.format(
    '{"name":"Bench User %s","email":"bench.%s@example.net"}', tag, tag)
  return wrk.format("POST", "/users", common.json_headers, body)
end
