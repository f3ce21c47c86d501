-- Companies as the company register (企业登记) has them, and the people who may act for
-- them: the legal representative (checked against the register by ID number) or an
-- agent (授权经办人) the representative authorised, within a scope, until an expiry.

-- The register's name and status are refreshed on every binding: the register is the
-- truth, not the first resident who bound the company.
ALTER TABLE identity.legal_persons
    ADD COLUMN status     text NOT NULL DEFAULT 'active',
    ADD COLUMN checked_at timestamptz;

-- An authorisation. agent_id_hash is the agent's ID number under the lookup key (as
-- persons.id_card_hash); name and ID number are kept encrypted with the credit code as
-- associated data. One authorisation in force per company and agent.
CREATE TABLE identity.company_agents (
    id            bigserial PRIMARY KEY,
    credit_code   text NOT NULL REFERENCES identity.legal_persons (credit_code),
    agent_id_hash text NOT NULL,
    agent_name_enc text NOT NULL,
    agent_id_enc  text NOT NULL,
    scope         text[] NOT NULL CHECK (cardinality(scope) > 0 AND
                                         scope <@ ARRAY['apply', 'pay', 'read', 'sign']::text[]),
    expires_at    timestamptz NOT NULL,
    granted_by    text NOT NULL,
    granted_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE UNIQUE INDEX company_agents_in_force_idx ON identity.company_agents (credit_code, agent_id_hash)
    WHERE revoked_at IS NULL;

-- Bindings made before the register was consulted were never checked: they are dropped,
-- and their residents bind again (checked now).
DELETE FROM identity.person_legal_persons;

ALTER TABLE identity.person_legal_persons
    ADD COLUMN role     text NOT NULL DEFAULT 'representative'
                        CHECK (role IN ('representative', 'agent')),
    ADD COLUMN agent_id bigint REFERENCES identity.company_agents (id),
    ADD CONSTRAINT person_legal_persons_agent_check CHECK ((role = 'agent') = (agent_id IS NOT NULL));
