-- A resident's place (ListItemsRequest.place): the items of a region and of every
-- region above it. region_chain answers the region and its ancestors, nearest first,
-- or NULL for a code the catalog does not know (then nothing matches). The search
-- statements call it once per statement (an InitPlan) and look the chain up in
-- items_region_idx, which the planner intersects with the gram indexes of migration 010.
CREATE FUNCTION catalog.region_chain(p_code text) RETURNS text[]
    LANGUAGE sql STABLE STRICT AS $$
    WITH RECURSIVE up (code, parent_code, depth) AS (
        SELECT code, parent_code, 0 FROM catalog.regions WHERE code = p_code
        UNION ALL
        SELECT r.code, r.parent_code, up.depth + 1
          FROM catalog.regions r JOIN up ON r.code = up.parent_code
         WHERE up.depth < 8)
    SELECT array_agg(code ORDER BY depth) FROM up
$$;
