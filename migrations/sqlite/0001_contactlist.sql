-- The same table as migrations/postgres/0001_contactlist.sql, in SQLite's
-- terms. Times are TEXT in one fixed-width UTC form
-- (YYYY-MM-DDTHH:MM:SS.ffffffZ), so text order is time order.
CREATE TABLE contactlist (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    mmid1        INTEGER NOT NULL CHECK (mmid1 > 0),
    mmid2        INTEGER NOT NULL CHECK (mmid2 > 0 AND mmid2 <> mmid1),
    street       TEXT NOT NULL DEFAULT '' CHECK (length(street) <= 200),
    city         TEXT NOT NULL DEFAULT '' CHECK (length(city) <= 100),
    state        TEXT NOT NULL DEFAULT '' CHECK (length(state) <= 100),
    zipcode      TEXT NOT NULL DEFAULT '' CHECK (length(zipcode) <= 16),
    country      TEXT NOT NULL DEFAULT '' CHECK (length(country) <= 2),
    lat          REAL CHECK (lat BETWEEN -90 AND 90),
    lon          REAL CHECK (lon BETWEEN -180 AND 180),
    observed_at  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    geocoder     TEXT NOT NULL DEFAULT '' CHECK (length(geocoder) <= 32),
    event_source TEXT NOT NULL CHECK (length(event_source) <= 512),
    event_id     TEXT NOT NULL CHECK (length(event_id) <= 128),
    CONSTRAINT contactlist_event_identity UNIQUE (event_source, event_id)
);

CREATE INDEX contactlist_mmid1_observed ON contactlist (mmid1, observed_at);
CREATE INDEX contactlist_mmid2_observed ON contactlist (mmid2, observed_at);
CREATE INDEX contactlist_state_id ON contactlist (state, id);
CREATE INDEX contactlist_country_id ON contactlist (country, id);
CREATE INDEX contactlist_observed ON contactlist (observed_at);
