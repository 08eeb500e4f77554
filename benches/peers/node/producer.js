// pact-producer's original endpoint as a `kn func` Node function (the http
// template's shape): `POST /?message=mmid1,mmid2,lat,lon[,observed_at]` ->
// one binary-mode `dev.pact.contact.untranslated` CloudEvent POSTed to
// K_SINK, then 202. faas-js-runtime serves only `/`, so the message comes
// to `/` rather than to /pact/producer.
//
// The SDK's httpTransport does not report the sink's status, so the event
// goes out with fetch (Node's own, undici) and HTTP.binary: a function must
// not answer 202 for an event the sink refused.
const { CloudEvent, HTTP } = require('cloudevents');
const { randomUUID } = require('crypto');

const sink = process.env.K_SINK;

const handle = async (context) => {
  const fields = String(context.query?.message ?? '').split(',').map((f) => f.trim());
  if (fields.length < 4 || fields.length > 5) {
    return { statusCode: 400, body: 'expected mmid1,mmid2,lat,lon[,observed_at]' };
  }
  const [mmid1, mmid2, lat, lon] = fields.slice(0, 4).map(Number);
  if (![mmid1, mmid2, lat, lon].every(Number.isFinite)) {
    return { statusCode: 400, body: 'mmid1, mmid2, lat and lon must be numbers' };
  }
  const observedAt = fields[4] ? new Date(fields[4]) : new Date();
  if (Number.isNaN(observedAt.getTime())) {
    return { statusCode: 400, body: 'observed_at must be a time' };
  }
  const id = randomUUID();
  const message = HTTP.binary(new CloudEvent({
    id,
    source: '/peers/node/producer',
    type: 'dev.pact.contact.untranslated',
    time: observedAt.toISOString(),
    partitionkey: `${Math.min(mmid1, mmid2)}-${Math.max(mmid1, mmid2)}`,
    datacontenttype: 'application/json',
    data: { mmid1, mmid2, lat, lon, observed_at: observedAt.toISOString() },
  }));
  const response = await fetch(sink, { method: 'POST', headers: message.headers, body: message.body });
  await response.arrayBuffer();
  if (!response.ok) {
    return { statusCode: 502, body: `the sink answered ${response.status}` };
  }
  return { statusCode: 202, body: `Contact accepted as event ${id}\n` };
};

module.exports = { handle };
