-- wrk script of bench/run.py. BENCH_MODE picks the workload:
--   keepalive (default)  wrk's own request, connections kept alive
--   pipeline             BENCH_DEPTH (16) requests written at once; the next batch goes when all
--                        of their responses are in (wrk counts each response as one request)
--   close                "Connection: close": the server closes after each response and wrk
--                        opens a new connection for the next request
-- done() prints one machine-readable line (latencies in microseconds).
local mode = os.getenv("BENCH_MODE") or "keepalive"
local depth = tonumber(os.getenv("BENCH_DEPTH") or "16")

if mode == "close" then
  wrk.headers["Connection"] = "close"
elseif mode == "pipeline" then
  local batch
  init = function(args)
    local parts = {}
    for i = 1, depth do parts[i] = wrk.format() end
    batch = table.concat(parts)
  end
  request = function()
    return batch
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d p50=%d p99=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
