-- SPDX-License-Identifier: MIT
-- wrk script: 16 pipelined GET /ping per write (as pipeline.lua), and at the
-- end the batches' raw latency percentiles, which wrk itself does not print.
--
-- Why: wrk 4.1 records one latency per pipelined batch (from the write of
-- its 16 requests to the last of their responses), then "corrects" the
-- histogram for coordinated omission with an interval of
-- duration / (responses / connections), 16 times too short when 16
-- responses share one sample: every batch of latency L adds about L /
-- interval synthetic samples spread below L, so the printed percentiles
-- are those of a latency-weighted, smeared distribution. Its percentile
-- loop also starts at the smallest real sample, so synthetic samples below
-- it are counted but never reached: once they pass 1% of the total, "99%"
-- prints as 0.00us. done() gets the corrected histogram; the correction
-- is undone here exactly, from the top down (a sample at v received one
-- copy from each real sample at v + k * interval, k >= 1).
--
-- Prints one line: RAW batches=N interval_us=I p50=.. p90=.. p99=.. p999=.. max=..
-- (microseconds). WRK_CONNS must hold wrk's -c value (default 100).
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

done = function(summary, latency, requests)
  local conns = tonumber(os.getenv("WRK_CONNS") or "100")
  local per_conn = math.floor(summary.requests / conns)
  if per_conn == 0 or #latency == 0 then
    io.write("RAW batches=0\n")
    return
  end
  local e = math.floor(summary.duration / per_conn)   -- wrk's integer division
  local n = #latency
  local vals, corr = {}, {}
  for i = 1, n do
    local v, c = latency(i)
    vals[i] = v
    corr[v] = c
  end
  local top = vals[n]
  local raw, total = {}, 0
  for i = n, 1, -1 do
    local v = vals[i]
    local c = corr[v]
    if v > e then
      local k = v + e
      while k <= top do
        c = c - (raw[k] or 0)
        k = k + e
      end
    end
    raw[v] = c
    total = total + c
  end
  local function pct(p)
    local rank, acc = math.ceil(p / 100 * total), 0
    for i = 1, n do
      acc = acc + raw[vals[i]]
      if acc >= rank then return vals[i] end
    end
    return top
  end
  io.write(string.format("RAW batches=%d interval_us=%d p50=%d p90=%d p99=%d p999=%d max=%d\n",
    total, e, pct(50), pct(90), pct(99), pct(99.9), top))
end
