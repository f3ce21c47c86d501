-- Roles (as the catalog's 006_roles.sql). The migrations are applied by the database's
-- owner (`yw-identity --migrate-only` with the owner's YW_PG_DSN; a superuser, or a role
-- with CREATEROLE that owns the database), and the service runs as a login role that is
-- only a member of yw_identity_writer: it reads and writes identity's tables and owns
-- none of them, nor the schema, so it can drop, alter or disable nothing. The audit log
-- belongs to yw_identity_audit, a role nobody logs in as and the service is not a
-- member of: the service may INSERT and SELECT there, nothing else, and its append-only
-- triggers (TRUNCATE too) hold for the owner as well. The audit log is identity's only
-- append-only table.
--
-- Roles belong to the cluster, not the database: several identity databases on one
-- server share them, and copies migrating at once may race to create them.
DO $$
BEGIN
    BEGIN
        CREATE ROLE yw_identity_audit NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE yw_identity_writer NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END $$;

-- A database whose earlier migrations the service's own login role applied (yw-identity
-- migrating itself at start-up, as deployments did before) has the schema, its tables
-- and the audit log's trigger function owned by that role, which could then drop or
-- replace them. Applied by a superuser (deploy/README.md), this migration takes them
-- over for the role applying it, and the previous owner, which runs the service,
-- becomes a member of yw_identity_writer.
DO $$
DECLARE
    prev name := (SELECT nspowner::regrole::name FROM pg_namespace WHERE nspname = 'identity');
    obj record;
BEGIN
    IF prev = current_user THEN
        RETURN;
    END IF;
    ALTER SCHEMA identity OWNER TO CURRENT_USER;
    FOR obj IN SELECT c.oid::regclass AS name FROM pg_class c
               WHERE c.relnamespace = 'identity'::regnamespace AND c.relkind IN ('r', 'p')
                 AND c.relowner = prev::regrole LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO CURRENT_USER', obj.name);
    END LOOP;
    -- sequences of serial columns went with their tables
    FOR obj IN SELECT c.oid::regclass AS name FROM pg_class c
               WHERE c.relnamespace = 'identity'::regnamespace AND c.relkind = 'S'
                 AND c.relowner = prev::regrole LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO CURRENT_USER', obj.name);
    END LOOP;
    FOR obj IN SELECT p.oid::regprocedure AS name FROM pg_proc p
               WHERE p.pronamespace = 'identity'::regnamespace AND p.proowner = prev::regrole LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO CURRENT_USER', obj.name);
    END LOOP;
    EXECUTE format('GRANT yw_identity_writer TO %I', prev);
END $$;

GRANT USAGE ON SCHEMA identity TO yw_identity_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA identity TO yw_identity_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA identity TO yw_identity_writer;
-- tables and sequences later migrations create (the owner runs them too)
ALTER DEFAULT PRIVILEGES IN SCHEMA identity
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO yw_identity_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA identity
    GRANT USAGE, SELECT ON SEQUENCES TO yw_identity_writer;
-- the service only reads which migrations were applied (a start-up with nothing to do)
REVOKE INSERT, UPDATE, DELETE ON identity.schema_migrations FROM yw_identity_writer;

-- Giving the audit log away: an owner that is no superuser must be a member of the new
-- owner, and the new owner needs CREATE on the schema for the moment of the change.
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'yw_identity_audit', 'MEMBER') THEN
        GRANT yw_identity_audit TO CURRENT_USER;
    END IF;
END $$;
GRANT CREATE ON SCHEMA identity TO yw_identity_audit;
ALTER TABLE identity.audit_log OWNER TO yw_identity_audit;
REVOKE CREATE ON SCHEMA identity FROM yw_identity_audit;
REVOKE ALL ON identity.audit_log FROM yw_identity_writer;
GRANT SELECT, INSERT ON identity.audit_log TO yw_identity_writer;
