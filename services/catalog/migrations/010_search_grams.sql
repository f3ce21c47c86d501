-- Search at the size of a province (bench/README.md, "province"). Residents mostly type
-- two-character words (社保, 医保, 户口), which give pg_trgm no trigram, so the trigram
-- index on search_text could not serve them and every such search read every item.
--
-- Each item now keeps the set of character unigrams and bigrams of its search document
-- (search_grams) and, apart, of its name and keywords (head_grams), both GIN-indexed
-- over the published items. A term of one character is in a text only if its unigram is
-- in the set, a longer term only if all its bigrams are; the set is the index's test and
-- strpos stays the exact rule. Both sets are generated columns, so every write that
-- changes the document (the items' trigger, including material and department changes
-- that touch search_text) changes them too.
--
-- Ranking reads where each term appears, in texts kept lower-cased beside the item so
-- that it neither calls lower() nor looks materials and departments up for each match:
-- name, keywords and conditions as generated columns, the material names and the
-- department's name (materials_text, department_text) set by a trigger of their own.

-- The distinct unigrams and bigrams of a text, lower-cased; grams that hold a space (the
-- separator of the document's parts) are left out, since no term holds one. PL/pgSQL
-- appends to the array in place: about 0.3 ms for a 300-character document, where the
-- same in one SQL statement took ten times as long.
CREATE FUNCTION catalog.search_grams(doc text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    c text[] := string_to_array(lower(doc), NULL);
    n int := coalesce(cardinality(c), 0);
    r text[] := '{}';
BEGIN
    FOR i IN 1 .. n LOOP
        IF c[i] <> ' ' THEN
            r := r || c[i];
            IF i < n AND c[i + 1] <> ' ' THEN
                r := r || (c[i] || c[i + 1]);
            END IF;
        END IF;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT g FROM unnest(r) g);
END $$;

-- The grams a text must hold to contain every one of terms (already lower-cased and
-- without white space): the bigrams of each longer term, the unigram of a one-character
-- term. Terms that are empty ask nothing.
CREATE FUNCTION catalog.query_grams(terms text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT g), '{}')
      FROM unnest(terms) t, unnest(catalog.search_grams(t)) g
     WHERE char_length(g) = 2 OR char_length(t) = 1
$$;

ALTER TABLE catalog.items ADD COLUMN materials_text text NOT NULL DEFAULT '',
                          ADD COLUMN department_text text NOT NULL DEFAULT '';

-- Set by their own trigger, fired by the writes that compose the search document
-- (009_item_details.sql), material changes and department renames included.
CREATE FUNCTION catalog.items_rank_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.department_text := lower(coalesce(
        (SELECT name FROM catalog.departments WHERE code = NEW.department_code), ''));
    NEW.materials_text := lower(coalesce(
        (SELECT string_agg(m.name, ' ' ORDER BY m.seq)
           FROM catalog.item_materials m WHERE m.item_id = NEW.id), ''));
    RETURN NEW;
END $$;

CREATE TRIGGER items_rank_text
    BEFORE INSERT OR UPDATE OF name, keywords, department_code, conditions, search_text, details
    ON catalog.items FOR EACH ROW EXECUTE FUNCTION catalog.items_rank_text();

-- Setting only these columns fires neither trigger: the search documents stay as they are.
UPDATE catalog.items i
   SET materials_text = lower(coalesce(m.names, '')), department_text = lower(d.name)
  FROM catalog.items i2
  JOIN catalog.departments d ON d.code = i2.department_code
  LEFT JOIN (SELECT item_id, string_agg(name, ' ' ORDER BY seq) AS names
               FROM catalog.item_materials GROUP BY item_id) m ON m.item_id = i2.id
 WHERE i2.id = i.id;

-- Generated columns are computed after the BEFORE triggers, from the document they set.
-- Adding them rewrites the table once, which also drops the space earlier updates left.
ALTER TABLE catalog.items
    ADD COLUMN search_grams text[] GENERATED ALWAYS AS (catalog.search_grams(search_text)) STORED,
    ADD COLUMN head_grams text[]
        GENERATED ALWAYS AS (catalog.search_grams(name || ' ' || keywords)) STORED,
    ADD COLUMN name_text text GENERATED ALWAYS AS (lower(name)) STORED,
    ADD COLUMN keywords_text text GENERATED ALWAYS AS (lower(keywords)) STORED,
    ADD COLUMN conditions_text text GENERATED ALWAYS AS (lower(conditions)) STORED;

CREATE INDEX items_search_grams_idx ON catalog.items USING gin (search_grams)
    WHERE status = 'published';
CREATE INDEX items_head_grams_idx ON catalog.items USING gin (head_grams)
    WHERE status = 'published';
-- Search no longer tests search_text with LIKE.
DROP INDEX catalog.items_search_trgm_idx;
ANALYZE catalog.items;
