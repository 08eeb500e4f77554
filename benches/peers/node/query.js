// pact-query's `GET /contacts/{mmid}` as a `kn func` Node function (the
// http template's shape): faas-js-runtime serves only `/`, so the person
// comes as `GET /?mmid=42`. The same SELECT as pact-query's first page
// (each side of the pair through its own index, merged; 100 rows at most)
// through a `pg` pool of 5, and the same JSON page (no cursor: a person of
// the benchmark's data has fewer than 100 contacts). DATABASE_URL names the
// database.
const { Pool } = require('pg');

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 5 });

// BIGINT columns as numbers: ids stay far below 2^53.
require('pg').types.setTypeParser(20, Number);

const COLUMNS = `id, mmid1, mmid2, street, city, state, zipcode, country, lat, lon,
  observed_at, recorded_at, geocoder`;
const SELECT = `SELECT ${COLUMNS} FROM (
  SELECT * FROM (SELECT ${COLUMNS} FROM contactlist WHERE mmid1 = $1
    ORDER BY observed_at, id LIMIT 100) AS first_side
  UNION ALL
  SELECT * FROM (SELECT ${COLUMNS} FROM contactlist WHERE mmid2 = $1
    ORDER BY observed_at, id LIMIT 100) AS second_side
  ) AS met ORDER BY observed_at, id LIMIT 100`;

const handle = async (context) => {
  const mmid = Number(context.query?.mmid);
  if (!Number.isSafeInteger(mmid) || mmid < 1) {
    return { statusCode: 400, body: 'mmid is a positive integer' };
  }
  try {
    const result = await pool.query({ name: 'contacts-of', text: SELECT, values: [mmid] });
    const items = result.rows.map((row) => ({ met: row.mmid1 === mmid ? row.mmid2 : row.mmid1, ...row }));
    return { statusCode: 200, body: { mmid, since: null, until: null, items, next_cursor: null } };
  } catch (err) {
    return { statusCode: 503, body: String(err.message) };
  }
};

module.exports = { handle };
