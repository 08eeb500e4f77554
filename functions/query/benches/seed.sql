-- Seeds contactlist with a synthetic contact log for the pact-query load
-- benchmark (benches/load.sh): :rows contacts (default 1,000,000) among
-- :people people (default 100,000), spread over the last 30 days.
--
--   psql -v rows=1000000 -v people=100000 -f benches/seed.sql postgres://…/pact_bench
--
-- The degree distribution is skewed like a real city's: mmid1 is drawn as
-- people × random()^1.5, so a few people (a cashier, a bus driver) have
-- hundreds of contacts while the median person has about 15; 70% of the
-- partners live in the same neighbourhood (ids within ±100), the rest
-- anywhere, so contact clusters overlap the way households and workplaces do.
-- Every person appears in about 2 × rows / people contacts (20 by default).
-- The schema must exist (pact-query migrates it at start-up).
\set ON_ERROR_STOP on
\if :{?rows}
\else
  \set rows 1000000
\endif
\if :{?people}
\else
  \set people 100000
\endif

TRUNCATE contactlist;
SELECT setseed(0.42);

INSERT INTO contactlist
    (mmid1, mmid2, street, city, state, zipcode, country, lat, lon,
     observed_at, recorded_at, geocoder, event_source, event_id)
SELECT a, b,
       '', place.city, place.state, place.zipcode, place.country,
       place.lat + (random() - 0.5) * 0.05, place.lon + (random() - 0.5) * 0.05,
       seen, seen + interval '2 seconds', 'offline', '/pact/bench', i::text
FROM (
    SELECT i, a,
           CASE WHEN b < 1 OR b > :people OR b = a THEN 1 + (a % :people) ELSE b END AS b,
           now() - random() * interval '30 days' AS seen,
           (i % 8) AS place_no
    FROM (
        SELECT i, a,
               CASE WHEN random() < 0.7
                    THEN a + (floor(random() * 201) - 100)::bigint
                    ELSE 1 + floor(random() * :people)::bigint
               END AS b
        FROM (
            SELECT i, 1 + floor(:people * power(random(), 1.5))::bigint AS a
            FROM generate_series(1, :rows) AS i
        ) AS drawn
    ) AS paired
) AS contacts
JOIN (VALUES
    (0, 'Minneapolis', 'MN', '55415', 'US', 44.9778, -93.2650),
    (1, 'Saint Paul',  'MN', '55102', 'US', 44.9537, -93.0900),
    (2, 'Bloomington', 'MN', '55420', 'US', 44.8408, -93.2983),
    (3, 'Duluth',      'MN', '55802', 'US', 46.7867, -92.1005),
    (4, 'Fargo',       'ND', '58102', 'US', 46.8772, -96.7898),
    (5, 'Madison',     'WI', '53703', 'US', 43.0731, -89.4012),
    (6, 'Winnipeg',    'Manitoba', '', 'CA', 49.8951, -97.1384),
    (7, 'Chicago',     'IL', '60602', 'US', 41.8781, -87.6298)
) AS place(place_no, city, state, zipcode, country, lat, lon) USING (place_no);

ANALYZE contactlist;

SELECT count(*) AS contacts,
       count(DISTINCT mmid1) AS people_as_mmid1,
       min(observed_at) AS oldest,
       max(observed_at) AS newest
FROM contactlist;
