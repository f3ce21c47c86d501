-- Alerts to departments (督办提醒): the supervision pass (supervision.c, alerts.c) records
-- one when an application turns yellow (due within 2 working days) or red (overdue), for
-- each of its departments, and when a rectification case passes its deadline unanswered,
-- for the case's department, in the transaction of the change. Staff list their
-- department's open alerts and acknowledge them (audited); supervisors list every
-- department's red and overdue ones.
CREATE TABLE applications.alerts (
    id                 bigserial PRIMARY KEY,
    department         text NOT NULL CHECK (char_length(department) BETWEEN 1 AND 64),
    kind               text NOT NULL CHECK (kind IN ('yellow', 'red', 'rectification_overdue')),
    application_id     bigint REFERENCES applications.applications (id),
    application_number text NOT NULL DEFAULT '',
    rectification_id   bigint REFERENCES applications.rectifications (id),
    due_date           date NOT NULL,
    -- working days from the pass's day to the due date (negative: over); 0 for a case
    working_days       int NOT NULL DEFAULT 0,
    raised_on          date NOT NULL,       -- the pass's day (Asia/Shanghai)
    raised_at          timestamptz NOT NULL DEFAULT now(),
    acknowledged_at    timestamptz,
    acknowledged_by    text NOT NULL DEFAULT '',
    CHECK ((application_id IS NULL) <> (rectification_id IS NULL)),
    CHECK ((kind = 'rectification_overdue') = (rectification_id IS NOT NULL)),
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by = ''))
);
-- At most one open alert per application, kind and department: a second pass (or an
-- application red again before the first was acknowledged) adds nothing.
CREATE UNIQUE INDEX alerts_open_once ON applications.alerts (application_id, kind, department)
    WHERE acknowledged_at IS NULL AND application_id IS NOT NULL;
-- A case passes its deadline once: one alert ever.
CREATE UNIQUE INDEX alerts_case_once ON applications.alerts (rectification_id, department)
    WHERE rectification_id IS NOT NULL;
-- A department's open alerts, newest first: one range of (department, id).
CREATE INDEX alerts_department_open ON applications.alerts (department, id)
    WHERE acknowledged_at IS NULL;
CREATE INDEX alerts_department ON applications.alerts (department, id);
-- Supervisors' view: red and overdue, newest first.
CREATE INDEX alerts_supervised ON applications.alerts (id)
    WHERE kind IN ('red', 'rectification_overdue');
-- The pass's candidates among cases: the open ones, by id.
CREATE INDEX rectifications_open ON applications.rectifications (id)
    WHERE status = 'open';

-- Only acknowledgement changes an alert, once.
CREATE FUNCTION applications.check_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.acknowledged_at IS NOT NULL OR
       (NEW.id, NEW.department, NEW.kind, NEW.application_id, NEW.application_number,
        NEW.rectification_id, NEW.due_date, NEW.working_days, NEW.raised_on, NEW.raised_at)
       IS DISTINCT FROM
       (OLD.id, OLD.department, OLD.kind, OLD.application_id, OLD.application_number,
        OLD.rectification_id, OLD.due_date, OLD.working_days, OLD.raised_on, OLD.raised_at) THEN
        RAISE EXCEPTION USING ERRCODE = 'YW001', MESSAGE = 'an alert is only acknowledged, once';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER alerts_check BEFORE UPDATE ON applications.alerts
    FOR EACH ROW EXECUTE FUNCTION applications.check_alert();

-- Acknowledgements: who, which department, which alert, from where. Append-only.
CREATE TABLE applications.alert_audit (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    department text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL,
    request_id text NOT NULL DEFAULT '',
    source_ip  text NOT NULL DEFAULT ''
);
CREATE TRIGGER alert_audit_no_change BEFORE UPDATE OR DELETE ON applications.alert_audit
    FOR EACH ROW EXECUTE FUNCTION applications.license_audit_append_only();
CREATE TRIGGER alert_audit_no_truncate BEFORE TRUNCATE ON applications.alert_audit
    FOR EACH STATEMENT EXECUTE FUNCTION applications.license_audit_append_only();

GRANT SELECT, INSERT, UPDATE ON applications.alerts TO yw_applications_writer;
REVOKE DELETE, TRUNCATE ON applications.alerts FROM yw_applications_writer;
GRANT SELECT, INSERT ON applications.alert_audit TO yw_applications_writer;
REVOKE UPDATE, DELETE, TRUNCATE ON applications.alert_audit FROM yw_applications_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA applications TO yw_applications_writer;
