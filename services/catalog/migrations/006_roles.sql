-- Roles. The migrations are applied by the database's owner (`yw-catalog --migrate-only`
-- with the owner's YW_PG_DSN; a superuser or a role with CREATEROLE), and the service
-- runs as a login role that is only a member of yw_catalog_writer: it reads and writes
-- the catalog's tables and owns none of them, so it can drop, alter or disable
-- nothing. The audit log belongs to yw_catalog_audit, a role nobody logs in as and the
-- service is not a member of: the service may INSERT and SELECT there, nothing else,
-- and its append-only triggers (TRUNCATE too) hold for the owner as well.
--
-- Roles belong to the cluster, not the database: several catalog databases on one
-- server share them, and copies migrating at once may race to create them.
DO $$
BEGIN
    BEGIN
        CREATE ROLE yw_catalog_audit NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE yw_catalog_writer NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END $$;

GRANT USAGE ON SCHEMA catalog TO yw_catalog_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA catalog TO yw_catalog_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA catalog TO yw_catalog_writer;
-- tables and sequences later migrations create (the owner runs them too)
ALTER DEFAULT PRIVILEGES IN SCHEMA catalog
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO yw_catalog_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA catalog
    GRANT USAGE, SELECT ON SEQUENCES TO yw_catalog_writer;

ALTER TABLE catalog.audit_log OWNER TO yw_catalog_audit;
REVOKE ALL ON catalog.audit_log FROM yw_catalog_writer;
GRANT SELECT, INSERT ON catalog.audit_log TO yw_catalog_writer;

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON catalog.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION catalog.audit_log_append_only();
