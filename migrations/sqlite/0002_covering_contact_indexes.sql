-- The same as migrations/postgres/0002: SQLite indexes carry the rowid (id)
-- already, so the other person is the only column to add.
DROP INDEX IF EXISTS contactlist_mmid1_observed;
DROP INDEX IF EXISTS contactlist_mmid2_observed;
CREATE INDEX contactlist_mmid1_observed ON contactlist (mmid1, observed_at, mmid2);
CREATE INDEX contactlist_mmid2_observed ON contactlist (mmid2, observed_at, mmid1);
