-- The applications schema (办件): applications with their pinned item snapshot, the
-- timeline of every status change, the departments' opinions in joint approval, the
-- daily number sequences, and the status machine's allow-list, which a trigger holds
-- every status change to (the same list is in services/applications/application_status.c;
-- tests/integration/test_applications_service.c checks they agree).

-- Statuses are the lower-cased names of yiwang.applications.v1.ApplicationStatus.
CREATE TABLE applications.status_transitions (
    from_status text NOT NULL,
    to_status   text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO applications.status_transitions (from_status, to_status) VALUES
    ('submitted', 'accepted'),
    ('submitted', 'rejected'),
    ('accepted', 'in_review'),
    ('in_review', 'supplement_requested'),
    ('in_review', 'approved'),
    ('in_review', 'disapproved'),
    ('supplement_requested', 'resubmitted'),
    ('resubmitted', 'in_review'),
    ('approved', 'completed'),
    ('submitted', 'withdrawn'),
    ('accepted', 'withdrawn'),
    ('in_review', 'withdrawn'),
    ('supplement_requested', 'withdrawn'),
    ('resubmitted', 'withdrawn');

-- The last sequence given out per region and day (Asia/Shanghai): the number of an
-- application is region || day || lpad(last, 6). The upsert that takes the next one
-- holds the row until the filing commits, so numbers of one region and day are
-- distinct and a rolled back filing gives its number back.
CREATE TABLE applications.number_sequences (
    region text NOT NULL CHECK (region ~ '^[0-9]{6}$'),
    day    text NOT NULL CHECK (day ~ '^[0-9]{8}$'),
    last   int  NOT NULL CHECK (last BETWEEN 1 AND 999999),
    PRIMARY KEY (region, day)
);

CREATE TABLE applications.applications (
    id                bigserial PRIMARY KEY,
    number            text NOT NULL UNIQUE CHECK (number ~ '^[0-9]{20}$'),
    -- HMAC-SHA256 (the service's lookup key) of "<number>:<query code>"; the code
    -- itself is never stored.
    query_code_mac    text NOT NULL CHECK (query_code_mac ~ '^[0-9a-f]{64}$'),
    applicant_subject text NOT NULL CHECK (char_length(applicant_subject) BETWEEN 1 AND 63),
    applicant_kind    text NOT NULL CHECK (applicant_kind IN ('person', 'company')),
    applicant_org     text NOT NULL DEFAULT '',
    impl_code         text NOT NULL,
    item_version      int  NOT NULL CHECK (item_version >= 1),
    item_name         text NOT NULL,
    region_code       text NOT NULL CHECK (region_code ~ '^[0-9]{6}$'),
    lead_department   text NOT NULL,
    joint_departments text[] NOT NULL DEFAULT '{}',
    -- lead first, then the joint ones: the work queue's one predicate
    -- (departments @> ARRAY[$dept]) uses applications_departments
    departments       text[] NOT NULL CHECK (cardinality(departments) BETWEEN 1 AND 16),
    promised_days     int  NOT NULL CHECK (promised_days BETWEEN 0 AND 3650),
    form              jsonb NOT NULL CHECK (jsonb_typeof(form) = 'object'),
    status            text NOT NULL DEFAULT 'submitted' CHECK (status IN
                      ('submitted', 'accepted', 'rejected', 'in_review', 'supplement_requested',
                       'resubmitted', 'approved', 'disapproved', 'completed', 'withdrawn')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    accepted_at       timestamptz,
    due_date          date
);
CREATE INDEX applications_applicant ON applications.applications (applicant_subject, id DESC);
CREATE INDEX applications_departments ON applications.applications USING gin (departments);
CREATE INDEX applications_queue ON applications.applications (due_date, number);

-- Only the allow-list's changes of status; anything else is refused with YW001
-- (FAILED_PRECONDITION), whoever writes.
CREATE FUNCTION applications.check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT EXISTS (
        SELECT 1 FROM applications.status_transitions
         WHERE from_status = OLD.status AND to_status = NEW.status) THEN
        RAISE EXCEPTION USING ERRCODE = 'YW001',
            MESSAGE = format('an application %s cannot become %s', OLD.status, NEW.status);
    END IF;
    IF NEW.number IS DISTINCT FROM OLD.number OR NEW.item_version IS DISTINCT FROM OLD.item_version
       OR NEW.applicant_subject IS DISTINCT FROM OLD.applicant_subject THEN
        RAISE EXCEPTION USING ERRCODE = 'YW001',
            MESSAGE = 'the number, the item version and the applicant never change';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;
CREATE TRIGGER applications_check_transition BEFORE UPDATE ON applications.applications
    FOR EACH ROW EXECUTE FUNCTION applications.check_transition();

-- The timeline: one row per status change, the filing included (from_status '').
CREATE TABLE applications.application_transitions (
    id               bigserial PRIMARY KEY,
    application_id   bigint NOT NULL REFERENCES applications.applications (id),
    from_status      text NOT NULL,
    to_status        text NOT NULL,
    actor            text NOT NULL,
    actor_department text NOT NULL DEFAULT '',
    reason           text NOT NULL DEFAULT '' CHECK (octet_length(reason) <= 500),
    at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX application_transitions_app ON applications.application_transitions (application_id, id);

-- Joint approval: one opinion per department of the application.
CREATE TABLE applications.opinions (
    application_id bigint NOT NULL REFERENCES applications.applications (id),
    department     text NOT NULL,
    decision       text NOT NULL CHECK (decision IN ('approve', 'disapprove')),
    reason         text NOT NULL DEFAULT '' CHECK (octet_length(reason) <= 500),
    actor          text NOT NULL,
    at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_id, department)
);

-- The service runs as a login role that is a member of yw_applications_writer and owns
-- nothing (lib/README.md, "Adding a service"). Roles belong to the cluster.
DO $$
BEGIN
    BEGIN
        CREATE ROLE yw_applications_writer NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
END $$;
GRANT USAGE ON SCHEMA applications TO yw_applications_writer;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA applications TO yw_applications_writer;
REVOKE INSERT, UPDATE ON applications.status_transitions FROM yw_applications_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA applications TO yw_applications_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA applications
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO yw_applications_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA applications
    GRANT USAGE, SELECT ON SEQUENCES TO yw_applications_writer;
