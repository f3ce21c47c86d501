-- The form of an application carries personal data (ID numbers, phone numbers): it is
-- kept encrypted (AES-256-GCM under YW_APPLICATIONS_DATA_KEY, the application's number
-- as associated data, hex) in form_enc. The service re-encrypts the rows kept in clear
-- before it serves (applications_forms_encrypt, in batches) and writes form_enc only;
-- the old column stays until every deployment has re-encrypted, then goes in a later
-- migration.
ALTER TABLE applications.applications ADD COLUMN form_enc text
    CHECK (form_enc IS NULL OR form_enc ~ '^[0-9a-f]+$');
ALTER TABLE applications.applications ALTER COLUMN form DROP NOT NULL;
-- no row is written with a form in clear again: a row still holding one is re-encrypted
-- (form_enc set, form NULL) before anything else updates it
ALTER TABLE applications.applications ADD CONSTRAINT applications_form_in_clear_retired
    CHECK (form IS NULL) NOT VALID;
ALTER TABLE applications.applications ADD CONSTRAINT applications_form_kept
    CHECK (form IS NOT NULL OR form_enc IS NOT NULL) NOT VALID;
