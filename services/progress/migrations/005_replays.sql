-- Every ReplayEvents call (replay.c): who asked, from where to where, with what outcome.
-- Rows are only added: the service's role may insert and read them, never change them.
CREATE TABLE progress.replays (
    id             bigserial PRIMARY KEY,
    actor_subject  text NOT NULL CHECK (char_length(actor_subject) BETWEEN 1 AND 63),
    cleared        boolean NOT NULL,
    from_entry     text NOT NULL CHECK (char_length(from_entry) <= 40),
    to_entry       text NOT NULL CHECK (char_length(to_entry) <= 40),
    replayed       int NOT NULL CHECK (replayed >= 0),
    skipped        int NOT NULL CHECK (skipped >= 0),
    done           boolean NOT NULL,
    stopped        text NOT NULL CHECK (char_length(stopped) <= 300),
    at             timestamptz NOT NULL DEFAULT now()
);
REVOKE UPDATE, DELETE, TRUNCATE ON progress.replays FROM yw_progress_writer;
