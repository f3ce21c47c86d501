-- Materials (材料) beside the licenses of migration 006: the list the item version gave
-- when the application was filed (so later catalog edits never change what a running
-- case asks for), the files the applicant uploaded for them (by their SHA-256 in the
-- file store, yw-files), and every read of those files by staff.
CREATE TABLE applications.item_materials (
    application_id      bigint NOT NULL REFERENCES applications.applications (id),
    seq                 int    NOT NULL CHECK (seq BETWEEN 1 AND 1000),
    name                text   NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    required            boolean NOT NULL,
    license_replaceable boolean NOT NULL,
    PRIMARY KEY (application_id, seq)
);

CREATE TABLE applications.material_files (
    application_id bigint NOT NULL,
    seq            int    NOT NULL,
    sha256         text   NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size           bigint NOT NULL CHECK (size > 0),
    content_type   text   NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    file_name      text   NOT NULL CHECK (octet_length(file_name) <= 255),
    uploaded_by    text   NOT NULL CHECK (char_length(uploaded_by) BETWEEN 1 AND 63),
    uploaded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, seq, sha256),
    FOREIGN KEY (application_id, seq)
        REFERENCES applications.application_materials (application_id, seq)
);
CREATE INDEX material_files_by_hash ON applications.material_files (application_id, sha256);

-- Staff reading a resident's uploaded file: written in the transaction that allows the
-- read, so no read goes unrecorded. Rows are only added.
CREATE TABLE applications.material_reads (
    id             bigserial PRIMARY KEY,
    application_id bigint NOT NULL REFERENCES applications.applications (id),
    sha256         text   NOT NULL,
    actor          text   NOT NULL,
    actor_department text NOT NULL,
    at             timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT ON applications.item_materials, applications.material_files,
    applications.material_reads TO yw_applications_writer;
GRANT USAGE ON SEQUENCE applications.material_reads_id_seq TO yw_applications_writer;
REVOKE UPDATE, DELETE, TRUNCATE ON applications.item_materials, applications.material_files,
    applications.material_reads FROM yw_applications_writer;
