-- An item's search document holds its department's name (002_search_text.sql), so
-- renaming a department recomputes the documents of its items: their search_text is
-- touched and the items' own trigger composes it again with the new name.
CREATE FUNCTION catalog.departments_touch_items() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog.items SET search_text = '' WHERE department_code = NEW.code;
    RETURN NULL;
END $$;

CREATE TRIGGER departments_search_text
    AFTER UPDATE OF name ON catalog.departments
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION catalog.departments_touch_items();
