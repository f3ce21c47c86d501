-- The department each basic code belongs to (基本目录 is kept by the department that holds
-- the power): the suffix of its department codes ("SCJG" of 320000-SCJG, 市场监管). Only
-- that department's province item sets or changes the entry, and only that department
-- implements the code at the province, city and county levels (a town's one 便民服务中心
-- implements the items of every department); a platform administrator may do either,
-- audited (services/catalog/README.md). An entry is owned from the item that starts it;
-- the entries listed already take the department of their province item, else of their
-- city item, else of any item above the towns.
ALTER TABLE catalog.basic_items ADD COLUMN owner text CHECK (owner ~ '^[A-Z0-9]+$');

UPDATE catalog.basic_items b SET owner = (
    SELECT split_part(i.department_code, '-', 2) FROM catalog.items i
    WHERE i.basic_code = b.basic_code AND i.level <> 'town'
    ORDER BY CASE i.level WHEN 'province' THEN 0 WHEN 'city' THEN 1 ELSE 2 END, i.impl_code
    LIMIT 1);
