-- wrk script for bench/bridge_bench.sh: POSTs the example order to the bridge, one document
-- a request, or BATCH_LINES copies of it as one NDJSON batch.
local f = assert(io.open(os.getenv("ORDER_FILE")))
local doc = f:read("*a"):gsub("\n", " ") -- newlines are JSON whitespace: one line, same document
f:close()
local lines = tonumber(os.getenv("BATCH_LINES") or "0")

wrk.method = "POST"
if lines > 0 then
  wrk.path = "/ingest/batch"
  wrk.body = string.rep(doc .. "\n", lines)
  wrk.headers["Content-Type"] = "application/x-ndjson"
else
  wrk.path = "/ingest/message"
  wrk.body = doc
  wrk.headers["Content-Type"] = "application/json"
end

-- Anything but 202 is a failure of the run, not a slow request: count them by status.
local statuses = {}
function response(status, headers, body)
  if status ~= 202 then statuses[status] = (statuses[status] or 0) + 1 end
end
