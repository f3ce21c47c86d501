-- The application form of an item (yw_form's definition, lib/yw_form.h): fields, types,
-- rules, conditions and prefills, as the JSON object UpsertItem checked with yw_form.
-- NULL: the item has no form definition (its applications take any object). It is part
-- of the item, so every write makes a new version and item_versions keeps each one.
ALTER TABLE catalog.items ADD COLUMN form jsonb
    CHECK (form IS NULL OR jsonb_typeof(form) = 'object');
