-- pact-notify's tables (docs/privacy.md): the cases it was told of and the
-- notifications it made for them. A notification's id is unique, and so is
-- (case, person): a redelivered case, a restart or a second instance never
-- notifies anyone twice for one case. The retention purge deletes both.
CREATE TABLE cases (
    case_id       VARCHAR(36) PRIMARY KEY,
    -- NULL for a case withdrawn before its report arrived (delivery is not
    -- ordered): the report, when it comes, finds it withdrawn.
    mmid          BIGINT CHECK (mmid > 0),
    onset         TIMESTAMPTZ,
    reference     VARCHAR(400) NOT NULL DEFAULT '',
    -- Random, never sent: notification ids are derived from it, so they
    -- cannot be traced back to the case by trying person ids and dates.
    secret        VARCHAR(36) NOT NULL,
    recorded_at   TIMESTAMPTZ NOT NULL,
    -- When its notifications were all made (rows below); NULL before.
    planned_at    TIMESTAMPTZ,
    withdrawn_at  TIMESTAMPTZ
);
CREATE INDEX cases_recorded ON cases (recorded_at);

CREATE TABLE notifications (
    id            VARCHAR(36) PRIMARY KEY,
    case_id       VARCHAR(36) NOT NULL REFERENCES cases (case_id) ON DELETE CASCADE,
    mmid          BIGINT NOT NULL CHECK (mmid > 0),
    hops          INT NOT NULL CHECK (hops BETWEEN 1 AND 2),
    -- The event's data, exactly as emitted (and re-emitted after a crash).
    data          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    -- An instance sending it holds it until then; another waits.
    lease_until   TIMESTAMPTZ,
    -- When the sink accepted it; NULL before.
    sent_at       TIMESTAMPTZ,
    -- When the sink accepted its withdrawal; NULL before.
    withdrawn_at  TIMESTAMPTZ,
    CONSTRAINT notifications_case_person UNIQUE (case_id, mmid)
);
CREATE INDEX notifications_created ON notifications (created_at);
