-- Where the supervision pass stopped at its bound (supervision.c): the next pass goes on
-- from last_id, so with many running applications the high ids are coloured too. One row;
-- 0 once a pass went through the whole range.
CREATE TABLE applications.supervision_cursor (
    id      int PRIMARY KEY CHECK (id = 1),
    last_id bigint NOT NULL DEFAULT 0 CHECK (last_id >= 0),
    at      timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE ON applications.supervision_cursor TO yw_applications_writer;

-- A calendar load recomputes the due dates of the running applications due in or after
-- its year (calendar.c): how many it changed is part of the load's audit record.
ALTER TABLE applications.calendar_loads
    ADD COLUMN due_dates_changed int NOT NULL DEFAULT 0 CHECK (due_dates_changed >= 0);
