-- wrk-events.lua — the application side of `hookd serve`: POST /v1/events with the bearer
-- token (env BENCH_TOKEN), an events.created event with a fresh data.id per request.
-- env BENCH_RATE=N: paces the requests (wrk2-like, open loop): each thread keeps a schedule
--   of N / threads requests per second and delay() waits for the next slot.
-- env BENCH_LOG=PATH: each 202 appends "epoch_ms webhook_id…" (the moment the client got the
--   answer and the webhooks it created) to PATH.<thread>, for the latency join.
local ffi = require("ffi")
ffi.cdef [[
struct bench_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clk, struct bench_timespec *tp);
]]
local ts = ffi.new("struct bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME: comparable with nginx's $msec
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local token = os.getenv("BENCH_TOKEN") or ""
local rate = tonumber(os.getenv("BENCH_RATE") or "")
local log_path = os.getenv("BENCH_LOG")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads)
  thread:set("nthreads", 0)
  table.insert(threads, thread)
end

function init(args)
  for _, t in ipairs(threads) do t:set("nthreads", #threads) end
end

local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. token,
}

request = function()
  counter = counter + 1
  local body = '{"event":"events.created","data":{"id":' .. counter .. ',"calendar_id":7}}'
  return wrk.format("POST", "/v1/events", headers, body)
end

if rate then
  local next_slot = nil
  delay = function()
    local per_thread = rate / math.max(1, nthreads or 1)
    local interval = 1000 / per_thread
    local now = now_ms()
    if not next_slot then next_slot = now end
    next_slot = next_slot + interval
    local d = next_slot - now
    if d < 0 then return 0 end
    return math.floor(d + 0.5)
  end
end

if log_path then
  local out = nil
  response = function(status, hdrs, body)
    if status ~= 202 then return end
    if not out then out = io.open(log_path .. "." .. tostring(tid or 0), "w") end
    local t = now_ms()
    local ids = {}
    local list = body:match('"webhooks"%s*:%s*(%b[])') or ""
    for wid in list:gmatch('"id"%s*:%s*"([^"]+)"') do ids[#ids + 1] = wid end
    out:write(string.format("%.3f %s\n", t, table.concat(ids, " ")))
    out:flush()
  end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
