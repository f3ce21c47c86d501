-- Electronic licenses (电子证照): what an application's item issues on completion (its
-- snapshot at filing), the licenses with their sealed content, their number sequences,
-- the validity of each license type, and the audit of revocations.

-- The item's license result at filing ('' when the item issues none): the type is the
-- item's basic code (基本编码), the name its result's name (审批结果 of type 证照).
ALTER TABLE applications.applications
    ADD COLUMN license_type text NOT NULL DEFAULT ''
        CHECK (license_type = '' OR license_type ~ '^[A-Z0-9]{10}$'),
    ADD COLUMN license_name text NOT NULL DEFAULT ''
        CHECK (char_length(license_name) <= 200);

-- Years a license of a type is valid; a type without a row: 5 years.
CREATE TABLE applications.license_validity (
    license_type text PRIMARY KEY CHECK (license_type ~ '^[A-Z0-9]{10}$'),
    years        int  NOT NULL CHECK (years BETWEEN 1 AND 100)
);

-- The last sequence given out per issuer region, type and year (Asia/Shanghai): a
-- license number is region || type || year || lpad(last, 6). As with application
-- numbers, the upsert holds the row until the completion commits: numbers are distinct
-- and a rolled back completion gives its number back.
CREATE TABLE applications.license_sequences (
    region text NOT NULL CHECK (region ~ '^[0-9]{6}$'),
    type   text NOT NULL CHECK (type ~ '^[A-Z0-9]{10}$'),
    year   text NOT NULL CHECK (year ~ '^[0-9]{4}$'),
    last   int  NOT NULL CHECK (last BETWEEN 1 AND 999999),
    PRIMARY KEY (region, type, year)
);

CREATE TABLE applications.licenses (
    id                 bigserial PRIMARY KEY,
    number             text NOT NULL UNIQUE CHECK (number ~ '^[0-9]{6}[A-Z0-9]{10}[0-9]{10}$'),
    type               text NOT NULL,
    name               text NOT NULL,
    holder_subject     text NOT NULL,
    holder_kind        text NOT NULL CHECK (holder_kind IN ('person', 'company')),
    holder_org         text NOT NULL DEFAULT '',
    issuer             text NOT NULL,
    issued_at          timestamptz NOT NULL,
    valid_from         date NOT NULL,
    valid_until        date NOT NULL CHECK (valid_until >= valid_from),
    -- one license per application
    application_number text NOT NULL UNIQUE
                       REFERENCES applications.applications (number),
    -- the canonical JSON that was signed, byte for byte, and its SM2 signature (base64)
    content            text NOT NULL,
    signature          text NOT NULL,
    revoked_at         timestamptz,
    revoked_by         text,
    revoke_reason      text,
    CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);
CREATE INDEX licenses_holder ON applications.licenses (holder_subject, id DESC);

-- Who revoked which license, when, from where and why: append-only.
CREATE TABLE applications.license_audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    department text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    request_id text NOT NULL DEFAULT '',
    source_ip  text NOT NULL DEFAULT ''
);
CREATE FUNCTION applications.license_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'YW002', MESSAGE = 'the audit log is append-only';
END $$;
CREATE TRIGGER license_audit_no_change BEFORE UPDATE OR DELETE ON applications.license_audit
    FOR EACH ROW EXECUTE FUNCTION applications.license_audit_append_only();
CREATE TRIGGER license_audit_no_truncate BEFORE TRUNCATE ON applications.license_audit
    FOR EACH STATEMENT EXECUTE FUNCTION applications.license_audit_append_only();

GRANT SELECT, INSERT, UPDATE ON applications.licenses, applications.license_sequences,
    applications.license_validity TO yw_applications_writer;
GRANT SELECT, INSERT ON applications.license_audit TO yw_applications_writer;
REVOKE UPDATE, DELETE, TRUNCATE ON applications.license_audit FROM yw_applications_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA applications TO yw_applications_writer;
REVOKE DELETE, TRUNCATE ON applications.licenses FROM yw_applications_writer;
