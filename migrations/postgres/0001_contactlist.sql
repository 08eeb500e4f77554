-- The original demo's table (id, mmid1, mmid2, street, city, state, zipcode,
-- country; sequence contacts_seq) with what it lacked: where and when the
-- contact happened, when it was recorded, which geocoder answered, and the
-- CloudEvent identity that makes redelivery harmless.
CREATE SEQUENCE IF NOT EXISTS contacts_seq;

CREATE TABLE contactlist (
    id           BIGINT PRIMARY KEY DEFAULT nextval('contacts_seq'),
    mmid1        BIGINT NOT NULL CHECK (mmid1 > 0),
    mmid2        BIGINT NOT NULL CHECK (mmid2 > 0 AND mmid2 <> mmid1),
    street       VARCHAR(200) NOT NULL DEFAULT '',
    city         VARCHAR(100) NOT NULL DEFAULT '',
    state        VARCHAR(100) NOT NULL DEFAULT '',
    zipcode      VARCHAR(16) NOT NULL DEFAULT '',
    country      VARCHAR(2) NOT NULL DEFAULT '',
    lat          DOUBLE PRECISION CHECK (lat BETWEEN -90 AND 90),
    lon          DOUBLE PRECISION CHECK (lon BETWEEN -180 AND 180),
    observed_at  TIMESTAMPTZ NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    geocoder     VARCHAR(32) NOT NULL DEFAULT '',
    event_source VARCHAR(512) NOT NULL,
    event_id     VARCHAR(128) NOT NULL,
    CONSTRAINT contactlist_event_identity UNIQUE (event_source, event_id)
);
ALTER SEQUENCE contacts_seq OWNED BY contactlist.id;

-- Whom one person met, and the exposure walk: by either side of the pair, in time.
CREATE INDEX contactlist_mmid1_observed ON contactlist (mmid1, observed_at);
CREATE INDEX contactlist_mmid2_observed ON contactlist (mmid2, observed_at);
-- The original endpoints, paged by id.
CREATE INDEX contactlist_state_id ON contactlist (state, id);
CREATE INDEX contactlist_country_id ON contactlist (country, id);
-- Retention purge and statistics by day.
CREATE INDEX contactlist_observed ON contactlist (observed_at);
