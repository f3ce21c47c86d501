-- The second factor of staff whose roles need one (platform_admin, finance, auditor):
-- a TOTP secret (RFC 6238), kept encrypted (AES-256-GCM under YW_DATA_KEY, the staff
-- subject as associated data). An enrolment holds the secret as pending until a code
-- confirms it. totp_last_step is the last step a code was accepted for: a step is
-- accepted once. Recovery codes are kept as keyed hashes (HMAC under YW_LOOKUP_KEY),
-- one use each.
ALTER TABLE identity.staff
    ADD COLUMN totp_secret_enc  text,
    ADD COLUMN totp_pending_enc text,
    ADD COLUMN totp_enrolled_at timestamptz,
    ADD COLUMN totp_last_step   bigint;

CREATE TABLE identity.staff_recovery_codes (
    staff_id  bigint NOT NULL REFERENCES identity.staff (id) ON DELETE CASCADE,
    code_hash text NOT NULL,
    pending   boolean NOT NULL DEFAULT true,
    used_at   timestamptz,
    PRIMARY KEY (staff_id, code_hash)
);
