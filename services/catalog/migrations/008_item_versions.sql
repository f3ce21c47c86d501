-- Versions of an item. The items row is the newest version; every version a write
-- makes, and the version it replaces, is kept in item_versions as the packed
-- yiwang.catalog.v1.Item that GetItem answered, with its validity window: a version is
-- in effect from its write until the next version's write. A stored version never
-- changes: the only update allowed closes an open window once. Applications keep the
-- version they were filed under and read it back with GetItem(code, version).
ALTER TABLE catalog.items ADD COLUMN effective_from timestamptz NOT NULL DEFAULT now();
UPDATE catalog.items SET effective_from = updated_at;

CREATE TABLE catalog.item_versions (
    item_id        bigint NOT NULL REFERENCES catalog.items (id),
    version        int NOT NULL CHECK (version >= 1),
    status         text NOT NULL CHECK (status IN ('draft', 'published', 'retired')),
    effective_from timestamptz NOT NULL,
    effective_to   timestamptz CHECK (effective_to >= effective_from),
    body           bytea NOT NULL,
    actor          text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (item_id, version)
);

CREATE FUNCTION catalog.item_versions_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.effective_to IS NULL AND NEW.effective_to IS NOT NULL
           AND (NEW.item_id, NEW.version, NEW.status, NEW.effective_from, NEW.body, NEW.actor,
                NEW.created_at)
               IS NOT DISTINCT FROM
               (OLD.item_id, OLD.version, OLD.status, OLD.effective_from, OLD.body, OLD.actor,
                OLD.created_at) THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'YW002',
        MESSAGE = 'a stored item version never changes (only its window closes, once)';
END $$;

CREATE TRIGGER item_versions_frozen BEFORE UPDATE OR DELETE ON catalog.item_versions
    FOR EACH ROW EXECUTE FUNCTION catalog.item_versions_frozen();
CREATE TRIGGER item_versions_no_truncate BEFORE TRUNCATE ON catalog.item_versions
    FOR EACH STATEMENT EXECUTE FUNCTION catalog.item_versions_frozen();
