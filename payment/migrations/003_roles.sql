-- Roles. The migrations are applied by the database's owner (`yw-payment --migrate-only`),
-- and the service runs as a login role that is only a member of yw_payment_writer: it
-- reads and writes the payment tables and owns none of them. The append-only tables
-- (the ledger, order_events, audit_log) belong to yw_payment_ledger, a role nobody logs
-- in as: the writer may only INSERT and SELECT there, and their triggers hold for the
-- owner as well. Roles belong to the cluster, not the database.
DO $$
BEGIN
    BEGIN
        CREATE ROLE yw_payment_ledger NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    BEGIN
        CREATE ROLE yw_payment_writer NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END $$;

GRANT USAGE ON SCHEMA payment TO yw_payment_writer, yw_payment_ledger;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA payment TO yw_payment_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA payment TO yw_payment_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA payment
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO yw_payment_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA payment
    GRANT USAGE, SELECT ON SEQUENCES TO yw_payment_writer;

ALTER TABLE payment.accounts OWNER TO yw_payment_ledger;
ALTER TABLE payment.journal OWNER TO yw_payment_ledger;
ALTER TABLE payment.postings OWNER TO yw_payment_ledger;
ALTER TABLE payment.order_events OWNER TO yw_payment_ledger;
ALTER TABLE payment.audit_log OWNER TO yw_payment_ledger;
REVOKE ALL ON payment.accounts, payment.journal, payment.postings, payment.order_events,
    payment.audit_log FROM yw_payment_writer;
GRANT SELECT, INSERT ON payment.accounts, payment.journal, payment.postings,
    payment.order_events, payment.audit_log TO yw_payment_writer;
