-- The file store: content-addressed blobs in chunks, and uploads being received.
--
-- A blob is named by the SHA-256 of its bytes (hex); its bytes are the rows of
-- chunks in offset order. An upload collects chunks under its id until Commit
-- verifies them and moves them into the blob's chunks (or drops them when the blob
-- exists already); uploads that are never committed are purged by age.
CREATE TABLE files.blobs (
  sha256       text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size         bigint NOT NULL CHECK (size >= 0),
  content_type text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE files.chunks (
  sha256 text NOT NULL REFERENCES files.blobs (sha256) ON DELETE CASCADE,
  off    bigint NOT NULL CHECK (off >= 0),
  data   bytea NOT NULL,
  PRIMARY KEY (sha256, off)
);

CREATE TABLE files.uploads (
  id         uuid PRIMARY KEY,
  max_size   bigint NOT NULL CHECK (max_size >= 0),
  received   bigint NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= max_size),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_created_at ON files.uploads (created_at);

CREATE TABLE files.upload_chunks (
  upload_id uuid NOT NULL REFERENCES files.uploads (id) ON DELETE CASCADE,
  off       bigint NOT NULL CHECK (off >= 0),
  data      bytea NOT NULL,
  PRIMARY KEY (upload_id, off)
);
