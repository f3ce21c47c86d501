-- A precomputed, lower-cased search document per item: name, keywords, department,
-- conditions and material names. Search then reads one column per row instead of
-- joining materials for every candidate, and a trigram index serves terms of three or
-- more characters. Triggers keep it current when an item or its materials change.
ALTER TABLE catalog.items ADD COLUMN search_text text NOT NULL DEFAULT '';

CREATE FUNCTION catalog.compose_search_text(p_id bigint, p_name text, p_keywords text,
                                            p_department text, p_conditions text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT lower(concat_ws(' ', p_name, p_keywords,
                           (SELECT name FROM catalog.departments WHERE code = p_department),
                           p_conditions,
                           (SELECT string_agg(m.name, ' ' ORDER BY m.seq)
                              FROM catalog.item_materials m WHERE m.item_id = p_id)))
$$;

CREATE FUNCTION catalog.items_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_text := catalog.compose_search_text(NEW.id, NEW.name, NEW.keywords,
                                                   NEW.department_code, NEW.conditions);
    RETURN NEW;
END $$;

CREATE TRIGGER items_search_text
    BEFORE INSERT OR UPDATE OF name, keywords, department_code, conditions, search_text
    ON catalog.items FOR EACH ROW EXECUTE FUNCTION catalog.items_search_text();

-- Material changes touch their item, which recomputes its document.
CREATE FUNCTION catalog.materials_touch_item() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE catalog.items SET search_text = '' WHERE id = OLD.item_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE catalog.items SET search_text = '' WHERE id = NEW.item_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER item_materials_search_text
    AFTER INSERT OR UPDATE OR DELETE ON catalog.item_materials
    FOR EACH ROW EXECUTE FUNCTION catalog.materials_touch_item();

UPDATE catalog.items SET search_text = '';

CREATE INDEX items_search_trgm_idx ON catalog.items USING gin (search_text gin_trgm_ops);
