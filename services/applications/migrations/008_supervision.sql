-- Electronic supervision (电子监察): the colour the periodic job (supervision.c) gave each
-- application whose time limit runs. A row per coloured application (none: no row); the
-- applications row itself is not touched (its updated_at stays the time of its last step).
CREATE TABLE applications.supervision (
    application_id bigint PRIMARY KEY REFERENCES applications.applications (id),
    colour         text NOT NULL CHECK (colour IN ('green', 'yellow', 'red')),
    due_date       date NOT NULL,
    days_left      int  NOT NULL,  -- working days from the marking day to the due date
    changed_at     timestamptz NOT NULL DEFAULT now()
);

-- The work queue carries the colour too, so a department's red and yellow applications
-- are one B-tree range (department, urgency, due date, number): urgency 0 red, 1 yellow,
-- 2 anything else; the filter by colour is (department, supervision, due date, number).
ALTER TABLE applications.queue
    ADD COLUMN supervision text NOT NULL DEFAULT 'none'
        CHECK (supervision IN ('none', 'green', 'yellow', 'red')),
    ADD COLUMN urgency smallint NOT NULL DEFAULT 2 CHECK (urgency BETWEEN 0 AND 2);
CREATE INDEX queue_by_urgency ON applications.queue (department, urgency, due_key, number);
CREATE INDEX queue_by_supervision ON applications.queue (department, supervision, due_key, number);

-- A change of one application's colour (and the queue trigger's change of its status or
-- due date) finds its rows by application: without this each one read the whole queue
-- (a pass over 100,000 running applications did not end in 5 minutes).
CREATE INDEX queue_by_application ON applications.queue (application_id);

-- The job's candidates: applications whose limit runs, by id.
CREATE INDEX applications_running ON applications.applications (id)
    WHERE status IN ('accepted', 'in_review', 'resubmitted');

GRANT SELECT, INSERT, UPDATE, DELETE ON applications.supervision TO yw_applications_writer;
