-- wrk-signed.lua — every request is a fresh, correctly signed MeetBit webhook.
-- Signs through LuaJIT's FFI on the libcrypto that wrk already links (HMAC-SHA256 over
-- id "." timestamp "." body). The secret comes from env BENCH_SECRET; BENCH_RATE paces, and
-- the report (RESULT, STATUS and CDF lines) is wrk-common.lua's.
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./") .. "wrk-common.lua")
local ffi = require("ffi")
ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
int RAND_bytes(unsigned char *buf, int num);
]]
local crypto = ffi.load("crypto")
local secret = os.getenv("BENCH_SECRET") or "whsec_bench"
local md = ffi.new("unsigned char[32]")
local mdlen = ffi.new("unsigned int[1]")
local rnd = ffi.new("unsigned char[16]")
local counter = 0
-- adnanh/webhook's payload-hmac-sha256 rule signs the body alone.
local body_only = os.getenv("BENCH_BODY_ONLY") == "1"

local function hex(buf, n)
  local t = {}
  for i = 0, n - 1 do t[#t + 1] = string.format("%02x", buf[i]) end
  return table.concat(t)
end

local function uuid4()
  crypto.RAND_bytes(rnd, 16)
  rnd[6] = bit.bor(bit.band(rnd[6], 0x0f), 0x40)
  rnd[8] = bit.bor(bit.band(rnd[8], 0x3f), 0x80)
  local h = hex(rnd, 16)
  return h:sub(1, 8) .. "-" .. h:sub(9, 12) .. "-" .. h:sub(13, 16) .. "-" .. h:sub(17, 20) .. "-" .. h:sub(21, 32)
end

request = function()
  counter = counter + 1
  local id = uuid4()
  local ts = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local body = '{"event":"events.created","data":{"id":' .. counter .. ',"calendar_id":7}}'
  local msg = body_only and body or (id .. "." .. ts .. "." .. body)
  crypto.HMAC(crypto.EVP_sha256(), secret, #secret, msg, #msg, md, mdlen)
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Webhook-Id"] = id,
    ["X-Webhook-Timestamp"] = ts,
    ["X-Webhook-Signature"] = hex(md, 32),
  }
  return wrk.format("POST", nil, headers, body)
end
