-- A resident's feed: one row per feed.entry event, consumed from the producing services'
-- streams (the event id is unique, so a replayed event adds nothing).
CREATE TABLE feed.entries (
  id bigserial PRIMARY KEY,
  event_id uuid NOT NULL UNIQUE,
  subject text NOT NULL,
  type text NOT NULL CHECK (char_length(type) BETWEEN 1 AND 63),
  title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
  body text NOT NULL DEFAULT '' CHECK (char_length(body) <= 2000),
  link text NOT NULL DEFAULT '' CHECK (char_length(link) <= 200),
  source text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entries_subject ON feed.entries (subject, id);
