-- A company's applications are the company's, whoever filed them: the applicant's kind
-- and company (from application.submitted) decide whose list a row is in. Rows of
-- earlier events read as a person's until a replay (ReplayEvents) brings the kind.
ALTER TABLE progress.applications
    ADD COLUMN applicant_kind text NOT NULL DEFAULT 'person'
        CHECK (applicant_kind IN ('person', 'company')),
    ADD COLUMN applicant_org text NOT NULL DEFAULT '';
CREATE INDEX applications_company_idx
    ON progress.applications (applicant_org, submitted_us DESC, number DESC)
    WHERE applicant_kind = 'company';
