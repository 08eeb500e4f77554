-- The same tables as migrations/postgres/0003_cases_notifications.sql, in
-- SQLite's terms (times as fixed-width UTC text, see 0001).
CREATE TABLE cases (
    case_id       TEXT PRIMARY KEY CHECK (length(case_id) = 36),
    mmid          INTEGER CHECK (mmid > 0),
    onset         TEXT,
    reference     TEXT NOT NULL DEFAULT '' CHECK (length(reference) <= 400),
    secret        TEXT NOT NULL CHECK (length(secret) = 36),
    recorded_at   TEXT NOT NULL,
    planned_at    TEXT,
    withdrawn_at  TEXT
);
CREATE INDEX cases_recorded ON cases (recorded_at);

CREATE TABLE notifications (
    id            TEXT PRIMARY KEY CHECK (length(id) = 36),
    case_id       TEXT NOT NULL REFERENCES cases (case_id) ON DELETE CASCADE,
    mmid          INTEGER NOT NULL CHECK (mmid > 0),
    hops          INTEGER NOT NULL CHECK (hops BETWEEN 1 AND 2),
    data          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    lease_until   TEXT,
    sent_at       TEXT,
    withdrawn_at  TEXT,
    CONSTRAINT notifications_case_person UNIQUE (case_id, mmid)
);
CREATE INDEX notifications_created ON notifications (created_at);
