-- Accounts, sessions' refresh tokens and the audit trail. Personal data is stored
-- encrypted (AES-256-GCM, *_enc) and looked up by keyed hash (*_hash); it is never
-- stored in clear.
CREATE TABLE identity.persons (
    id             bigserial PRIMARY KEY,
    subject        text NOT NULL UNIQUE,
    phone_hash     text NOT NULL UNIQUE,
    phone_enc      text NOT NULL,
    name_enc       text NOT NULL DEFAULT '',
    id_card_enc    text NOT NULL DEFAULT '',
    id_card_hash   text UNIQUE,
    realname_level int  NOT NULL DEFAULT 1 CHECK (realname_level BETWEEN 1 AND 5),
    created_at     timestamptz NOT NULL DEFAULT now(),
    verified_at    timestamptz
);

CREATE TABLE identity.staff (
    id            bigserial PRIMARY KEY,
    subject       text NOT NULL UNIQUE,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{3,32}$'),
    password_hash text NOT NULL,
    department    text NOT NULL DEFAULT '',
    roles         text[] NOT NULL CHECK (roles <@ ARRAY['dept_staff', 'dept_admin', 'finance',
                                                        'platform_admin', 'auditor']::text[]),
    failed_count  int NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE identity.legal_persons (
    credit_code   text PRIMARY KEY CHECK (length(credit_code) = 18),
    name          text NOT NULL,
    legal_rep_enc text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE identity.person_legal_persons (
    person_id   bigint NOT NULL REFERENCES identity.persons (id),
    credit_code text NOT NULL REFERENCES identity.legal_persons (credit_code),
    bound_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, credit_code)
);

-- One row per refresh token. A family is one login; rotation adds a row to it. Using a
-- consumed token again revokes the whole family (reuse detection).
CREATE TABLE identity.refresh_tokens (
    id         bigserial PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    family     uuid NOT NULL,
    subject    text NOT NULL,
    session_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON identity.refresh_tokens (family);
CREATE INDEX refresh_tokens_subject_idx ON identity.refresh_tokens (subject);

-- Append-only: every login, failed login, privilege use, export and staff read of a
-- resident's data. target_subject is the resident whose data was touched, which is
-- what their data tracker lists.
CREATE TABLE identity.audit_log (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL,
    actor_kind     text NOT NULL,
    department     text NOT NULL DEFAULT '',
    action         text NOT NULL,
    target         text NOT NULL DEFAULT '',
    target_subject text,
    outcome        text NOT NULL,
    request_id     text NOT NULL DEFAULT '',
    source_ip      text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_target_idx ON identity.audit_log (target_subject, id);
CREATE INDEX audit_log_actor_idx ON identity.audit_log (actor, id);

CREATE FUNCTION identity.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'YW002', MESSAGE = 'the audit log is append-only';
END $$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON identity.audit_log
    FOR EACH ROW EXECUTE FUNCTION identity.audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON identity.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION identity.audit_log_append_only();
