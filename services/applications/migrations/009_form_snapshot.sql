-- The form definition (lib/yw_form.h) of the item version an application was filed
-- under, as the catalog answered it at filing: the form was validated against it at
-- filing and is again at each resubmission, so later catalog edits never alter a
-- running case. NULL: the item had no definition (any object was taken).
ALTER TABLE applications.applications ADD COLUMN form_definition jsonb
    CHECK (form_definition IS NULL OR jsonb_typeof(form_definition) = 'object');
