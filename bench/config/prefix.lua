-- SPDX-License-Identifier: MIT
-- wrk script: POST /v3/kv/range over the prefix "p/" (the 100 keys p/000..p/099 loaded by run.sh).
wrk.method = "POST"
wrk.path = "/v3/kv/range"
wrk.headers["Content-Type"] = "application/json"
-- key "p/", range_end "p0": every key that starts with "p/"
wrk.body = '{"key":"cC8=","range_end":"cDA="}'
