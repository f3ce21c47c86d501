-- 一件事一次办: life-event bundles (开办企业, 新生儿出生) of implementation items a resident
-- files together once. A bundle belongs to a region; its members are items of the
-- catalog, in the order a resident goes through them.
CREATE TABLE catalog.bundles (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
    region_code text NOT NULL REFERENCES catalog.regions (code),
    audience    text NOT NULL CHECK (audience IN ('person', 'company')),
    status      text NOT NULL DEFAULT 'published' CHECK (status IN ('draft', 'published'))
);

CREATE TABLE catalog.bundle_items (
    bundle_code text NOT NULL REFERENCES catalog.bundles (code) ON DELETE CASCADE,
    seq         int  NOT NULL CHECK (seq BETWEEN 1 AND 10),
    impl_code   text NOT NULL REFERENCES catalog.items (impl_code) ON DELETE CASCADE,
    PRIMARY KEY (bundle_code, seq),
    UNIQUE (bundle_code, impl_code)
);
