-- The working-day calendar (statutory holidays and make-up working days) staff load per
-- year (PutCalendar): due dates are counted with it. Every copy of the service keeps it
-- in memory and reloads it when calendar_state.version moves (services/applications/
-- calendar.c), so a load through one copy reaches all.
CREATE TABLE applications.calendar_days (
    day  date PRIMARY KEY CHECK (day BETWEEN DATE '2000-01-01' AND DATE '2100-12-31'),
    kind text NOT NULL CHECK (kind IN ('holiday', 'workday')),
    name text NOT NULL DEFAULT '' CHECK (octet_length(name) < 64),
    -- a make-up working day (调休上班) is a Saturday or Sunday
    CHECK (kind = 'holiday' OR extract(isodow FROM day) >= 6)
);

-- One row: the calendar's version, one more at every load.
CREATE TABLE applications.calendar_state (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    version    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO applications.calendar_state DEFAULT VALUES;

-- Who loaded which year when, with how many days: written in the load's transaction.
-- Append-only.
CREATE TABLE applications.calendar_loads (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    year       int  NOT NULL,
    days       int  NOT NULL,
    version    bigint NOT NULL,
    request_id text NOT NULL DEFAULT '',
    source_ip  text NOT NULL DEFAULT ''
);

CREATE FUNCTION applications.calendar_loads_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'YW002', MESSAGE = 'the calendar loads are append-only';
END $$;
CREATE TRIGGER calendar_loads_no_change BEFORE UPDATE OR DELETE ON applications.calendar_loads
    FOR EACH ROW EXECUTE FUNCTION applications.calendar_loads_append_only();

GRANT SELECT, INSERT, UPDATE, DELETE ON applications.calendar_days TO yw_applications_writer;
GRANT SELECT, UPDATE ON applications.calendar_state TO yw_applications_writer;
GRANT SELECT, INSERT ON applications.calendar_loads TO yw_applications_writer;
GRANT USAGE, SELECT ON SEQUENCE applications.calendar_loads_id_seq TO yw_applications_writer;
