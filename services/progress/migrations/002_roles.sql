-- The service runs as a login role that is a member of yw_progress_writer and owns
-- nothing (lib/README.md, "Adding a service"). Roles belong to the cluster.
DO $$
BEGIN
    BEGIN
        CREATE ROLE yw_progress_writer NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END $$;
GRANT USAGE ON SCHEMA progress TO yw_progress_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA progress TO yw_progress_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA progress TO yw_progress_writer;
-- the consumer's processed_events (yw_events_migrate) come after these migrations
ALTER DEFAULT PRIVILEGES IN SCHEMA progress
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO yw_progress_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA progress
    GRANT USAGE, SELECT ON SEQUENCES TO yw_progress_writer;
