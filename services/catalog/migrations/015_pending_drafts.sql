-- Drafts of a published item. The items row is the version in effect: what GetItem
-- answers and search finds. A draft edit of a published (or retired) item leaves that
-- row alone and is kept in item_versions only (status draft, never served), numbered
-- after every version before it, until a write publishes or retires a newer version,
-- which is numbered after the drafts. next_version gives the number of an item's next
-- version: one more than its row's and than every version kept.
CREATE FUNCTION catalog.next_version(p_item bigint, p_current int) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT GREATEST(p_current, COALESCE((SELECT max(version) FROM catalog.item_versions
                                         WHERE item_id = p_item), 0)) + 1
$$;
