-- wrk-events.lua — the application side of `hookd serve`: POST /v1/events with the bearer
-- token (env BENCH_TOKEN), an events.created event with a fresh data.id per request.
-- env BENCH_RATE=N: paces the requests (wrk-common.lua, which also writes the report).
-- env BENCH_LOG=PATH: each 202 appends "epoch_ms webhook_id…" (the moment the client got the
--   answer and the webhooks it created) to PATH.<thread>, for the latency join.
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "wrk-common.lua")

local token = os.getenv("BENCH_TOKEN") or ""
local log_path = os.getenv("BENCH_LOG")
local counter = 0

local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. token,
}

request = function()
  counter = counter + 1
  local body = '{"event":"events.created","data":{"id":' .. counter .. ',"calendar_id":7}}'
  return wrk.format("POST", "/v1/events", headers, body)
end

if log_path then
  local out = nil
  on_response = function(status, hdrs, body)
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
