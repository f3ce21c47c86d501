-- The materials of an application and what satisfied each: an electronic license the
-- applicant held at filing (source 'license'). Uploads (source 'upload', with the
-- file's reference) are not built yet.
CREATE TABLE applications.application_materials (
    application_id bigint NOT NULL REFERENCES applications.applications (id),
    seq            int    NOT NULL CHECK (seq BETWEEN 1 AND 1000),
    name           text   NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    source         text   NOT NULL CHECK (source IN ('license', 'upload')),
    license_number text   REFERENCES applications.licenses (number),
    CHECK ((source = 'license') = (license_number IS NOT NULL)),
    PRIMARY KEY (application_id, seq)
);
GRANT SELECT, INSERT, UPDATE ON applications.application_materials TO yw_applications_writer;
