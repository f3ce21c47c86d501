-- Holds: how many committed uploads keep a blob. Commit of new bytes makes the blob
-- with one hold, a Commit of bytes already stored adds one; Release (the gateway, for
-- an upload whose owning service refused the request) takes one away, and the blob
-- and its chunks go with its last. Blobs stored before holds were counted keep one.
ALTER TABLE files.blobs ADD COLUMN holds int NOT NULL DEFAULT 1 CHECK (holds > 0);
ALTER TABLE files.blobs ALTER COLUMN holds DROP DEFAULT;
