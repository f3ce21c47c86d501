-- Privileged catalog writes, recorded in the same transaction as the write itself, so
-- no write exists without its record. Append-only.
CREATE TABLE catalog.audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    department text NOT NULL DEFAULT '',
    action     text NOT NULL,
    target     text NOT NULL,
    request_id text NOT NULL DEFAULT '',
    source_ip  text NOT NULL DEFAULT ''
);

CREATE FUNCTION catalog.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'YW002', MESSAGE = 'the audit log is append-only';
END $$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON catalog.audit_log
    FOR EACH ROW EXECUTE FUNCTION catalog.audit_log_append_only();
