-- A change of legal representative in the company register ends what the previous one
-- held: their own binding, and every authorisation of an agent they granted
-- (identity.c, BINDING_IN_FORCE). The register's representative, as last looked up, is
-- kept by the SHA-256 of their ID number (as the register gives it); a representative's
-- binding and an authorisation keep the representative of their time. Rows from before
-- have none and no longer hold: their residents bind again, checked against the register.
ALTER TABLE identity.legal_persons ADD COLUMN legal_rep_id_sha256 text
    CHECK (legal_rep_id_sha256 ~ '^[0-9a-f]{64}$');
ALTER TABLE identity.person_legal_persons ADD COLUMN rep_id_sha256 text
    CHECK (rep_id_sha256 ~ '^[0-9a-f]{64}$');
ALTER TABLE identity.company_agents ADD COLUMN granted_rep_id_sha256 text
    CHECK (granted_rep_id_sha256 ~ '^[0-9a-f]{64}$');
