-- The catalog schema: regions, departments, topics and service items with the national
-- standard fields. 三级四同 is enforced by the database itself: basic_items holds the one
-- name, type and legal basis of each basic code, and a trigger refuses an item that differs.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE catalog.regions (
    code        text PRIMARY KEY CHECK (code ~ '^[0-9]{6}([0-9]{3})?$'),
    name        text NOT NULL,
    level       text NOT NULL CHECK (level IN ('province', 'city', 'county', 'town')),
    parent_code text REFERENCES catalog.regions (code)
);

CREATE TABLE catalog.departments (
    code        text PRIMARY KEY,
    name        text NOT NULL,
    region_code text NOT NULL REFERENCES catalog.regions (code),
    phone       text NOT NULL DEFAULT '',
    sort        int  NOT NULL DEFAULT 0
);

CREATE TABLE catalog.topics (
    code     text PRIMARY KEY,
    name     text NOT NULL,
    audience text NOT NULL CHECK (audience IN ('person', 'company')),
    sort     int  NOT NULL DEFAULT 0
);

CREATE TABLE catalog.basic_items (
    basic_code  text PRIMARY KEY,
    name        text NOT NULL,
    type        text NOT NULL,
    legal_basis text NOT NULL
);

CREATE TABLE catalog.items (
    id                  bigserial PRIMARY KEY,
    basic_code          text NOT NULL REFERENCES catalog.basic_items (basic_code),
    impl_code           text NOT NULL UNIQUE,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type                text NOT NULL CHECK (type IN (
                            'ADMINISTRATIVE_LICENSE', 'ADMINISTRATIVE_PAYMENT',
                            'ADMINISTRATIVE_CONFIRMATION', 'ADMINISTRATIVE_LEVY',
                            'ADMINISTRATIVE_ADJUDICATION', 'ADMINISTRATIVE_REWARD',
                            'OTHER_ADMINISTRATIVE_POWER', 'PUBLIC_SERVICE')),
    department_code     text NOT NULL REFERENCES catalog.departments (code),
    region_code         text NOT NULL REFERENCES catalog.regions (code),
    level               text NOT NULL CHECK (level IN ('province', 'city', 'county', 'town')),
    legal_basis         text NOT NULL,
    conditions          text NOT NULL DEFAULT '',
    fee_required        boolean NOT NULL DEFAULT false,
    fee_amount_fen      bigint NOT NULL DEFAULT 0 CHECK (fee_amount_fen >= 0),
    fee_basis           text NOT NULL DEFAULT '',
    legal_limit_days    int NOT NULL CHECK (legal_limit_days >= 0),
    promised_limit_days int NOT NULL CHECK (promised_limit_days >= 0),
    processing_kind     text NOT NULL CHECK (processing_kind IN ('INSTANT', 'PROMISED')),
    online_depth        int NOT NULL DEFAULT 1 CHECK (online_depth BETWEEN 1 AND 4),
    channels            text[] NOT NULL DEFAULT '{}',
    consult_phone       text NOT NULL DEFAULT '',
    keywords            text NOT NULL DEFAULT '',
    version             int NOT NULL DEFAULT 1,
    status              text NOT NULL DEFAULT 'published'
                            CHECK (status IN ('draft', 'published', 'retired')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (promised_limit_days <= legal_limit_days OR legal_limit_days = 0),
    CHECK (NOT fee_required OR fee_amount_fen > 0)
);

CREATE TABLE catalog.item_materials (
    item_id             bigint NOT NULL REFERENCES catalog.items (id) ON DELETE CASCADE,
    seq                 int NOT NULL,
    name                text NOT NULL,
    form                text NOT NULL CHECK (form IN ('ORIGINAL', 'COPY', 'ORIGINAL_AND_COPY', 'ELECTRONIC')),
    copies              int NOT NULL DEFAULT 1 CHECK (copies >= 0),
    required            boolean NOT NULL DEFAULT true,
    license_replaceable boolean NOT NULL DEFAULT false,
    note                text NOT NULL DEFAULT '',
    PRIMARY KEY (item_id, seq)
);

CREATE TABLE catalog.item_steps (
    item_id     bigint NOT NULL REFERENCES catalog.items (id) ON DELETE CASCADE,
    seq         int NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    PRIMARY KEY (item_id, seq)
);

CREATE TABLE catalog.item_topics (
    item_id    bigint NOT NULL REFERENCES catalog.items (id) ON DELETE CASCADE,
    topic_code text NOT NULL REFERENCES catalog.topics (code),
    PRIMARY KEY (item_id, topic_code)
);

CREATE INDEX items_department_idx ON catalog.items (department_code);
CREATE INDEX items_region_idx ON catalog.items (region_code);
CREATE INDEX items_basic_idx ON catalog.items (basic_code);
CREATE INDEX items_name_trgm_idx ON catalog.items USING gin (name gin_trgm_ops);
CREATE INDEX items_keywords_trgm_idx ON catalog.items USING gin (keywords gin_trgm_ops);
CREATE INDEX item_topics_topic_idx ON catalog.item_topics (topic_code);

-- 三级四同: the first item of a basic code fixes its name, type and legal basis; every
-- later item of that code, at any level, must carry the same three.
CREATE FUNCTION catalog.enforce_same_basic() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    b catalog.basic_items%ROWTYPE;
BEGIN
    INSERT INTO catalog.basic_items (basic_code, name, type, legal_basis)
    VALUES (NEW.basic_code, NEW.name, NEW.type, NEW.legal_basis)
    ON CONFLICT (basic_code) DO NOTHING;
    SELECT * INTO b FROM catalog.basic_items WHERE basic_code = NEW.basic_code FOR SHARE;
    IF b.name <> NEW.name THEN
        RAISE EXCEPTION USING ERRCODE = 'YW001',
            MESSAGE = format('basic code %s is named "%s" at every level, not "%s"',
                             NEW.basic_code, b.name, NEW.name);
    END IF;
    IF b.type <> NEW.type THEN
        RAISE EXCEPTION USING ERRCODE = 'YW001',
            MESSAGE = format('basic code %s has type %s at every level, not %s',
                             NEW.basic_code, b.type, NEW.type);
    END IF;
    IF b.legal_basis <> NEW.legal_basis THEN
        RAISE EXCEPTION USING ERRCODE = 'YW001',
            MESSAGE = format('basic code %s has one legal basis at every level; this item''s differs',
                             NEW.basic_code);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER items_same_basic
    BEFORE INSERT OR UPDATE OF basic_code, name, type, legal_basis ON catalog.items
    FOR EACH ROW EXECUTE FUNCTION catalog.enforce_same_basic();
