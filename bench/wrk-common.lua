-- wrk-common.lua — what wrk-signed.lua and wrk-events.lua share (each loads it with dofile):
-- the clock, the thread list, pacing, a tally of the non-2XX statuses, and the report.
-- env BENCH_RATE=N: paces the requests (wrk2-like, open loop): each thread keeps a schedule
--   of N / threads requests per second and delay() waits for the next slot.
-- The report (done): "RESULT requests= duration_us= p50_us= p99_us= errors= non2xx=", one
-- "STATUS code=count" line per non-2XX status answered, and "CDF latency_ms fraction" lines.
-- A script that wants every answer defines on_response(status, headers, body).
local ffi = require("ffi")
ffi.cdef [[
struct bench_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clk, struct bench_timespec *tp);
]]
local ts = ffi.new("struct bench_timespec")
function now_ms()
  ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME: comparable with nginx's $msec
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
-- Non-2XX answers by status, per thread (a global: done() reads it with thread:get).
statuses = {}

function setup(thread)
  thread:set("tid", #threads)
  thread:set("nthreads", 0)
  table.insert(threads, thread)
end

function init(args)
  for _, t in ipairs(threads) do t:set("nthreads", #threads) end
end

local rate = tonumber(os.getenv("BENCH_RATE") or "")
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

response = function(status, headers, body)
  if status < 200 or status > 299 then statuses[status] = (statuses[status] or 0) + 1 end
  if on_response then on_response(status, headers, body) end
end

done = function(summary, latency, requests)
  local non2xx = 0
  local lines = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses") or {}) do
      non2xx = non2xx + n
      lines[#lines + 1] = string.format("STATUS %d=%d\n", code, n)
    end
  end
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    non2xx))
  io.write(table.concat(lines))
  -- The latency distribution, for plots: "CDF latency_ms fraction".
  local ps = {}
  for q = 1, 99 do ps[#ps + 1] = q end
  for _, q in ipairs({99.5, 99.9, 99.99, 100}) do ps[#ps + 1] = q end
  for _, q in ipairs(ps) do
    io.write(string.format("CDF %.3f %.4f\n", latency:percentile(q) / 1000, q / 100))
  end
end
