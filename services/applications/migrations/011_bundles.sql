-- 一件事一次办: a resident files a life-event bundle of the catalog (开办企业, 新生儿出生)
-- once, with one form; each member item becomes an application of its own, all filed in
-- one transaction, sharing the bundle's query code and its materials.
CREATE TABLE applications.bundle_filings (
    id                bigserial PRIMARY KEY,
    number            text NOT NULL UNIQUE CHECK (number ~ '^[0-9]{20}$'),
    -- HMAC-SHA256 (the service's lookup key) of "<number>:<query code>", as applications
    query_code_mac    text NOT NULL CHECK (query_code_mac ~ '^[0-9a-f]{64}$'),
    bundle_code       text NOT NULL CHECK (char_length(bundle_code) BETWEEN 1 AND 32),
    bundle_name       text NOT NULL CHECK (char_length(bundle_name) BETWEEN 1 AND 100),
    applicant_subject text NOT NULL CHECK (char_length(applicant_subject) BETWEEN 1 AND 63),
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bundle_filings_applicant ON applications.bundle_filings (applicant_subject, id);

ALTER TABLE applications.applications
    ADD COLUMN bundle_id bigint REFERENCES applications.bundle_filings (id);
CREATE INDEX applications_bundle ON applications.applications (bundle_id) WHERE bundle_id IS NOT NULL;

GRANT SELECT, INSERT ON applications.bundle_filings TO yw_applications_writer;
GRANT USAGE ON SEQUENCE applications.bundle_filings_id_seq TO yw_applications_writer;
