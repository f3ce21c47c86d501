-- yw-progress: its own projection of the applications service's events. Rebuilt from
-- the stream (a new consumer group from the start), so nothing here is the record.
CREATE TABLE progress.applications (
    number            text PRIMARY KEY CHECK (number ~ '^[0-9]{20}$'),
    applicant_subject text NOT NULL,
    impl_code         text NOT NULL,
    item_name         text NOT NULL,
    departments       text[] NOT NULL,
    status            text NOT NULL,
    query_code_mac    text NOT NULL,
    submitted_at      timestamptz NOT NULL,
    submitted_us      bigint NOT NULL,     -- submitted_at in unix microseconds: the list's cursor
    due_date          date,
    updated_at        timestamptz NOT NULL,
    last_event_ms     bigint NOT NULL  -- occurred_at of the newest event applied
);
CREATE INDEX applications_mine_idx
    ON progress.applications (applicant_subject, submitted_us DESC, number DESC);

-- One row per event: a replayed event adds nothing (event_id is unique).
CREATE TABLE progress.steps (
    seq             bigserial PRIMARY KEY, -- the order the events were consumed in
    event_id        uuid NOT NULL UNIQUE,
    number          text NOT NULL REFERENCES progress.applications ON DELETE CASCADE,
    status          text NOT NULL,
    at              timestamptz NOT NULL,
    department_code text NOT NULL DEFAULT '',
    reason          text NOT NULL DEFAULT ''
);
CREATE INDEX steps_number_idx ON progress.steps (number, seq);
