-- The test service's schema: a resident's notes, their attachments (references into
-- the file store) and each resident's feed, filled from the event stream.
CREATE TABLE testsvc.notes (
  id bigserial PRIMARY KEY,
  owner text NOT NULL,
  text text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 500),
  priority int CHECK (priority BETWEEN 0 AND 9),
  item_code text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_owner ON testsvc.notes (owner, id);

CREATE TABLE testsvc.note_files (
  note_id bigint NOT NULL REFERENCES testsvc.notes (id),
  seq int NOT NULL,
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size bigint NOT NULL CHECK (size >= 0),
  content_type text NOT NULL,
  name text NOT NULL,
  PRIMARY KEY (note_id, seq)
);
CREATE INDEX note_files_sha ON testsvc.note_files (sha256);

-- One row per event a resident's feed shows; id is the event id clients resume from.
CREATE TABLE testsvc.feed (
  id bigserial PRIMARY KEY,
  owner text NOT NULL,
  type text NOT NULL,
  note_name text NOT NULL,
  text text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feed_owner ON testsvc.feed (owner, id);
