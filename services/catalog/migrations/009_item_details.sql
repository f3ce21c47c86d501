-- The national standard fields of an item beyond its core (yiwang.catalog.v1.ItemDetails:
-- halls and hours, visits, what is offered, audiences, sub-cases, results, FAQ, forms,
-- fee items ...), kept as the message's proto3 JSON. The service validates it before
-- writing; SQL reads single fields where search needs them.
ALTER TABLE catalog.items ADD COLUMN details jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(details) = 'object');

-- The search document also holds the names of the item's sub-cases (办理项), which
-- residents search by ("补领", "换领").
CREATE OR REPLACE FUNCTION catalog.items_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_text := concat_ws(' ',
        catalog.compose_search_text(NEW.id, NEW.name, NEW.keywords, NEW.department_code,
                                    NEW.conditions),
        lower((SELECT string_agg(s->>'name', ' ')
                 FROM jsonb_array_elements(
                     CASE WHEN jsonb_typeof(NEW.details->'subCases') = 'array'
                          THEN NEW.details->'subCases' ELSE '[]'::jsonb END) s)));
    RETURN NEW;
END $$;

DROP TRIGGER items_search_text ON catalog.items;
CREATE TRIGGER items_search_text
    BEFORE INSERT OR UPDATE OF name, keywords, department_code, conditions, search_text, details
    ON catalog.items FOR EACH ROW EXECUTE FUNCTION catalog.items_search_text();
