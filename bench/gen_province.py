#!/usr/bin/env python3
"""gen_province.py - a province-sized catalog for bench/province.sh, as one SQL script.

    python3 bench/gen_province.py | psql -v ON_ERROR_STOP=1 -v items=300000 -d DB

The database must already hold the catalog schema (yw-catalog --migrate-only) and the
demo seed (services/catalog/seed/demo.sql): the demo's basic list (基本目录, 275 basic
items) and, for every basic code, its item at 连云港市 are the templates. The script
adds Jiangsu's 13 cities, their 95 county-level divisions and 13 towns (乡镇/街道) in
each county, a department per bureau in every city and county and a 便民服务中心 in
every town, then implements the basic items there until the catalog holds `items`
items (default 300000):

* every city and county implements every basic item, through its bureau of the same
  suffix as the template's department (320100-GA is 南京市公安局);
* every town implements, through its 便民服务中心, every basic item that is not an
  administrative licence, and the licences of the bureaus that have a station in the
  towns (市场监管所, 派出所, 住建, 卫健, 城管, 农业): 229 items a town.

Items are taken in a fixed order (cities, then counties, then towns, each by code), so
a smaller `items` gives the first part of the same catalog. Each item is its
template's copy — same name, type and legal basis (三级四同; the trigger checks every
row), same conditions, fees, limits, materials, steps, topics and national fields —
with the codes of the coding rule (basic code, "-", region, "-", department suffix),
the department's phone, and the template's keywords followed by the region's full and
short names ("南京市 南京", "江宁区 江宁"), which is how residents narrow a search.

Region codes of cities and counties are the official ones; town codes (county code and
three digits) and town names are illustrative, made from common place-name stems.
Stdlib only and deterministic: the same arguments always write the same bytes.
"""

import sys

PROVINCE = "320000"

CITIES = [  # code, name, area code of its phones, counties (code, name)
    ("320100", "南京市", "025", [
        ("320102", "玄武区"), ("320104", "秦淮区"), ("320105", "建邺区"), ("320106", "鼓楼区"),
        ("320111", "浦口区"), ("320113", "栖霞区"), ("320114", "雨花台区"), ("320115", "江宁区"),
        ("320116", "六合区"), ("320117", "溧水区"), ("320118", "高淳区")]),
    ("320200", "无锡市", "0510", [
        ("320205", "锡山区"), ("320206", "惠山区"), ("320211", "滨湖区"), ("320213", "梁溪区"),
        ("320214", "新吴区"), ("320281", "江阴市"), ("320282", "宜兴市")]),
    ("320300", "徐州市", "0516", [
        ("320302", "鼓楼区"), ("320303", "云龙区"), ("320305", "贾汪区"), ("320311", "泉山区"),
        ("320312", "铜山区"), ("320321", "丰县"), ("320322", "沛县"), ("320324", "睢宁县"),
        ("320381", "新沂市"), ("320382", "邳州市")]),
    ("320400", "常州市", "0519", [
        ("320402", "天宁区"), ("320404", "钟楼区"), ("320411", "新北区"), ("320412", "武进区"),
        ("320413", "金坛区"), ("320481", "溧阳市")]),
    ("320500", "苏州市", "0512", [
        ("320505", "虎丘区"), ("320506", "吴中区"), ("320507", "相城区"), ("320508", "姑苏区"),
        ("320509", "吴江区"), ("320581", "常熟市"), ("320582", "张家港市"), ("320583", "昆山市"),
        ("320585", "太仓市")]),
    ("320600", "南通市", "0513", [
        ("320612", "通州区"), ("320613", "崇川区"), ("320614", "海门区"), ("320623", "如东县"),
        ("320681", "启东市"), ("320682", "如皋市"), ("320685", "海安市")]),
    ("320700", "连云港市", "0518", [
        ("320703", "连云区"), ("320706", "海州区"), ("320707", "赣榆区"), ("320722", "东海县"),
        ("320723", "灌云县"), ("320724", "灌南县")]),
    ("320800", "淮安市", "0517", [
        ("320803", "淮安区"), ("320804", "淮阴区"), ("320812", "清江浦区"), ("320813", "洪泽区"),
        ("320826", "涟水县"), ("320830", "盱眙县"), ("320831", "金湖县")]),
    ("320900", "盐城市", "0515", [
        ("320902", "亭湖区"), ("320903", "盐都区"), ("320904", "大丰区"), ("320921", "响水县"),
        ("320922", "滨海县"), ("320923", "阜宁县"), ("320924", "射阳县"), ("320925", "建湖县"),
        ("320981", "东台市")]),
    ("321000", "扬州市", "0514", [
        ("321002", "广陵区"), ("321003", "邗江区"), ("321012", "江都区"), ("321023", "宝应县"),
        ("321081", "仪征市"), ("321084", "高邮市")]),
    ("321100", "镇江市", "0511", [
        ("321102", "京口区"), ("321111", "润州区"), ("321112", "丹徒区"), ("321181", "丹阳市"),
        ("321182", "扬中市"), ("321183", "句容市")]),
    ("321200", "泰州市", "0523", [
        ("321202", "海陵区"), ("321203", "高港区"), ("321204", "姜堰区"), ("321281", "兴化市"),
        ("321282", "靖江市"), ("321283", "泰兴市")]),
    ("321300", "宿迁市", "0527", [
        ("321302", "宿城区"), ("321311", "宿豫区"), ("321322", "沭阳县"), ("321323", "泗阳县"),
        ("321324", "泗洪县")]),
]

