-- The holder of a license as yw-identity names it at issue (a person's masked name, a
-- company's register name), encrypted with the service's data key, the license's number
-- as associated data; NULL for licenses issued without it. Not part of the signed
-- content, and never in a verification's answer.
ALTER TABLE applications.licenses ADD COLUMN holder_name_enc text
    CHECK (holder_name_enc IS NULL OR holder_name_enc ~ '^[0-9a-f]+$');
