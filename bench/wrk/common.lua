-- Shared by every wrk script of bench/run: the bearer token on each request, a
-- per-thread random seed, and a machine-readable summary line at the end.
--
-- Environment: BENCH_TOKEN (required), BENCH_RUN (optional, makes bodies unique
-- across runs).

local common = {}

local token = os.getenv("BENCH_TOKEN")
if token == nil or token == "" then
  error("BENCH_TOKEN is not set")
end

common.run = os.getenv("BENCH_RUN") or tostring(os.time())

-- Headers for a request without a body.
common.get_headers = {
  ["Authorization"] = "Bearer " .. token,
  ["Accept"] = "application/json",
}

-- Headers for a request with a JSON body.
common.json_headers = {
  ["Authorization"] = "Bearer " .. token,
  ["Accept"] = "application/json",
  ["Content-Type"] = "application/json",
}

-- Default request (the path given on the command line), authenticated.
wrk.headers["Authorization"] = common.get_headers["Authorization"]
wrk.headers["Accept"] = "application/json"

local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_number", next_thread)
end

function init(args)
  -- thread_number is set by setup() in this thread's Lua state.
  local n = thread_number or 0
  math.randomseed(os.time() * 1000 + n * 7919 + math.floor(os.clock() * 1e6))
  -- A salt per thread and per wrk run, so generated emails never repeat.
  common.salt = string.format("%s-%d-%x", common.run, n, math.random(0, 0x7fffffff))
  common.counter = 0
end

-- One line the harness parses: throughput, latency percentiles (µs), errors.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end

return common
