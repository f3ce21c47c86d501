-- 一件事一次办: the bundle filings of yw-applications, from their members'
-- application.submitted (bundle_number, bundle_query_code_mac, bundle_code,
-- bundle_name, bundle_position), for the public combined lookup by the filing's number
-- and query code. A filing's status is computed from its members' rows when read.
CREATE TABLE progress.bundles (
    number         text PRIMARY KEY CHECK (number ~ '^[0-9]{20}$'),
    bundle_code    text NOT NULL CHECK (char_length(bundle_code) BETWEEN 1 AND 32),
    bundle_name    text NOT NULL CHECK (char_length(bundle_name) <= 200),
    query_code_mac text NOT NULL CHECK (char_length(query_code_mac) = 64)
);
ALTER TABLE progress.applications
    ADD COLUMN bundle_number text,
    ADD COLUMN bundle_position int;
CREATE INDEX applications_bundle_idx ON progress.applications (bundle_number, bundle_position)
    WHERE bundle_number IS NOT NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON progress.bundles TO yw_progress_writer;
