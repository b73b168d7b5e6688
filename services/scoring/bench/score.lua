-- wrk script: varied payments for POST /v1/score (a unique transaction id per request).
-- env: FRAUDOPS_KEY (API key), CUSTOMERS, TERMINALS, DELAY_MS (mean pause per connection:
-- fixed-rate runs). Payments are dated now. done() prints one JSON line of the results.
local counter = 0
local thread_id = 0
local threads = {}
local key = os.getenv("FRAUDOPS_KEY") or ""
local customers = tonumber(os.getenv("CUSTOMERS") or "100000")
local terminals = tonumber(os.getenv("TERMINALS") or "10000")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local channels = {"card_present", "ecommerce", "contactless", "atm"}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(thread_id * 7919 + os.time())
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end

function request()
  counter = counter + 1
  local ts = os.time()  -- now: the service refuses payments dated ahead of its clock
  local body = string.format(
    '{"transaction_id":"w%d-%d-%d","timestamp":"%s","customer_id":"c%d","terminal_id":"t%d",' ..
    '"amount":"%.2f","currency":"EUR","mcc":"%04d","country":"FR","channel":"%s"}',
    thread_id, os.time(), counter, os.date("!%Y-%m-%dT%H:%M:%SZ", ts),
    math.random(0, customers - 1), math.random(0, terminals - 1),
    math.random(100, 30000) / 100, 5000 + math.random(0, 999), channels[math.random(1, 4)])
  return wrk.format(nil, "/v1/score", nil, body)
end

if delay_ms > 0 then
  -- exponential pauses: the connections do not fire in step, arrivals look like real traffic
  function delay() return -math.log(1 - math.random()) * delay_ms end
end

statuses = {}  -- non-200 statuses by code, counted when COUNT_STATUSES=1 (it costs wrk time)
if os.getenv("COUNT_STATUSES") == "1" then
  function response(status, headers, body)
    if status ~= 200 then statuses[status] = (statuses[status] or 0) + 1 end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local parts = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses") or {}) do
      table.insert(parts, string.format('"%d":%d', code, n))
    end
  end
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors_status":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_timeout":%d,"statuses":{' .. table.concat(parts, ",") .. '}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
