-- A rotated refresh token remembers what replaced it: the new token's hash and the new
-- pair itself, encrypted (AES-256-GCM under YW_DATA_KEY, the old token's hash as
-- associated data), so that a retry of the same refresh within the grace period gets
-- the same answer instead of being taken for reuse.
ALTER TABLE identity.refresh_tokens
    ADD COLUMN replaced_by text,
    ADD COLUMN next_enc    text;
