-- The files items may name, and the files each version names.
--
-- item_file_uploads: every file a department (or a platform administrator, department
-- '') uploaded through UploadItemFiles, one row per file and upload. UpsertItem accepts
-- a new file reference only when the item's department, or a platform administrator,
-- uploaded that file: a hash seen elsewhere in the shared file store (an applicant's
-- material) is not an item's file. The daily quota of a department counts its uploads.
CREATE TABLE catalog.item_file_uploads (
    id           bigserial PRIMARY KEY,
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size         bigint NOT NULL CHECK (size >= 0),
    content_type text NOT NULL DEFAULT '',
    department   text NOT NULL,        -- the uploader's department; '' for a platform administrator
    platform     boolean NOT NULL,     -- uploaded by a platform administrator
    actor        text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    -- 'upload' (UploadItemFiles, counted by the quota), or the files items named before
    -- uploads were recorded ('migration') and the demo seed's ('seed')
    source       text NOT NULL DEFAULT 'upload' CHECK (source IN ('upload', 'migration', 'seed'))
);
CREATE INDEX item_file_uploads_sha256 ON catalog.item_file_uploads (sha256);
CREATE INDEX item_file_uploads_department_at ON catalog.item_file_uploads (department, at);

-- Files a platform administrator withdrew: served by no version of any item, and no
-- longer accepted in a write. Withdrawals are audited (catalog.audit_log) and final.
CREATE TABLE catalog.withdrawn_files (
    sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    reason text NOT NULL,
    actor  text NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);

-- The file references of an item's details (forms' blank and sample, results' sample)
-- in the order the guide shows them.
CREATE FUNCTION catalog.details_refs(d jsonb) RETURNS TABLE (ref jsonb, pos int)
LANGUAGE sql IMMUTABLE AS $$
    SELECT f, pos FROM (
        SELECT e.v->'blank', (e.o * 2)::int FROM jsonb_array_elements(COALESCE(d->'forms', '[]'))
            WITH ORDINALITY AS e(v, o)
        UNION ALL
        SELECT e.v->'sample', (e.o * 2 + 1)::int FROM jsonb_array_elements(COALESCE(d->'forms', '[]'))
            WITH ORDINALITY AS e(v, o)
        UNION ALL
        SELECT e.v->'sample', (100000 + e.o)::int FROM jsonb_array_elements(COALESCE(d->'results', '[]'))
            WITH ORDINALITY AS e(v, o)
    ) s(f, pos)
    WHERE jsonb_typeof(f) = 'object' AND f->>'sha256' ~ '^[0-9a-f]{64}$'
$$;

-- The files of an item's details as an object from sha256 to the name the item gives
-- it; the first reference of a hash gives its name.
CREATE FUNCTION catalog.details_files(d jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT COALESCE(jsonb_object_agg(sha, name), '{}'::jsonb) FROM (
        SELECT DISTINCT ON (ref->>'sha256') ref->>'sha256' AS sha, COALESCE(ref->>'name', '') AS name
        FROM catalog.details_refs(d) ORDER BY ref->>'sha256', pos
    ) named
$$;

-- The files each version of an item names, as details_files gives them: what
-- GetItemFile answers from, one row per version. Kept by a trigger on items for every
-- version an items row takes (a draft kept aside is rolled back with its row); a
-- version stored before this table existed has no row and is read from its body.
CREATE TABLE catalog.item_version_files (
    item_id bigint NOT NULL REFERENCES catalog.items (id) ON DELETE CASCADE,
    version int NOT NULL,
    files   jsonb NOT NULL,
    PRIMARY KEY (item_id, version)
);

CREATE FUNCTION catalog.item_version_files_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.version = OLD.version
       AND NEW.details IS NOT DISTINCT FROM OLD.details THEN
        RETURN NULL;
    END IF;
    INSERT INTO catalog.item_version_files (item_id, version, files)
    VALUES (NEW.id, NEW.version, catalog.details_files(NEW.details))
    ON CONFLICT (item_id, version) DO UPDATE SET files = EXCLUDED.files;
    RETURN NULL;
END $$;

CREATE TRIGGER item_version_files_keep AFTER INSERT OR UPDATE ON catalog.items
    FOR EACH ROW EXECUTE FUNCTION catalog.item_version_files_keep();

INSERT INTO catalog.item_version_files (item_id, version, files)
SELECT id, version, catalog.details_files(details) FROM catalog.items;

-- The files items name today were checked against the store when they were written:
-- they count as uploaded by their items' departments.
INSERT INTO catalog.item_file_uploads (sha256, size, content_type, department, platform, actor,
                                       source)
SELECT DISTINCT r.ref->>'sha256', COALESCE((r.ref->>'size')::bigint, 0),
       COALESCE(r.ref->>'contentType', ''), i.department_code, false, '', 'migration'
FROM catalog.items i CROSS JOIN LATERAL catalog.details_refs(i.details) r;
