-- SPDX-License-Identifier: MIT
-- wrk script for the HTTP benchmark: each write carries 16 pipelined GET /ping requests.
local depth = 16

init = function(args)
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format("GET", "/ping")
  end
  req = table.concat(r)
end

request = function()
  return req
end
