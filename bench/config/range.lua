-- SPDX-License-Identifier: MIT
-- wrk script: POST /v3/kv/range for the single key "bench/key" (loaded by run.sh).
wrk.method = "POST"
wrk.path = "/v3/kv/range"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key":"YmVuY2gva2V5"}'
