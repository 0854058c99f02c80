-- One benchmark scenario for wrk. Environment:
--   BENCH_METHOD, BENCH_PATH   the request; "{id}" in the path takes a random id from BENCH_IDS
--   BENCH_IDS                  a file of image ids, one per line
--   BENCH_BODY                 a request body; "{n}" takes a counter (PATCH values differ)
--   BENCH_HEADERS              "Name: value|Name: value"
--   BENCH_DELAY_MS             pause before each request of a connection (a paced load)
-- done() prints one JSON line with the counts and latency percentiles (microseconds).
local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY")
local ids = {}
local counter = 0

local function read_ids()
  local file = os.getenv("BENCH_IDS")
  if file then
    for line in io.lines(file) do ids[#ids + 1] = line end
  end
end

init = function(args)
  read_ids()
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  for item in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^|]+") do
    local name, value = item:match("^%s*(.-):%s*(.-)%s*$")
    wrk.headers[name] = value
  end
end

request = function()
  local p = path
  if #ids > 0 then p = p:gsub("{id}", ids[math.random(#ids)]) end
  local b = nil
  if body then
    counter = counter + 1
    b = body:gsub("{n}", tostring(counter))
  end
  return wrk.format(method, p, nil, b)
end

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause then
  -- uniformly random around the mean, so that connections do not fire in lockstep
  delay = function() return math.random(0, 2 * pause) end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"socket_errors":%d,"non_2xx":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
