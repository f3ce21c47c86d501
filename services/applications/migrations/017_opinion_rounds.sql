-- Joint approval decides on what the application says: when a supplement is asked for,
-- the opinions given so far were on the form and materials before it, so they are
-- superseded (kept, with when) and every department decides again after the
-- resubmission. One current opinion per department of an application.
ALTER TABLE applications.opinions ADD COLUMN superseded_at timestamptz;
ALTER TABLE applications.opinions DROP CONSTRAINT opinions_pkey;
CREATE UNIQUE INDEX opinions_current ON applications.opinions (application_id, department)
    WHERE superseded_at IS NULL;
CREATE INDEX opinions_app ON applications.opinions (application_id);
