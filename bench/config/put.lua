-- SPDX-License-Identifier: MIT
-- wrk script: POST /v3/kv/put of a 100-byte value, cycling over 1,000 keys so the store sees updates, not one hot key.
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = {}
    for j = 3, 0, -1 do
      local k = math.floor(n / 64 ^ j) % 64
      q[#q + 1] = b64chars:sub(k + 1, k + 1)
    end
    if not b then q[3] = "=" end
    if not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

local value = b64(string.rep("v", 100))
local bodies = {}
for i = 0, 999 do
  bodies[i] = '{"key":"' .. b64(string.format("put/%04d", i)) .. '","value":"' .. value .. '"}'
end
local n = 0
local headers = { ["Content-Type"] = "application/json" }

-- wrk builds each request here; every connection walks the key ring
function request()
  n = (n + 1) % 1000
  return wrk.format("POST", "/v3/kv/put", headers, bodies[n])
end