# The bureaus of a city or county: the suffixes of the demo's city departments, with the
# name that follows the region's name.
BUREAUS = [
    ("CG", "城市管理局"), ("CL", "残疾人联合会"), ("GA", "公安局"), ("GJJ", "住房公积金管理中心"),
    ("JT", "交通运输局"), ("JY", "教育局"), ("MZ", "民政局"), ("NY", "农业农村局"),
    ("RF", "人民防空办公室"), ("RS", "人力资源和社会保障局"), ("SCJG", "市场监督管理局"),
    ("SF", "司法局"), ("SL", "水利局"), ("STHJ", "生态环境局"), ("SW", "税务局"),
    ("SWU", "商务局"), ("TYJR", "退役军人事务局"), ("WGL", "文化广电和旅游局"),
    ("WJ", "卫生健康委员会"), ("YB", "医疗保障局"), ("YJ", "应急管理局"),
    ("ZJ", "住房和城乡建设局"), ("ZRZY", "自然资源和规划局"),
]

# Stems of town names; a county's towns take consecutive stems from a county-specific
# start, so names repeat across the province (as real ones do) but not within a county.
STEMS = (
    "新集 王庄 李集 张桥 高桥 双沟 马陵 青山 白马 黄河 杨树 柳湖 石桥 龙河 凤凰 金沙 永安 长安 "
    "太平 和平 兴隆 大兴 三河 五里 八里 十里 沙河 东湖 西湖 南湖 北湖 官庄 陈集 刘集 周庄 吴桥 "
    "孙圩 朱湖 徐庄 何桥 许集 胡庄 郭桥 梅园 桃源 杏花 荷花 竹园 松林 枫桥 槐树 柏庄 秦淮 "
    "城东 城西 城南 城北 新港 古城 临湖 望江 观音 红星 前进 东风 向阳 新华 光明 富民 丰乐 "
    "安丰 汤沟 洋河 仓集 曹庄 卓圩 龙集 汪集 花园 泉水 清河 蒲塘 葛村 华庄 横山 湖塘 牛塘"
).split()
STREETS_IN_DISTRICT = 9  # a 区 has mostly 街道, a county or county-level city mostly 镇
TOWNS_PER_COUNTY = 13

# Licences that a town's 便民服务中心 takes in (stations of these bureaus in the towns).
TOWN_LICENCE_BUREAUS = ("SCJG", "GA", "ZJ", "WJ", "CG", "NY")


