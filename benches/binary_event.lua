-- wrk script: every request is one binary-mode CloudEvent
-- (dev.pact.contact.untranslated), as pact-producer or a KafkaSource sends it.
-- OBSERVED_AT (RFC 3339) comes from the environment so the event is never
-- "in the future"; benches/load.sh sets it.
local observed_at = os.getenv("OBSERVED_AT") or "2026-01-01T00:00:00Z"

wrk.method = "POST"
wrk.path = "/"
wrk.body = '{"mmid1":1,"mmid2":2,"lat":44.9778,"lon":-93.265,"observed_at":"'
  .. observed_at .. '"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["ce-specversion"] = "1.0"
wrk.headers["ce-id"] = "0195a3c2-7d1e-7000-8000-000000000001"
wrk.headers["ce-source"] = "/pact/producer"
wrk.headers["ce-type"] = "dev.pact.contact.untranslated"
wrk.headers["ce-time"] = observed_at
wrk.headers["ce-partitionkey"] = "1-2"
wrk.headers["ce-traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
