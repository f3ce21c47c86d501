-- A company's applications are the company's, whoever filed them: a person acting for
-- the company lists them by its credit code.
CREATE INDEX applications_company ON applications.applications (applicant_org, id DESC)
    WHERE applicant_kind = 'company';
CREATE INDEX licenses_company ON applications.licenses (holder_org, id DESC)
    WHERE holder_kind = 'company';