def short_name(name):
    """南京市 -> 南京, 江宁区 -> 江宁, 丰县 -> 丰县 (one character before the suffix stays)."""
    for suffix in ("街道", "市", "区", "县", "镇"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def build():
    regions = []  # code, name, level, parent, short, seq
    depts = []  # code, name, region, phone
    seq = 0

    def region(code, name, level, parent):
        nonlocal seq
        seq += 1
        regions.append((code, name, level, parent, short_name(name), seq))

    for code, name, area, _ in CITIES:
        region(code, name, "city", PROVINCE)
        for i, (suffix, tail) in enumerate(BUREAUS):
            depts.append((f"{code}-{suffix}", name + tail, code, f"{area}-{8360 + i:04d}{code[2:4]}00"))
    towns = []
    for ci, (ccode, cname, area, counties) in enumerate(CITIES):
        for k, (code, name) in enumerate(counties):
            region(code, name, "county", ccode)
            for i, (suffix, tail) in enumerate(BUREAUS):
                dname = (f"{cname}公安局{name[:-1]}分局" if suffix == "GA" and name.endswith("区")
                         else (f"国家税务总局{name}税务局" if suffix == "SW" else name + tail))
                depts.append((f"{code}-{suffix}", dname, code,
                              f"{area}-{8100 + i:04d}{code[4:6]}{k % 10}"))
            streets = STREETS_IN_DISTRICT if name.endswith("区") else TOWNS_PER_COUNTY - STREETS_IN_DISTRICT
            start = (int(code) * 7) % len(STEMS)
            for t in range(TOWNS_PER_COUNTY):
                stem = STEMS[(start + t) % len(STEMS)]
                if t < streets:
                    tcode, tname = f"{code}{t + 1:03d}", stem + "街道"
                else:
                    tcode, tname = f"{code}{100 + t - streets:03d}", stem + "镇"
                towns.append((tcode, tname, code, name, area, t))
    for tcode, tname, parent, pname, area, t in towns:
        region(tcode, tname, "town", parent)
        depts.append((f"{tcode}-BM", f"{pname}{tname}便民服务中心", tcode,
                      f"{area}-8{tcode[4:6]}{t:02d}{tcode[6:]}"[:13]))
    return regions, depts


def copy_value(v):
    if v is None:
        return "\\N"
    return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy(out, table, columns, rows):
    out.write(f"COPY {table} ({', '.join(columns)}) FROM stdin;\n")
    for r in rows:
        out.write("\t".join(copy_value(v) for v in r) + "\n")
    out.write("\\.\n")


LOAD_SQL = r"""
INSERT INTO catalog.regions (code, name, level, parent_code)
SELECT code, name, level, parent_code FROM prov_regions ORDER BY seq
ON CONFLICT (code) DO NOTHING;
INSERT INTO catalog.departments (code, name, region_code, phone)
SELECT code, name, region_code, phone FROM prov_departments
ON CONFLICT (code) DO NOTHING;

-- The plan: which basic item each region implements, in a fixed order. The template of
-- a basic code is its item at 连云港市 (the demo implements every basic code there).
CREATE TEMP TABLE prov_plan AS
SELECT row_number() OVER (ORDER BY r.seq, t.basic_code) AS seq, t.id AS template_id,
       t.basic_code || '-' || d.code AS impl_code,
       r.code AS region_code, r.level, r.name AS region_name, r.short, d.code AS department_code,
       d.phone
FROM prov_regions r
JOIN catalog.items t ON t.region_code = '320700' AND t.level = 'city'
JOIN catalog.departments d
  ON d.code = r.code || '-' || CASE WHEN r.level = 'town' THEN 'BM'
                                    ELSE split_part(t.department_code, '-', 2) END
WHERE (r.level IN ('city', 'county')
       OR (r.level = 'town' AND (t.type <> 'ADMINISTRATIVE_LICENSE'
                                 OR split_part(t.department_code, '-', 2) = ANY (:'town_licences'))))
  AND NOT EXISTS (SELECT 1 FROM catalog.items x
                  WHERE x.impl_code = t.basic_code || '-' || d.code);
ANALYZE prov_plan;

SELECT coalesce(max(id), 0) AS prov_first_id, greatest(:items - count(*), 0) AS prov_new
FROM catalog.items \gset

-- the materials' trigger would touch each new item once per material; it is off while
-- the copies go in, and one UPDATE below composes every new item's search document
-- through the items' own trigger, as row-by-row writes would have left it
ALTER TABLE catalog.item_materials DISABLE TRIGGER item_materials_search_text;

INSERT INTO catalog.items (basic_code, impl_code, name, type, department_code, region_code,
    level, legal_basis, conditions, fee_required, fee_amount_fen, fee_basis, legal_limit_days,
    promised_limit_days, processing_kind, online_depth, channels, consult_phone, keywords,
    status, details)
SELECT t.basic_code, t.basic_code || '-' || p.department_code, t.name, t.type,
       p.department_code, p.region_code, p.level, t.legal_basis, t.conditions,
       t.fee_required, t.fee_amount_fen, t.fee_basis, t.legal_limit_days,
       t.promised_limit_days, t.processing_kind, t.online_depth, t.channels, p.phone,
       concat_ws(' ', nullif(t.keywords, ''), p.region_name,
                 nullif(p.short, p.region_name)),
       t.status, t.details
FROM prov_plan p JOIN catalog.items t ON t.id = p.template_id
WHERE p.seq <= :prov_new
ORDER BY p.seq;
ANALYZE catalog.items;

CREATE TEMP TABLE prov_new AS
SELECT i.id, p.template_id
FROM prov_plan p JOIN catalog.items i ON i.impl_code = p.impl_code
WHERE p.seq <= :prov_new;
ANALYZE prov_new;

INSERT INTO catalog.item_materials (item_id, seq, name, form, copies, required,
    license_replaceable, note)
SELECT n.id, m.seq, m.name, m.form, m.copies, m.required, m.license_replaceable, m.note
FROM prov_new n JOIN catalog.item_materials m ON m.item_id = n.template_id;
INSERT INTO catalog.item_steps (item_id, seq, name, description)
SELECT n.id, s.seq, s.name, s.description
FROM prov_new n JOIN catalog.item_steps s ON s.item_id = n.template_id;
INSERT INTO catalog.item_topics (item_id, topic_code)
SELECT n.id, x.topic_code
FROM prov_new n JOIN catalog.item_topics x ON x.item_id = n.template_id;

ALTER TABLE catalog.item_materials ENABLE TRIGGER item_materials_search_text;
UPDATE catalog.items SET search_text = '' WHERE id > :prov_first_id;
"""


def main():
    regions, depts = build()
    out = sys.stdout
    out.write("-- written by bench/gen_province.py; psql -v items=N (default 300000)\n")
    out.write("\\set ON_ERROR_STOP on\n")
    out.write("\\if :{?items}\n\\else\n\\set items 300000\n\\endif\n")
    out.write("\\set town_licences '{%s}'\n" % ",".join(TOWN_LICENCE_BUREAUS))
    out.write("BEGIN;\n")
    out.write("CREATE TEMP TABLE prov_regions (code text, name text, level text, "
              "parent_code text, short text, seq int);\n")
    copy(out, "prov_regions", ["code", "name", "level", "parent_code", "short", "seq"], regions)
    out.write("CREATE TEMP TABLE prov_departments (code text, name text, region_code text, "
              "phone text);\n")
    copy(out, "prov_departments", ["code", "name", "region_code", "phone"], depts)
    out.write(LOAD_SQL)
    out.write("COMMIT;\nVACUUM ANALYZE catalog.items;\nVACUUM ANALYZE catalog.item_materials;\n"
              "VACUUM ANALYZE catalog.item_steps;\nVACUUM ANALYZE catalog.item_topics;\n"
              "VACUUM ANALYZE catalog.departments;\nVACUUM ANALYZE catalog.regions;\n")


if __name__ == "__main__":
    main()
