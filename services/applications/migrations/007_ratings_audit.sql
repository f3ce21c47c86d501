-- Staff's steps on rectification cases (answer, phone revisit, close): who, when, from
-- where, on which case. Append-only, as the license audit (005_licenses.sql).
CREATE TABLE applications.rectification_audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    department text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    request_id text NOT NULL DEFAULT '',
    source_ip  text NOT NULL DEFAULT ''
);
CREATE TRIGGER rectification_audit_no_change BEFORE UPDATE OR DELETE ON applications.rectification_audit
    FOR EACH ROW EXECUTE FUNCTION applications.license_audit_append_only();
CREATE TRIGGER rectification_audit_no_truncate BEFORE TRUNCATE ON applications.rectification_audit
    FOR EACH STATEMENT EXECUTE FUNCTION applications.license_audit_append_only();

GRANT SELECT, INSERT ON applications.rectification_audit TO yw_applications_writer;
REVOKE UPDATE, DELETE, TRUNCATE ON applications.rectification_audit FROM yw_applications_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA applications TO yw_applications_writer;
