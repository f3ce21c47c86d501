-- 三级四同 follows the basic list (基本目录): the province (or a platform administrator)
-- sets the one name, type and legal basis of a basic code, and an item at any level
-- must carry the same three. The entry is no longer whatever item was written first:
-- an item whose basic code is not in the list is refused, and UpsertItem writes the
-- list only from a province-level item (or, for a code not yet listed, from a platform
-- administrator's item at any level). The legal basis is compared after normalising
-- full-width punctuation to half-width and dropping white space, so that "第八条；"
-- and "第八条; " are one basis.
CREATE FUNCTION catalog.normalize_basis(p text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT regexp_replace(translate(p,
        '！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［＼］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～　 “”‘’。',
        '!"#$%&''()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\]^_`abcdefghijklmnopqrstuvwxyz{|}~  ""''''.'),
        '[[:space:]]+', '', 'g')
$$;

CREATE OR REPLACE FUNCTION catalog.enforce_same_basic() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    b catalog.basic_items%ROWTYPE;
BEGIN
    SELECT * INTO b FROM catalog.basic_items WHERE basic_code = NEW.basic_code FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'YW001',
            MESSAGE = format('basic code %s is not in the basic list: the province sets it first',
                             NEW.basic_code);
    END IF;
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
    IF catalog.normalize_basis(b.legal_basis) <> catalog.normalize_basis(NEW.legal_basis) THEN
        RAISE EXCEPTION USING ERRCODE = 'YW001',
            MESSAGE = format('basic code %s has one legal basis at every level; this item''s differs',
                             NEW.basic_code);
    END IF;
    RETURN NEW;
END $$;
