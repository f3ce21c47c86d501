-- 好差评 (GB/T 39735): ratings of finished applications and of channels and halls, the
-- counts per department and item kept by each rating's transaction (the public summary
-- reads them, never the ratings), and the rectification (整改) cases that bad ratings
-- open, with their timeline (the audit of staff's steps is in 007_ratings_audit.sql).

CREATE TABLE applications.ratings (
    id                 bigserial PRIMARY KEY,
    rater_subject      text NOT NULL CHECK (char_length(rater_subject) BETWEEN 1 AND 63),
    -- once per application; NULL for a channel's or hall's rating
    application_number text UNIQUE REFERENCES applications.applications (number),
    channel            text NOT NULL CHECK (channel IN ('app', 'mini_program', 'web', 'hall')),
    hall_code          text NOT NULL DEFAULT '' CHECK ((channel = 'hall') = (hall_code <> '')),
    department         text NOT NULL CHECK (char_length(department) BETWEEN 1 AND 64),
    departments        text[] NOT NULL CHECK (cardinality(departments) BETWEEN 1 AND 16),
    item_code          text NOT NULL DEFAULT '' CHECK (char_length(item_code) <= 64),
    level              text NOT NULL CHECK (level IN ('very_satisfied', 'satisfied',
                       'basically_satisfied', 'dissatisfied', 'very_dissatisfied')),
    text               text NOT NULL DEFAULT '' CHECK (char_length(text) <= 500),
    tags               text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 8),
    -- the day in Asia/Shanghai: a channel's rating is once a day per resident
    day                date NOT NULL DEFAULT (now() AT TIME ZONE 'Asia/Shanghai')::date,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ratings_once_a_day ON applications.ratings
    (rater_subject, channel, hall_code, department, item_code, day)
    WHERE application_number IS NULL;

-- Counts per (department or item) and level: every rating adds one to the row of each of
-- its departments and of its item; a closed case adds one to its rating's rectified.
CREATE TABLE applications.rating_counts (
    scope     text NOT NULL CHECK (scope IN ('department', 'item')),
    code      text NOT NULL,
    level     text NOT NULL,
    ratings   bigint NOT NULL DEFAULT 0 CHECK (ratings >= 0),
    rectified bigint NOT NULL DEFAULT 0 CHECK (rectified >= 0),
    PRIMARY KEY (scope, code, level)
);

CREATE TABLE applications.rectifications (
    id                bigserial PRIMARY KEY,
    rating_id         bigint NOT NULL UNIQUE REFERENCES applications.ratings (id),
    department        text NOT NULL,
    status            text NOT NULL DEFAULT 'open'
                      CHECK (status IN ('open', 'answered', 'revisited', 'closed')),
    due_date          date NOT NULL,
    verification      text NOT NULL DEFAULT '' CHECK (verification IN ('', 'valid', 'invalid')),
    measures          text NOT NULL DEFAULT '' CHECK (char_length(measures) <= 1000),
    revisit_satisfied boolean,
    revisit_note      text NOT NULL DEFAULT '' CHECK (char_length(revisit_note) <= 500),
    revisit_by        text NOT NULL DEFAULT '' CHECK (revisit_by IN ('', 'applicant', 'phone')),
    opened_at         timestamptz NOT NULL DEFAULT now(),
    answered_at       timestamptz,
    closed_at         timestamptz
);
-- a department's list: overdue first is (status = 'open' AND due_date < today)
CREATE INDEX rectifications_department ON applications.rectifications (department, due_date, id);
CREATE INDEX rectifications_due ON applications.rectifications (due_date, id);

-- Only open -> answered -> revisited -> closed, whoever writes.
CREATE FUNCTION applications.check_rectification() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
        (OLD.status = 'open' AND NEW.status = 'answered') OR
        (OLD.status = 'answered' AND NEW.status = 'revisited') OR
        (OLD.status = 'revisited' AND NEW.status = 'closed')) THEN
        RAISE EXCEPTION USING ERRCODE = 'YW001',
            MESSAGE = format('a rectification %s cannot become %s', OLD.status, NEW.status);
    END IF;
    IF NEW.rating_id IS DISTINCT FROM OLD.rating_id OR NEW.department IS DISTINCT FROM OLD.department THEN
        RAISE EXCEPTION USING ERRCODE = 'YW001', MESSAGE = 'a case keeps its rating and department';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER rectifications_check BEFORE UPDATE ON applications.rectifications
    FOR EACH ROW EXECUTE FUNCTION applications.check_rectification();

CREATE TABLE applications.rectification_steps (
    id                bigserial PRIMARY KEY,
    rectification_id  bigint NOT NULL REFERENCES applications.rectifications (id),
    from_status       text NOT NULL,
    to_status         text NOT NULL,
    actor             text NOT NULL,
    actor_department  text NOT NULL DEFAULT '',
    note              text NOT NULL DEFAULT '' CHECK (char_length(note) <= 1000),
    at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rectification_steps_case ON applications.rectification_steps (rectification_id, id);

GRANT SELECT, INSERT, UPDATE ON applications.ratings, applications.rating_counts,
    applications.rectifications, applications.rectification_steps TO yw_applications_writer;
REVOKE DELETE, TRUNCATE ON applications.ratings, applications.rectifications,
    applications.rectification_steps FROM yw_applications_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA applications TO yw_applications_writer;
