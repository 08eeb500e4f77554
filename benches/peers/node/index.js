// The translation step as a `kn func` Node function (the cloudevents
// template's shape): faas-js-runtime calls `handle` with the CloudEvent it
// read from the request and answers the CloudEvent returned, in binary mode.
//
// In: a `dev.pact.contact.untranslated` event whose data is a CSV line
// `mmid1,mmid2,lat,lon[,observed_at]` (text/csv). Out: a
// `dev.pact.contact.translated` event with JSON data. A peer has no
// geocoder: every contact is placed in the same city.
const { CloudEvent } = require('cloudevents');

const handle = async (context, event) => {
  // The runtime hands text/csv data over as a Buffer; one line, no quoted
  // fields, so a split is what a function author would write.
  const fields = String(event.data).trim().split(',').map((f) => f.trim());
  if (fields.length < 4 || fields.length > 5) {
    return { statusCode: 400, body: 'expected mmid1,mmid2,lat,lon[,observed_at]' };
  }
  const [mmid1, mmid2, lat, lon] = fields.slice(0, 4).map(Number);
  if (![mmid1, mmid2, lat, lon].every(Number.isFinite)) {
    return { statusCode: 400, body: 'mmid1, mmid2, lat and lon must be numbers' };
  }
  // Keep the time, the pair's partition key and the trace, as PACT does
  // (an extension may not be undefined).
  const kept = {};
  for (const name of ['time', 'partitionkey', 'traceparent']) {
    if (event[name] !== undefined) kept[name] = event[name];
  }
  return new CloudEvent({
    ...kept,
    source: '/peers/node',
    type: 'dev.pact.contact.translated',
    datacontenttype: 'application/json',
    data: {
      mmid1, mmid2, lat, lon,
      observed_at: fields[4] ?? '',
      street: '', city: 'Minneapolis', state: 'MN', zipcode: '55415',
      country: 'US', geocoder: 'fixed',
    },
  });
};

module.exports = { handle };
