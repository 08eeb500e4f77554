-- wrk script: every request is one binary-mode dev.pact.contact.translated
-- event with its own id, as a KafkaSource delivers them to pact-contactlog.
-- Ids are "<thread>-<counter>", so no two requests are the same event.
-- BATCH=n (n > 1) sends n events per request instead, as one CloudEvents
-- JSON batch (application/cloudevents-batch+json), each its own id.
local observed_at = os.getenv("OBSERVED_AT") or "2026-01-01T00:00:00Z"
local batch = tonumber(os.getenv("BATCH") or "1") or 1
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  counter = 0
  prefix = os.getenv("RUN_ID") or "run"
end

local function contact()
  counter = counter + 1
  local a = (counter % 100000) + 1
  return '{"mmid1":' .. a .. ',"mmid2":' .. (a + 1)
    .. ',"lat":44.9778,"lon":-93.265,"observed_at":"' .. observed_at
    .. '","street":"","city":"Minneapolis","state":"MN","zipcode":"55402","country":"US","geocoder":"offline"}'
end

function request()
  if batch > 1 then
    local events = {}
    for i = 1, batch do
      local data = contact()
      events[i] = '{"specversion":"1.0","id":"' .. prefix .. "-" .. tid .. "-" .. counter
        .. '","source":"/pact/translation","type":"dev.pact.contact.translated",'
        .. '"datacontenttype":"application/json","data":' .. data .. '}'
    end
    return wrk.format("POST", "/", { ["Content-Type"] = "application/cloudevents-batch+json" },
      "[" .. table.concat(events, ",") .. "]")
  end
  local body = contact()
  local headers = {
    ["Content-Type"] = "application/json",
    ["ce-specversion"] = "1.0",
    ["ce-id"] = prefix .. "-" .. tid .. "-" .. counter,
    ["ce-source"] = "/pact/translation",
    ["ce-type"] = "dev.pact.contact.translated",
  }
  return wrk.format("POST", "/", headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.2f p50_ms=%.2f p99_ms=%.2f non2xx=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status))
end
