// pact-contactlog's job as a `kn func` Node function (the cloudevents
// template's shape): a `dev.pact.contact.translated` CloudEvent in, one row
// in `contactlist` by INSERT ... ON CONFLICT DO NOTHING on the event's
// (source, id) through a `pg` pool of 5 (pact's default), 200 once it is
// committed. DATABASE_URL names the database.
const { Pool } = require('pg');

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 5 });

const INSERT = `INSERT INTO contactlist
  (mmid1, mmid2, street, city, state, zipcode, country, lat, lon, observed_at, geocoder,
   event_source, event_id)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
  ON CONFLICT (event_source, event_id) DO NOTHING`;

const handle = async (context, event) => {
  const c = typeof event.data === 'string' || Buffer.isBuffer(event.data)
    ? JSON.parse(String(event.data)) : event.data;
  if (!c || typeof c !== 'object') {
    return { statusCode: 400, body: 'expected a translated contact as data' };
  }
  try {
    const result = await pool.query({
      name: 'insert-contact',
      text: INSERT,
      values: [c.mmid1, c.mmid2, c.street ?? '', c.city ?? '', c.state ?? '', c.zipcode ?? '',
        c.country ?? '', c.lat, c.lon, c.observed_at, c.geocoder ?? '', event.source, event.id],
    });
    return { statusCode: 200, body: { stored: result.rowCount, duplicates: 1 - result.rowCount } };
  } catch (err) {
    // A check constraint or a bad value is bad data; anything else, the database.
    const bad = typeof err.code === 'string' && (err.code.startsWith('22') || err.code.startsWith('23'));
    return { statusCode: bad ? 400 : 503, body: String(err.message) };
  }
};

module.exports = { handle };
