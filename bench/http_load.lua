-- wrk script for bench/run.sh: POSTs every document of an NDJSON file exactly once, then
-- stops, so the rows the worker must end up with are known in advance (wrk alone runs for
-- a duration and cuts requests off mid-flight, which would make the totals unknowable).
--
--   DOCS_FILE=docs.ndjson BATCH_LINES=0|N MARK=prefix wrk -tT -cC -d600s -s http_load.lua URL
--
-- Thread k of T takes lines k, k+T, k+2T...; BATCH_LINES=0 sends one document a request
-- to /ingest/message/Order, N sends NDJSON batches of N to /ingest/batch/Order. When a
-- thread has every answer it writes MARK.k ("first_request_s last_response_s accepted
-- failed errors") and stops; run.sh waits for all marks, then sends wrk SIGINT so that it
-- prints its latency summary (wrk itself would sleep for the whole -d).
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local function now() -- wall clock; LuaJIT has none finer than a second
  local p = io.popen("date +%s.%N")
  local t = p:read("*l")
  p:close()
  return t
end

function init(args)
  local nthreads = tonumber(os.getenv("WRK_THREADS"))
  local batch = tonumber(os.getenv("BATCH_LINES") or "0")
  local mine, n = {}, 0
  for line in io.lines(os.getenv("DOCS_FILE")) do
    if n % nthreads == id then mine[#mine + 1] = line end
    n = n + 1
  end
  reqs = {}
  if batch > 0 then
    local h = { ["Content-Type"] = "application/x-ndjson" }
    for i = 1, #mine, batch do
      local last = math.min(i + batch - 1, #mine)
      reqs[#reqs + 1] = wrk.format("POST", "/ingest/batch/Order", h, table.concat(mine, "\n", i, last) .. "\n")
    end
  else
    local h = { ["Content-Type"] = "application/json" }
    for i = 1, #mine do reqs[#reqs + 1] = wrk.format("POST", "/ingest/message/Order", h, mine[i]) end
  end
  filler = wrk.format("GET", "/ready")
  sent, answered, accepted, failed, errors = 0, 0, 0, 0, 0
  is_batch = batch > 0
end

-- wrk calls delay() after each response, before that connection's next request(): once
-- every request is out, idle connections wait instead of sending anything else.
function delay()
  if sent >= #reqs then return 600000 end
  return 0
end

function request()
  -- wrk calls request() once on thread 0 before the run, only to check the request
  -- parses; that call must not use up a document.
  if id == 0 and not checked then
    checked = true
    return reqs[1]
  end
  -- A connection wrk reopens (the server closed it) asks for a request without asking
  -- delay() first: once the documents are out it gets a harmless GET, never a resend.
  if sent >= #reqs then return filler end
  if sent == 0 then started = now() end
  sent = sent + 1
  return reqs[sent]
end

function response(status, headers, body)
  if status == 200 then return end -- a filler's answer
  answered = answered + 1
  if status ~= 202 then
    errors = errors + 1
  elseif is_batch then
    accepted = accepted + tonumber(body:match('"accepted":%s*(%d+)') or 0)
    failed = failed + tonumber(body:match('"failed":%s*(%d+)') or 0)
  else
    accepted = accepted + 1
  end
  if answered == #reqs then
    local f = io.open(os.getenv("MARK") .. "." .. id, "w")
    f:write(string.format("%s %s %d %d %d\n", started, now(), accepted, failed, errors))
    f:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  io.write(string.format("WRK latency_p50_ms=%.2f latency_p99_ms=%.2f requests=%d socket_errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
