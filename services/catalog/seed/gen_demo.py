#!/usr/bin/env python3
"""Generates services/catalog/seed/demo.sql: demo data for the catalog schema.

    python3 services/catalog/seed/gen_demo.py          # writes demo.sql next to this file
    python3 services/catalog/seed/gen_demo.py -o FILE  # or elsewhere ("-" for stdout)
    python3 services/catalog/seed/gen_demo.py -o /dev/null --files DIR
                                                       # the forms' and samples' PDFs

Stdlib only and deterministic: the same script always writes the same bytes.

The data is a demo catalog of 政务服务事项 for 连云港市 (Lianyungang, Jiangsu): regions with
their administrative codes, departments, life-event topics and service items with materials,
process steps and topics.

Codes
-----
* 基本编码 (basic_code): a two-letter type prefix, a five-digit main-item number counted per
  prefix in definition order, and a three-digit sub-item number "000" (the older local
  "2 type + 5 main + 3 sub" layout), e.g. GG00002000. Prefixes:
  XK 行政许可, JF 行政给付, QR 行政确认, ZS 行政征收, CJ 行政裁决, JL 行政奖励,
  QT 其他行政权力, GG 公共服务.
* 实施编码 (impl_code): basic_code || '-' || region code || '-' || department suffix, where
  the department suffix is the part of the department code after the region
  (320700-GA -> GA), e.g. GG00002000-320700-GA: the basic code, '-', and the code of the
  implementing department, which is in the item's region. yw-catalog refuses a new item
  whose codes break this rule, and build() checks every generated item against it.

三级四同: every item definition below yields one basic item, implemented by the city
department and optionally by the same-suffix department at province, county or town level.
All levels are generated from the one definition, so name, type and legal basis agree, as
the database trigger demands. Main-item numbers follow definition order within a type, so
add new items at the end of the file (after every existing item of the same type) or the
codes of later items shift; tests refer to a few codes (see the summary this script prints).

Town (9-digit) region codes are illustrative: the names are real 街道/镇, the codes follow
the statistical scheme but were not checked against the official list.
"""

import argparse
import datetime
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import forms_pdf  # noqa: E402  (next to this script)

# --------------------------------------------------------------------------- regions

PROVINCE = "320000"
CITY = "320700"

COUNTIES = [
    ("320703", "连云区", "district"),
    ("320706", "海州区", "district"),
    ("320707", "赣榆区", "district"),
    ("320722", "东海县", "county"),
    ("320723", "灌云县", "county"),
    ("320724", "灌南县", "county"),
]
COUNTY_NAME = {c: n for c, n, _ in COUNTIES}

TOWNS = [
    ("320706001", "海州街道", "320706"),
    ("320706002", "幸福路街道", "320706"),
    ("320706100", "新坝镇", "320706"),
    ("320722001", "牛山街道", "320722"),
    ("320722002", "石榴街道", "320722"),
    ("320722100", "白塔埠镇", "320722"),
    ("320722105", "温泉镇", "320722"),
]
TOWN_NAME = {c: n for c, n, _ in TOWNS}
TOWN_PARENT = {c: p for c, _, p in TOWNS}

REGIONS = (
    [(PROVINCE, "江苏省", "province", None), (CITY, "连云港市", "city", PROVINCE)]
    + [(c, n, "county", CITY) for c, n, _ in COUNTIES]
    + [(c, n, "town", p) for c, n, p in TOWNS]
)
LEVEL_OF = {code: level for code, _, level, _ in REGIONS}

# Level sets used by item definitions (besides the city, which every item has).
P = [PROVINCE]
C6 = [c for c, _, _ in COUNTIES]
C2 = ["320706", "320722"]                        # 海州区, 东海县
C4 = ["320707", "320722", "320723", "320724"]    # the counties with their own planning bureau
T = ["320706001", "320706100", "320722001", "320722100"]  # towns with a 便民服务中心

# --------------------------------------------------------------------------- departments

PROVINCE_DEPTS = [
    ("GA", "江苏省公安厅", "025-83522114"),
    ("SCJG", "江苏省市场监督管理局", "025-85012315"),
    ("MZ", "江苏省民政厅", "025-83392602"),
    ("JY", "江苏省教育厅", "025-83335521"),
    ("WJ", "江苏省卫生健康委员会", "025-83620612"),
    ("ZJ", "江苏省住房和城乡建设厅", "025-51868022"),
    ("ZRZY", "江苏省自然资源厅", "025-86593056"),
    ("JT", "江苏省交通运输厅", "025-52852412"),
    ("SF", "江苏省司法厅", "025-83591120"),
    ("STHJ", "江苏省生态环境厅", "025-86266043"),
    ("WGL", "江苏省文化和旅游厅", "025-84418310"),
    ("SWU", "江苏省商务厅", "025-57710238"),
]

CITY_DEPTS = [
    ("GA", "连云港市公安局", "0518-85822110"),
    ("SCJG", "连云港市市场监督管理局", "0518-85805361"),
    ("RS", "连云港市人力资源和社会保障局", "0518-12333"),
    ("YB", "连云港市医疗保障局", "0518-85827390"),
    ("GJJ", "连云港市住房公积金管理中心", "0518-12329"),
    ("MZ", "连云港市民政局", "0518-85822781"),
    ("JY", "连云港市教育局", "0518-85827320"),
    ("WJ", "连云港市卫生健康委员会", "0518-85820620"),
    ("ZRZY", "连云港市自然资源和规划局", "0518-85831007"),
    ("SW", "国家税务总局连云港市税务局", "0518-12366"),
    ("JT", "连云港市交通运输局", "0518-85826580"),
    ("ZJ", "连云港市住房和城乡建设局", "0518-85808106"),
    ("SF", "连云港市司法局", "0518-85821648"),
    ("TYJR", "连云港市退役军人事务局", "0518-85812967"),
    ("STHJ", "连云港市生态环境局", "0518-85803620"),
    ("SL", "连云港市水利局", "0518-85822513"),
    ("NY", "连云港市农业农村局", "0518-85822871"),
    ("WGL", "连云港市文化广电和旅游局", "0518-85821762"),
    ("SWU", "连云港市商务局", "0518-85808230"),
    ("CG", "连云港市城市管理局", "0518-85512319"),
    ("YJ", "连云港市应急管理局", "0518-85823350"),
    ("CL", "连云港市残疾人联合会", "0518-85823676"),
    ("RF", "连云港市人民防空办公室", "0518-85806830"),
]

COUNTY_DEPT_KINDS = [
    ("GA", None, "1110"),
    ("SCJG", "市场监督管理局", "2315"),
    ("RS", "人力资源和社会保障局", "3333"),
    ("MZ", "民政局", "2710"),
    ("YB", "医疗保障局", "3393"),
    ("JY", "教育局", "5210"),
    ("WJ", "卫生健康委员会", "6120"),
    ("ZJ", "住房和城乡建设局", "7106"),
    ("ZRZY", "自然资源和规划局", "8107"),
]
COUNTY_PHONE_PREFIX = {
    "320703": "8231", "320706": "8552", "320707": "8622",
    "320722": "8721", "320723": "8881", "320724": "8361",
}

TOWN_DEPT_PHONES = {
    "320706001": "0518-85413260",
    "320706100": "0518-85720012",
    "320722001": "0518-87213320",
    "320722100": "0518-87610035",
}


def build_departments():
    depts = []  # (code, name, region_code, phone)
    for suffix, name, phone in PROVINCE_DEPTS:
        depts.append((f"{PROVINCE}-{suffix}", name, PROVINCE, phone))
    for suffix, name, phone in CITY_DEPTS:
        depts.append((f"{CITY}-{suffix}", name, CITY, phone))
    for code, cname, kind in COUNTIES:
        prefix = "连云港市" + cname if kind == "district" else cname
        for suffix, tail, num in COUNTY_DEPT_KINDS:
            if suffix == "ZRZY" and code not in C4:
                continue  # the urban districts are planned by the city bureau
            if suffix == "GA":
                name = (f"连云港市公安局{cname[:-1]}分局" if kind == "district"
                        else f"{cname}公安局")
            else:
                name = prefix + tail
            depts.append((f"{code}-{suffix}", name, code,
                          f"0518-{COUNTY_PHONE_PREFIX[code]}{num}"))
    for code in T:
        parent = TOWN_PARENT[code]
        depts.append((f"{code}-BM", f"{COUNTY_NAME[parent]}{TOWN_NAME[code]}便民服务中心",
                      code, TOWN_DEPT_PHONES[code]))
    return depts


# --------------------------------------------------------------------------- topics

TOPICS = [
    ("birth", "生育", "person"),
    ("school", "入学", "person"),
    ("employment", "就业", "person"),
    ("marriage", "婚姻", "person"),
    ("household", "户籍", "person"),
    ("social-insurance", "社保", "person"),
    ("medical", "医疗", "person"),
    ("housing", "住房", "person"),
    ("elderly", "养老", "person"),
    ("travel", "出行", "person"),
    ("death", "身后事", "person"),
    ("company-start", "开办企业", "company"),
    ("company-change", "企业变更", "company"),
    ("construction", "工程建设", "company"),
    ("tax", "纳税", "company"),
    ("company-close", "企业注销", "company"),
]
TOPIC_CODES = {t[0] for t in TOPICS}

# --------------------------------------------------------------------------- item vocabulary

LIC, PAY, CONF, LEVY, ADJ, REW, OTH, SVC = (
    "ADMINISTRATIVE_LICENSE", "ADMINISTRATIVE_PAYMENT", "ADMINISTRATIVE_CONFIRMATION",
    "ADMINISTRATIVE_LEVY", "ADMINISTRATIVE_ADJUDICATION", "ADMINISTRATIVE_REWARD",
    "OTHER_ADMINISTRATIVE_POWER", "PUBLIC_SERVICE")

PREFIX = {LIC: "XK", PAY: "JF", CONF: "QR", LEVY: "ZS", ADJ: "CJ", REW: "JL",
          OTH: "QT", SVC: "GG"}

DEFAULT_CONDITIONS = {
    LIC: "申请人具备相应的主体资格，符合法律、法规规定的许可条件；申请材料齐全、符合法定形式。",
    PAY: "符合给付条件的本市户籍或常住居民，经审核确认后按规定标准发放；享受期间家庭或个人情况发生变化的应当及时申报。",
    CONF: "申请人为所确认事项的当事人或其法定代理人，提供的证明材料真实、有效。",
    LEVY: "依法负有缴纳义务的单位和个人，在规定期限内如实申报并缴纳。",
    ADJ: "当事人之间发生与行政管理活动密切相关的民事纠纷，依法申请裁决，且属于本机关管辖范围。",
    REW: "在相关领域作出突出贡献或者提供有效举报线索，经查证属实、符合奖励条件的单位和个人。",
    OTH: "申请人符合法律、法规规定的条件，申请材料齐全、符合法定形式。",
    SVC: "本市户籍或常住居民、在本市登记的市场主体，按需申请办理。",
}

O, C, OC, E = "ORIGINAL", "COPY", "ORIGINAL_AND_COPY", "ELECTRONIC"


def m(name, form=O, copies=1, req=True, lr=False, note=""):
    return (name, form, copies, req, lr, note)


# Common materials; license_replaceable marks those with an electronic license (电子证照).
MAT = {
    "SFZ": m("居民身份证", O, 1, True, True),
    "SFZ2": m("申请人居民身份证", OC, 1, True, True, "复印件需本人签字确认"),
    "HKB": m("居民户口簿", O, 1, True, True),
    "PHOTO": m("近期正面免冠彩色证件照片", O, 2, True, False, "白色背景，可在受理点现场采集"),
    "YYZZ": m("营业执照", O, 1, True, True, "可使用电子营业执照"),
    "YYZZC": m("营业执照副本", C, 1, True, True, "加盖公章；可使用电子营业执照"),
    "FR": m("法定代表人身份证件", C, 1, True, True),
    "WTS": m("授权委托书", O, 1, False, False, "委托他人代为办理时提供"),
    "DBR": m("代办人居民身份证", O, 1, False, True, "委托他人代为办理时提供"),
    "JHZ": m("结婚证", O, 1, True, True),
    "JHZN": m("结婚证", O, 1, False, True, "已婚的提供"),
    "CSZM": m("出生医学证明", O, 1, True, True),
    "BDC": m("不动产权证书", O, 1, True, True),
    "JSZ": m("机动车驾驶证", O, 1, True, True),
    "XSZ": m("机动车行驶证", O, 1, True, True),
    "SBK": m("社会保障卡", O, 1, True, True, "可使用电子社保卡"),
    "BANK": m("本人银行账户信息（社会保障卡金融账户或本人银行卡）", C, 1, True, False),
    "ZS": m("住所（经营场所）使用证明", C, 1, True, False,
            "自有房产提供不动产权证书，租赁的提供租赁协议；可实行住所申报承诺制"),
    "ZC": m("公司章程", O, 1, True, False, "有限责任公司由全体股东签署"),
    "CN": m("告知承诺书", O, 1, True, False, "申请人对符合许可条件作出书面承诺"),
    "DEATH": m("居民死亡医学证明（推断）书", O, 1, True, False, "可通过部门信息共享获取"),
    "JZZ": m("居住证", O, 1, False, True, "非本市户籍人员提供"),
    "PMT": m("场所平面布局图", O, 1, True, False),
    "ZD": m("安全管理制度文本", O, 1, True, False),
    "TJ": m("机动车驾驶人身体条件证明", E, 1, True, False, "可在定点医疗机构体检后由系统推送"),
    "XLZS": m("学历证书", OC, 1, True, False, "学信网可查的学历可免交"),
}

FEE_SFZ = ("《财政部 国家发展改革委关于居民身份证收费标准的通知》：居民身份证申领、换领每证20元，"
           "丢失补领、损坏换领每证40元，临时居民身份证每证10元")
FEE_CRJ = ("《国家发展改革委 财政部关于降低部分行政事业性收费标准的通知》（发改价格〔2019〕914号）："
           "普通护照每本120元，往来港澳通行证、往来台湾通行证（电子卡式）每证60元，签注每次15元")
FEE_JG = ("《国家发展改革委 财政部关于公安交通管理部门收费标准有关问题的通知》：机动车号牌每副100元，"
          "机动车行驶证、登记证书、驾驶证每证10元")
FEE_BDC = ("《国家发展改革委 财政部关于不动产登记收费标准等有关问题的通知》（发改价格规〔2016〕2559号）："
           "住宅类不动产登记每件80元，非住宅类每件550元；小微企业免征")
FEE_BDCZS = "《国家发展改革委 财政部关于不动产登记收费标准等有关问题的通知》（发改价格规〔2016〕2559号）：不动产权属证书工本费每本10元"
FEE_GAT = "《国家发展改革委 财政部关于港澳台居民居住证收费标准及有关问题的通知》：每证20元"

APP = "“我的连云港”APP"
PORTAL = "江苏政务服务网"

# --------------------------------------------------------------------------- process steps


def _online(depth):
    if depth >= 3:
        return f"申请人可通过{APP}、{PORTAL}在线提交申请，也可到政务服务中心窗口申请"
    if depth == 2:
        return f"申请人可在{PORTAL}下载表格、网上预约，到政务服务中心窗口提交申请"
    return "申请人到政务服务中心窗口提交申请"


def steps_for(kind, depth):
    apply = ("申请", _online(depth) + "。")
    accept = ("受理", "窗口工作人员核对材料，材料齐全、符合法定形式的予以受理；不齐全的一次性告知需补正的全部内容。")
    deliver = ("送达", "通过窗口领取或邮政EMS免费寄递送达办理结果，电子证照同步推送至个人（企业）空间。")
    s = {
        "std": [apply, accept,
                ("审查", "承办机构对申请材料进行实质审查，需要现场核查的组织现场核查。"),
                ("决定", "作出准予或者不予许可的书面决定，不予许可的说明理由并告知救济途径。"),
                deliver],
        "instant": [apply, accept,
                    ("办结", "当场审核，符合条件的当场办结并出具办理结果。")],
        "cert": [("申请", _online(depth) + "；需现场采集人像、指纹的，到受理点办理。"),
                 accept,
                 ("审核", "对申请人身份信息和申领条件进行审核。"),
                 ("制证", "审核通过后制作证件。"),
                 ("领取", "申请人凭领证回执到受理点领取，或选择邮政EMS寄递。")],
        "pay": [apply, accept,
                ("审核", "对申请人的资格条件进行审核，必要时入户调查或核对经济状况。"),
                ("公示", "审核结果在申请人所在村（社区）公示，公示期7天。"),
                ("发放", "公示无异议的，次月起按标准通过社会保障卡金融账户或本人银行账户发放。")],
        "confirm": [apply, accept,
                    ("审查", "对申请材料及所涉事实进行审查核实。"),
                    ("登记", "符合条件的予以登记确认，记载于登记簿或业务系统。"),
                    ("发证", "核发证书、证明或出具确认结果。")],
        "svc": [apply, accept,
                ("办理", "承办机构按规定办理，需要补充信息的及时联系申请人。"),
                ("办结", "办理完成后通过短信告知申请人，结果可在线查询。")],
        "levy": [("申报", _online(depth) + "，如实填报申报信息。"),
                 ("受理", "对申报信息进行比对校验。"),
                 ("缴纳", "按核定金额通过网上银行、第三方支付或窗口缴纳。"),
                 ("开具凭证", "缴纳完成后开具电子缴款凭证或完税证明。")],
        "adj": [("申请", "当事人向承办机构提交书面裁决申请。"), accept,
                ("调查", "通知对方当事人答辩，调查取证，必要时组织听证或现场勘验。"),
                ("裁决", "在查明事实的基础上先行调解，调解不成的依法作出裁决。"),
                ("送达", "向当事人送达裁决书，并告知申请复议或提起诉讼的权利。")],
        "reward": [("申报", "单位或个人提交奖励申报材料或举报线索。"),
                   ("核实", "承办机构对事迹或线索进行调查核实。"),
                   ("审定", "按程序集体研究确定奖励等次和金额。"),
                   ("公示", "拟奖励名单按规定公示（涉及举报人信息的除外）。"),
                   ("发放", "颁发奖励证书或发放奖金。")],
        "record": [apply, accept,
                   ("备案", "材料齐全的当场备案，出具备案回执，备案信息依法公开。")],
    }
    return s[kind]


DEFAULT_STEPS = {LIC: "std", PAY: "pay", CONF: "confirm", LEVY: "levy", ADJ: "adj",
                 REW: "reward", OTH: "std", SVC: "svc"}

# --------------------------------------------------------------------------- item definitions

DEFS = []


def it(name, typ, dept, basis, lim, depth, kw, mats, topics=(), steps=None, cond=None,
       fee=None, levels=(), ch=None, status="published"):
    """One basic item. lim = (legal_limit_days, promised_limit_days); promised 0 = 即办件.
    levels: region codes besides the city where the same-suffix department implements it."""
    DEFS.append(dict(name=name, type=typ, dept=dept, basis=basis, lim=lim, depth=depth,
                     kw=kw, mats=mats, topics=tuple(topics), steps=steps, cond=cond,
                     fee=fee, levels=tuple(levels), ch=ch, status=status))


def sqb(title):
    return m(f"《{title}》", O, 1, True, False, f"可在{APP}在线填写或到窗口领取")


# ---- 公安 (GA) ----------------------------------------------------------------------------

it("居民身份证首次申领", SVC, "GA", "《中华人民共和国居民身份证法》第二条、第八条、第十条",
   (60, 15), 2, "身份证 办身份证 第一次办身份证 首次申领 未成年人身份证 二代证 小孩办身份证",
   [m("《居民身份证申领登记表》", O, 1, True, False, "受理点现场填写"), "HKB",
    m("监护人居民身份证", O, 1, False, True, "未满十六周岁的由监护人陪同并代为申请"),
    m("数字相片", E, 1, True, False, "受理点现场免费采集，或使用照相馆数码回执")],
   ["household"], steps="cert", fee=(2000, FEE_SFZ), levels=C6, ch=["app", "window", "self-service"],
   cond="居住在中华人民共和国境内的中国公民，在常住户口所在地或跨省通办受理点申请；未满十六周岁的公民，由监护人代为申请。")
it("居民身份证换领", SVC, "GA", "《中华人民共和国居民身份证法》第十一条、第十二条",
   (60, 15), 2, "身份证 换身份证 身份证到期 身份证过期 身份证有效期满 换证 二代证 身份证换证",
   [m("原居民身份证", O, 1, True, False, "领取新证时交回原证"), "HKB",
    m("数字相片", E, 1, True, False, "受理点现场免费采集，或使用照相馆数码回执")],
   ["household"], steps="cert", fee=(2000, FEE_SFZ), levels=C6, ch=["app", "window", "self-service", "express"],
   cond="居民身份证有效期满、公民姓名变更、登记项目有误或证件严重损坏不能辨认的，应当换领新证；有效期满前三个月内即可申请换领。")
it("居民身份证挂失补领", SVC, "GA", "《中华人民共和国居民身份证法》第十一条第二款、第十二条",
   (60, 15), 3, "身份证丢了 身份证丢失 补办身份证 身份证补领 身份证挂失 身份证被偷",
   ["HKB", m("数字相片", E, 1, True, False, "受理点现场免费采集"),
    m("《居民身份证挂失申报登记表》", O, 1, False, False, "已通过网上挂失的免交")],
   ["household"], steps="cert", fee=(4000, FEE_SFZ), levels=C6, ch=["app", "window", "express"],
   cond="居民身份证丢失的公民，可先通过网上或受理点申报挂失，再申请补领；挂失后原证作废。")
it("临时居民身份证申领", SVC, "GA", "《中华人民共和国临时居民身份证管理办法》第二条、第六条",
   (3, 0), 2, "临时身份证 临时证 急用身份证 坐高铁 坐飞机 身份证没拿到",
   ["HKB", m("正在申领、换领、补领居民身份证的受理回执", O, 1, True, False),
    m("近期正面免冠彩色证件照片", O, 2, True, False, "可现场拍摄")],
   ["household", "travel"], steps="instant", fee=(1000, FEE_SFZ), levels=C2, ch=["window"],
   cond="正在申领、换领、补领居民身份证期间，急需使用居民身份证的公民。")
it("居民身份证异地受理（跨省通办）", SVC, "GA",
   "《中华人民共和国居民身份证法》第十一条；《公安部关于建立居民身份证异地受理挂失申报和丢失招领制度的意见》",
   (60, 20), 3, "异地办身份证 外地办身份证 跨省通办 身份证异地换领 异地补领 外地人办身份证",
   ["SFZ", m("数字相片", E, 1, True, False, "受理点现场免费采集"), "JZZ"],
   ["household"], steps="cert", fee=(2000, FEE_SFZ), ch=["app", "window", "express"],
   cond="在户籍所在省份以外的地区居住、学习、工作的公民，可在居住地受理点申请换领、补领居民身份证。")
it("出生登记", CONF, "GA", "《中华人民共和国户口登记条例》第七条",
   (0, 0), 4, "新生儿落户 报户口 上户口 出生落户 宝宝落户 新生儿户口 出生一件事",
   ["CSZM", m("父母一方的居民户口簿", O, 1, True, True), m("父母双方居民身份证", O, 2, True, True),
    "JHZN"],
   ["birth", "household"], steps="instant", levels=C2, ch=["app", "mini-program", "window"],
   cond="婴儿出生后一个月以内，由户主、亲属、抚养人或者邻居向婴儿常住地户口登记机关申报出生登记；随父或随母落户自愿选择。")
it("户口迁入", CONF, "GA", "《中华人民共和国户口登记条例》第十三条",
   (20, 5), 3, "落户 户口迁移 迁户口 人才落户 购房落户 投靠落户 准迁证 户口迁过来",
   ["HKB", "SFZ", m("合法稳定住所证明（不动产权证书或租赁备案证明）", C, 1, False, True, "购房落户、租赁落户提供"),
    m("学历证书或劳动合同", C, 1, False, False, "人才落户、就业落户提供"),
    m("亲属关系证明", O, 1, False, False, "投靠落户提供")],
   ["household"], levels=C6, ch=["app", "window", "express"],
   cond="在本市有合法稳定住所、合法稳定就业，或符合人才引进、亲属投靠等落户条件的人员；省内及跨省迁移可“一站式”办理，无需回迁出地开具迁移证。")
it("户口迁出", CONF, "GA", "《中华人民共和国户口登记条例》第十条",
   (0, 0), 3, "迁出户口 户口迁走 迁移证 户口迁出 外迁",
   ["HKB", "SFZ", m("迁入地公安机关开具的准予迁入证明", O, 1, False, False, "已实行迁移“一站式”办理的地区免交")],
   ["household"], steps="instant",
   cond="公民迁出本户口管辖区，由本人或户主在迁出前向户口登记机关申报迁出登记。")
it("死亡人员户口注销", CONF, "GA", "《中华人民共和国户口登记条例》第八条",
   (0, 0), 3, "死亡销户 注销户口 销户 人去世 户口注销 去世销户",
   ["DEATH", "HKB", m("申报人居民身份证", O, 1, True, True),
    m("死者居民身份证", O, 1, False, False, "交回注销；遗失的说明情况")],
   ["death", "household"], steps="instant", levels=C2, ch=["app", "window"],
   cond="公民死亡，城市在葬前、农村在一个月以内，由户主、亲属、抚养人或者邻居向户口登记机关申报死亡，注销户口。")
it("户口登记项目变更更正", CONF, "GA", "《中华人民共和国户口登记条例》第十七条、第十八条",
   (20, 10), 3, "改名字 姓名变更 更正出生日期 民族变更 改名 户口信息更正 改身份证号",
   ["HKB", "SFZ", m("变更更正事项的证明材料", OC, 1, True, False, "如出生医学证明、原始档案、人事档案等")],
   ["household"],
   cond="户口登记项目内容需要变更或者更正的，由户主或者本人向户口登记机关申报；未满十八周岁的由监护人申请。")
it("居民户口簿补领换领", SVC, "GA", "《中华人民共和国户口登记条例》第四条",
   (0, 0), 3, "户口本丢了 补户口本 换户口本 户口簿 户口本补办 户口本破损",
   ["SFZ", m("原居民户口簿", O, 1, False, False, "换领时交回；遗失的免交")],
   ["household"], steps="instant",
   cond="居民户口簿遗失、损坏或户主变更的，由户主或者户内成年人申请补领、换领。")
it("分户登记", CONF, "GA", "《中华人民共和国户口登记条例》第四条、第十三条",
   (20, 5), 3, "分户 单独立户 户口分开 户口独立 分户口",
   ["HKB", "SFZ", m("合法稳定住所证明", C, 1, True, True)],
   ["household"],
   cond="在同一户内已成年并具有独立合法住所，或因婚姻、继承等原因需要单独立户的人员。")
it("居住证申领", SVC, "GA", "《居住证暂行条例》第二条、第九条",
   (15, 7), 4, "居住证 暂住证 外地人 积分入学 新市民 办居住证 随迁子女",
   ["SFZ", m("近期正面免冠彩色证件照片", O, 1, True, False, "可使用数字相片"),
    m("居住地住址证明", C, 1, True, False, "房屋租赁合同、房屋产权证明或单位、学校出具的住宿证明"),
    m("就业、就读或连续居住证明", C, 1, True, False, "劳动合同、营业执照或学籍证明等")],
   ["household", "school"], ch=["app", "mini-program", "window", "express"],
   cond="离开常住户口所在地，到本市居住半年以上，并符合有合法稳定就业、合法稳定住所、连续就读条件之一的公民。")
it("居住登记", SVC, "GA", "《居住证暂行条例》第九条",
   (0, 0), 4, "居住登记 流动人口登记 暂住登记 租房登记 外来人口登记",
   ["SFZ", m("居住地住址证明", C, 1, True, False, "房屋租赁合同或房屋产权证明")],
   ["household"], steps="instant", ch=["app", "mini-program", "window"],
   cond="离开常住户口所在地到本市居住的公民，应当在居住地办理居住登记。")
it("普通护照签发", LIC, "GA", "《中华人民共和国护照法》第五条、第六条",
   (15, 7), 3, "护照 办护照 出国 护照过期 换护照 出入境 出国旅游 留学护照",
   ["SFZ", m("出入境证件数字相片", E, 1, True, False, "受理点免费采集"),
    m("原普通护照", O, 1, False, False, "换发、补发时提供")],
   ["travel"], steps="cert", fee=(12000, FEE_CRJ), ch=["app", "window", "self-service", "express"],
   cond="中国公民因前往外国定居、探亲、学习、就业、旅行、从事商务活动等非公务原因出国的，可在全国任一出入境管理机构申请。")
it("往来港澳通行证和签注签发", LIC, "GA", "《中国公民因私事往来香港地区或者澳门地区的暂行管理办法》第四条",
   (15, 7), 3, "港澳通行证 去香港 去澳门 港澳签注 通行证续签 再次签注 港澳游",
   ["SFZ", m("出入境证件数字相片", E, 1, True, False, "受理点免费采集"),
    m("原往来港澳通行证", O, 1, False, False, "换发时提供")],
   ["travel"], steps="cert", fee=(6000, FEE_CRJ), ch=["app", "window", "self-service", "express"],
   cond="内地居民因私事前往香港、澳门的，可在全国任一出入境管理机构申请；有效电子往来港澳通行证可在自助设备办理再次签注。")
it("往来台湾通行证和签注签发", LIC, "GA", "《中国公民往来台湾地区管理办法》第六条",
   (15, 10), 3, "台湾通行证 赴台 去台湾 台湾签注 入台 台湾旅游",
   ["SFZ", m("出入境证件数字相片", E, 1, True, False, "受理点免费采集"),
    m("赴台事由证明材料", C, 1, False, False, "探亲、商务等事由提供")],
   ["travel"], steps="cert", fee=(6000, FEE_CRJ), ch=["app", "window", "express"],
   cond="大陆居民因私前往台湾地区的，可在全国任一出入境管理机构申请。")
it("出入境证件遗失报失", SVC, "GA", "《中华人民共和国护照法》第十一条",
   (0, 0), 4, "护照丢了 通行证丢失 挂失 报失 证件作废 护照遗失",
   ["SFZ", m("《出入境证件报失登记表》", O, 1, True, False, "可网上填报")],
   ["travel"], steps="instant", ch=["app", "mini-program", "pc", "window"],
   cond="持有的普通护照、往来港澳通行证、往来台湾通行证遗失或被盗的公民。")
it("机动车驾驶证核发", LIC, "GA", "《中华人民共和国道路交通安全法》第十九条；《机动车驾驶证申领和使用规定》第十二条",
   (0, 0), 3, "学车 考驾照 驾照 驾驶证 初次申领 科目一 拿驾照 驾考",
   ["SFZ", "TJ", m("驾驶人数字相片", E, 1, True, False, "体检时采集")],
   ["travel"], steps="instant", fee=(1000, FEE_JG), ch=["app", "window"],
   cond="年龄、身体条件符合规定，经驾驶技能培训并考试合格的申请人；考试合格后当日核发驾驶证。")
it("机动车驾驶证换证", SVC, "GA", "《中华人民共和国道路交通安全法》第十九条；《机动车驾驶证申领和使用规定》第五十六条",
   (1, 0), 4, "驾照到期 换驾照 驾驶证到期 期满换证 交管12123 驾照换证 驾驶证有效期",
   ["SFZ", "JSZ", "TJ"],
   ["travel"], steps="instant", fee=(1000, FEE_JG), levels=C2, ch=["app", "pc", "window", "express"],
   cond="机动车驾驶证有效期满前九十日内，或者驾驶证损毁、记载事项变化的，驾驶人可申请换证；可通过“交管12123”全程网办并邮寄。")
it("机动车驾驶证补领", SVC, "GA", "《机动车驾驶证申领和使用规定》第六十条",
   (1, 0), 4, "驾照丢了 补驾照 驾驶证遗失 补证 驾照补办",
   ["SFZ", m("驾驶人数字相片", E, 1, True, False, "可使用近一年内体检相片")],
   ["travel"], steps="instant", fee=(1000, FEE_JG), ch=["app", "pc", "window", "express"],
   cond="机动车驾驶证遗失的驾驶人；驾驶证被依法扣押、扣留或者暂扣期间的不予补领。")
it("机动车注册登记", LIC, "GA", "《中华人民共和国道路交通安全法》第八条、第九条；《机动车登记规定》第十条",
   (2, 0), 3, "新车上牌 上牌照 新车登记 选号 车辆注册 机动车登记 买新车",
   ["SFZ", m("机动车销售统一发票", O, 1, True, False), m("机动车整车出厂合格证明", O, 1, True, False),
    m("车辆购置税完税证明", E, 1, True, False, "通过部门信息共享核查"),
    m("机动车交通事故责任强制保险凭证", E, 1, True, False, "通过部门信息共享核查")],
   ["travel"], steps="instant", fee=(12000, FEE_JG), ch=["app", "window"],
   cond="初次申领机动车号牌、行驶证的机动车所有人；国产新车可在4S店“交管服务站”办理免查验登记。")
it("机动车转移登记", LIC, "GA", "《机动车登记规定》第二十五条",
   (1, 0), 3, "二手车过户 车辆过户 转移登记 卖车 买二手车 车辆转让",
   ["SFZ", m("机动车登记证书", O, 1, True, False), "XSZ", m("二手车销售统一发票", O, 1, True, False)],
   ["travel"], steps="instant", fee=(1000, FEE_JG),
   cond="已注册登记的机动车所有权发生转移的，现机动车所有人应当自机动车交付之日起三十日内申请转移登记。")
it("机动车抵押登记", CONF, "GA", "《中华人民共和国民法典》第四百零三条；《机动车登记规定》第三十四条",
   (1, 0), 4, "车辆抵押 车贷 汽车抵押 解除抵押 车辆解押",
   ["SFZ", m("机动车登记证书", O, 1, True, False), m("抵押合同", O, 1, True, False)],
   ["travel"], steps="instant", ch=["app", "pc", "window"],
   cond="机动车作为抵押物抵押的，机动车所有人和抵押权人应当共同申请抵押登记；金融机构可在线办理。")
it("机动车检验标志核发", SVC, "GA", "《中华人民共和国道路交通安全法》第十三条",
   (0, 0), 4, "年检 车辆年检 六年免检 年检标志 电子检验标志 审车 验车",
   ["XSZ", m("机动车交通事故责任强制保险凭证", E, 1, True, False, "通过部门信息共享核查")],
   ["travel"], steps="instant", ch=["app", "pc", "window"],
   cond="符合免检条件的非营运小型、微型载客汽车可直接申领检验标志；其他车辆经安全技术检验合格后核发。")
it("电动自行车登记", SVC, "GA", "《江苏省电动自行车管理条例》第十二条",
   (0, 0), 3, "电动车上牌 电瓶车上牌 电动自行车登记 电动车牌照 小电驴",
   ["SFZ", m("电动自行车购车发票或来历证明", O, 1, True, False), m("产品合格证", O, 1, True, False)],
   ["travel"], steps="instant", ch=["app", "window"],
   cond="在本市道路上行驶的电动自行车，应当经公安机关交通管理部门登记并取得号牌。")
it("无犯罪记录证明开具", SVC, "GA", "《公安机关办理犯罪记录查询工作规定》第三条",
   (3, 1), 4, "无犯罪证明 无犯罪记录 良民证 政审 犯罪记录查询 入职证明",
   ["SFZ", m("查询用途说明", O, 1, False, False, "在线申请时勾选用途")],
   ["employment"], ch=["app", "mini-program", "pc", "window"],
   cond="个人因就业、出国、入学等需要，可申请查询本人有无犯罪记录；单位查询需提供法定依据。")
it("户籍类证明开具", SVC, "GA", "《中华人民共和国户口登记条例》第三条",
   (0, 0), 4, "户籍证明 亲属关系证明 开证明 派出所证明 户籍注销证明 曾用名证明",
   ["SFZ", "HKB"],
   ["household"], steps="instant", ch=["app", "mini-program", "window"],
   cond="需要证明户籍信息、亲属关系等事项，且公安机关户籍档案能够核实的申请人。")
it("港澳台居民居住证申领", SVC, "GA", "《港澳台居民居住证申领发放办法》第二条、第三条",
   (20, 15), 2, "港澳居民居住证 台湾居民居住证 港澳台 台胞居住证",
   [m("港澳居民来往内地通行证或台湾居民来往大陆通行证", O, 1, True, False),
    m("居住地住址证明", C, 1, True, False), m("就业、就读或连续居住证明", C, 1, True, False)],
   [], steps="cert", fee=(2000, FEE_GAT),
   cond="前往内地（大陆）居住半年以上，符合有合法稳定就业、合法稳定住所、连续就读条件之一的港澳台居民。")
it("旅馆业特种行业许可证核发", LIC, "GA", "《旅馆业治安管理办法》第四条",
   (20, 10), 3, "开旅馆 开宾馆 特行许可 民宿 酒店 特种行业许可证",
   ["YYZZ", "FR", "PMT", "ZD", m("消防安全承诺书", O, 1, True, False)],
   ["company-start"], levels=C2,
   cond="经营场所符合治安、消防要求，配备安全防范设施和旅客住宿登记信息系统的旅馆经营者。")
it("公章刻制业特种行业许可证核发", LIC, "GA", "《国务院对确需保留的行政审批项目设定行政许可的决定》第37项",
   (20, 10), 3, "刻章店 印章刻制 开刻章店 印章业 特行许可",
   ["YYZZ", "FR", "PMT", m("印章刻制设备清单", O, 1, True, False)],
   ["company-start"],
   cond="具有固定经营场所和符合要求的印章刻制设备，接入公安机关印章治安管理信息系统的经营者。")
it("印章刻制备案", SVC, "GA", "《印铸刻字业暂行管理规则》第五条",
   (0, 0), 4, "刻章 公章 刻公章 印章备案 免费刻章 企业开办 财务章 发票章",
   ["YYZZ", "FR"],
   ["company-start"], steps="instant", ch=["app", "pc", "window", "express"],
   cond="新办企业可在企业开办“全链通”平台一并申请免费刻制首套印章；其他单位刻制印章应当备案。")
it("大型群众性活动安全许可", LIC, "GA", "《大型群众性活动安全管理条例》第十一条、第十二条",
   (7, 5), 3, "演唱会审批 大型活动 群众性活动 安全许可 展会 体育赛事 活动报备",
   [sqb("大型群众性活动安全许可申请表"), "YYZZ", m("大型群众性活动安全工作方案", O, 1, True, False),
    m("场所管理者同意使用的证明", O, 1, True, False)],
   [],
   cond="预计参加人数1000人以上的体育比赛、演唱会、展览、庙会、灯会等活动，承办者应当在活动日20日前提出申请。")
it("剧毒化学品购买许可", LIC, "GA", "《危险化学品安全管理条例》第三十八条、第三十九条",
   (3, 2), 3, "剧毒化学品 购买许可 危化品购买 剧毒品",
   ["YYZZ", m("剧毒化学品用途说明", O, 1, True, False), m("经办人身份证明", C, 1, True, True)],
   [],
   cond="依法取得危险化学品安全使用许可或经营许可的单位，以及因生产、科研等需要购买剧毒化学品的其他单位。")
it("烟花爆竹道路运输许可", LIC, "GA", "《烟花爆竹安全管理条例》第二十二条、第二十三条",
   (3, 1), 3, "烟花爆竹运输 运输许可 危险货物运输 鞭炮运输",
   ["YYZZ", m("承运人危险货物运输许可证", C, 1, True, False),
    m("驾驶员、押运员从业资格证", C, 1, True, False), m("烟花爆竹购销合同", C, 1, True, False)],
   [],
   cond="托运人持有关材料向运达地县级公安机关申请，承运人具备危险货物道路运输资质。")
it("保安服务公司设立许可", LIC, "GA", "《保安服务管理条例》第八条、第九条",
   (20, 15), 2, "保安公司 保安服务 设立保安公司 保安服务许可证",
   [sqb("保安服务公司设立申请表"), "FR", m("拟任保安培训师资和管理人员证明", C, 1, True, False),
    m("注册资本证明", C, 1, True, False), m("保安服务公司章程", O, 1, True, False)],
   ["company-start"], levels=P,
   cond="注册资本不少于人民币100万元，拟任法定代表人和主要管理人员具备任职条件，有健全的组织机构和保安服务管理制度。")
it("见义勇为人员奖励", REW, "GA", "《江苏省奖励和保护见义勇为人员条例》第十二条",
   (60, 30), 2, "见义勇为 表彰 奖励 救人 英雄 见义勇为奖金",
   [sqb("见义勇为人员确认申报表"), m("见义勇为事迹证明材料", OC, 1, True, False, "证人证言、视频资料、报警记录等"),
    m("受奖人居民身份证", C, 1, True, True)],
   [],
   cond="不负有法定职责和特定义务，为保护国家、集体利益或者他人人身、财产安全，挺身而出与违法犯罪行为作斗争或者抢险救灾、救人的人员。")

# ---- 市场监管 (SCJG) -----------------------------------------------------------------------

it("企业设立登记", LIC, "SCJG", "《中华人民共和国市场主体登记管理条例》第三条、第十九条",
   (3, 1), 4, "营业执照 开公司 注册公司 企业开办 公司注册 办执照 成立公司 有限公司设立 全链通",
   [sqb("公司登记（备案）申请书"), "ZC",
    m("股东主体资格证明（企业股东提供营业执照，自然人股东提供居民身份证）", C, 1, True, True, "可使用电子营业执照、电子身份证照"),
    m("法定代表人、董事、监事和经理的任职文件及身份证件", C, 1, True, True), "ZS"],
   ["company-start"], levels=P + C6, ch=["app", "mini-program", "pc", "window", "express"],
   cond="有符合规定的名称、住所、章程和组织机构，股东符合法定人数并认缴出资；通过江苏省企业开办“全链通”平台可一次性办理营业执照、公章刻制、发票申领、社保和公积金登记，领取营业执照和电子营业执照。")
it("营业执照变更登记", LIC, "SCJG", "《中华人民共和国市场主体登记管理条例》第二十四条",
   (3, 1), 4, "营业执照变更 变更法人 变更经营范围 变更地址 变更注册资本 企业变更 公司变更 股东变更 名称变更",
   [sqb("公司变更登记申请书"), "YYZZ", m("股东会决议或股东决定", O, 1, True, False),
    m("修改后的公司章程或者章程修正案", O, 1, False, False, "变更事项涉及章程修改的提供"),
    m("新住所使用证明", C, 1, False, False, "变更住所的提供")],
   ["company-change"], levels=C6, ch=["app", "mini-program", "pc", "window", "express"],
   cond="市场主体变更登记事项的，应当自作出变更决议、决定或者法定变更事项发生之日起30日内申请变更登记，换发营业执照。")
it("营业执照遗失补领", SVC, "SCJG", "《中华人民共和国市场主体登记管理条例实施细则》第六十七条",
   (3, 0), 4, "执照丢了 营业执照丢失 补办营业执照 执照补领 换发执照 营业执照损坏",
   [sqb("营业执照补领（换发）申请书"), m("遗失公告", E, 1, True, False, "在国家企业信用信息公示系统自行发布"), "FR"],
   ["company-change"], steps="instant",
   cond="营业执照遗失或者毁损的市场主体，经在国家企业信用信息公示系统声明作废后申请补领。")
it("企业注销登记", LIC, "SCJG", "《中华人民共和国市场主体登记管理条例》第三十一条、第三十二条",
   (3, 1), 4, "公司注销 注销公司 关闭公司 企业注销 营业执照注销 清算 一网通注销",
   [sqb("企业注销登记申请书"), m("清算报告", O, 1, True, False),
    m("清税证明", E, 1, True, False, "通过税务信息共享获取，无需提交纸质材料"),
    m("营业执照正副本", O, 1, True, True, "缴回")],
   ["company-close"], levels=C2,
   cond="公司解散、依法完成清算，且已清偿债务、结清税款的企业；可通过“企业注销一网通”平台同步办理税务、社保、公积金等注销。")
it("企业简易注销登记", LIC, "SCJG", "《中华人民共和国市场主体登记管理条例》第三十三条",
   (3, 1), 4, "简易注销 快速注销 公司注销 零申报注销 未开业注销 承诺制注销",
   [sqb("简易注销登记申请书"), m("全体投资人承诺书", O, 1, True, False), m("营业执照正副本", O, 1, True, True, "缴回")],
   ["company-close"],
   cond="未发生债权债务或者已将债权债务清偿完结，未发生或者已结清清偿费用、职工工资、社会保险费用、法定补偿金、应缴纳税款的市场主体，经20日公示无异议的。")
it("个体工商户设立登记", LIC, "SCJG", "《促进个体工商户发展条例》第六条；《中华人民共和国市场主体登记管理条例》第三条",
   (3, 0), 4, "个体户 开店 个体营业执照 开网店 小店 个体工商户注册 办执照 摆摊",
   [sqb("个体工商户登记（备案）申请书"), "SFZ", "ZS"],
   ["company-start", "employment"], steps="instant", levels=C6, ch=["app", "mini-program", "pc", "window"],
   cond="有经营能力的公民从事工商业经营的，可以申请登记为个体工商户；网络经营者可以网络经营场所作为经营场所。")
it("个体工商户变更登记", LIC, "SCJG", "《促进个体工商户发展条例》第六条；《中华人民共和国市场主体登记管理条例》第二十四条",
   (3, 0), 4, "个体户变更 经营者变更 个体户变更经营场所 个体转企 个体户改名",
   [sqb("个体工商户变更登记申请书"), "YYZZ", "SFZ"],
   ["company-change"], steps="instant", levels=C2,
   cond="个体工商户变更名称、经营者、经营场所、经营范围等登记事项的。")
it("个体工商户注销登记", LIC, "SCJG", "《中华人民共和国市场主体登记管理条例》第三十一条",
   (3, 0), 4, "个体户注销 注销个体户 关店 个体执照注销",
   [sqb("个体工商户注销登记申请书"), "YYZZ", "SFZ"],
   ["company-close"], steps="instant", levels=C2,
   cond="个体工商户不再从事经营活动的，经营者向登记机关申请注销登记。")
it("农民专业合作社设立登记", LIC, "SCJG", "《中华人民共和国农民专业合作社法》第十六条",
   (3, 1), 4, "合作社 农民合作社 专业合作社 注册合作社 家庭农场",
   [sqb("农民专业合作社登记申请书"), m("全体设立人签名、盖章的设立大会纪要", O, 1, True, False),
    m("农民专业合作社章程", O, 1, True, False), m("成员名册及成员身份证明", C, 1, True, True), "ZS"],
   ["company-start"],
   cond="有五名以上符合规定的成员，有符合规定的章程、组织机构、名称和住所，有符合章程规定的成员出资。")
it("企业备案（章程、董事监事高级管理人员、联络员）", OTH, "SCJG", "《中华人民共和国市场主体登记管理条例》第九条、第二十九条",
   (3, 1), 4, "章程备案 董事备案 监事备案 高管备案 联络员变更 经理备案",
   [sqb("公司备案申请书"), m("章程或章程修正案", O, 1, False, False), m("任免文件", O, 1, False, False)],
   ["company-change"],
   cond="市场主体的章程、经营期限、董事、监事、高级管理人员、登记联络员等备案事项发生变动的，应当自作出决定之日起30日内备案。")
it("食品经营许可", LIC, "SCJG", "《中华人民共和国食品安全法》第三十五条；《食品经营许可和备案管理办法》第四条",
   (10, 5), 4, "食品许可证 餐饮许可 开饭店 开餐馆 卖食品 食品经营许可证 超市 奶茶店 餐饮店",
   [sqb("食品经营许可申请书"), "YYZZ",
    m("与食品经营相适应的主要设备设施、经营布局、操作流程等文件", O, 1, True, False),
    m("食品安全自查、从业人员健康管理、进货查验记录等食品安全管理制度", O, 1, True, False),
    m("食品安全管理人员身份证明及培训考核证明", C, 1, True, True)],
   ["company-start"], levels=C6, ch=["app", "pc", "window", "express"],
   cond="有与经营的食品品种、数量相适应的经营场所和设备设施，有专职或者兼职的食品安全管理人员和保证食品安全的规章制度；仅销售预包装食品的实行备案管理。")
it("食品生产许可", LIC, "SCJG", "《中华人民共和国食品安全法》第三十五条；《食品生产许可管理办法》第二条",
   (20, 10), 3, "食品生产许可证 SC证 食品厂 生产许可 食品加工",
   [sqb("食品生产许可申请书"), "YYZZ", m("食品生产加工场所及其周围环境平面图", O, 1, True, False),
    m("食品生产工艺流程图和设备布局图", O, 1, True, False), m("食品安全管理制度文本", O, 1, True, False)],
   ["company-start"], levels=P,
   cond="具有与生产的食品品种、数量相适应的生产场所、设备设施、专业技术人员和管理制度，经现场核查符合要求的食品生产者。")
it("食品小作坊登记", OTH, "SCJG", "《江苏省食品小作坊和食品摊贩管理条例》第九条",
   (15, 5), 3, "小作坊 作坊登记证 食品小作坊 手工作坊 豆腐坊 馒头店",
   [sqb("食品小作坊登记申请表"), "YYZZ", "PMT", m("从业人员健康证明", C, 1, True, False)],
   ["company-start"], levels=C2,
   cond="有固定生产场所、从业人员较少、生产条件简单，从事传统、特色食品生产加工的食品小作坊。")
it("药品零售经营许可", LIC, "SCJG", "《中华人民共和国药品管理法》第五十一条、第五十二条",
   (20, 10), 3, "药店 开药店 药品经营许可证 零售药店 药房 连锁药店",
   [sqb("药品经营许可证申请表"), "YYZZ", m("执业药师注册证", C, 1, True, False),
    m("经营场所、仓库平面布置图及房屋产权或使用证明", C, 1, True, False),
    m("药品质量管理文件目录", O, 1, True, False)],
   ["company-start"], levels=C2,
   cond="有依法经过资格认定的药师或者其他药学技术人员，有与所经营药品相适应的营业场所、设备、仓储设施和卫生环境，有质量管理机构或人员及规章制度。")
it("第二类医疗器械经营备案", OTH, "SCJG", "《医疗器械监督管理条例》第四十一条",
   (0, 0), 4, "二类医疗器械 医疗器械备案 卖口罩 血压计 体温计 医疗器械经营",
   [sqb("第二类医疗器械经营备案表"), "YYZZ", m("经营场所和库房地址证明", C, 1, True, False),
    m("质量管理人员身份证明和学历证明", C, 1, True, True)],
   ["company-start"], steps="record", ch=["app", "pc", "window"],
   cond="从事第二类医疗器械经营的企业，具备与经营规模和经营范围相适应的经营场所、贮存条件和质量管理人员。")
it("第三类医疗器械经营许可", LIC, "SCJG", "《医疗器械监督管理条例》第四十二条",
   (20, 10), 3, "三类医疗器械 医疗器械经营许可证 医疗器械许可",
   [sqb("医疗器械经营许可申请表"), "YYZZ", m("经营场所和库房地址证明", C, 1, True, False),
    m("质量管理制度和工作程序文件", O, 1, True, False), m("计算机信息管理系统基本情况介绍", O, 1, True, False)],
   ["company-start"],
   cond="有与经营规模和经营范围相适应的经营场所、贮存条件、质量管理制度和质量管理机构或人员。")
it("特种设备使用登记", LIC, "SCJG", "《中华人民共和国特种设备安全法》第三十三条",
   (15, 5), 4, "电梯登记 锅炉登记 压力容器 使用登记证 叉车上牌 特种设备 起重机械",
   [sqb("特种设备使用登记表"), "YYZZ", m("特种设备产品合格证", C, 1, True, False),
    m("监督检验证明", C, 1, True, False)],
   ["construction"],
   cond="特种设备使用单位应当在特种设备投入使用前或者投入使用后三十日内申请使用登记。")
it("特种设备作业人员资格认定", LIC, "SCJG", "《中华人民共和国特种设备安全法》第十四条",
   (20, 10), 3, "特种设备作业证 叉车证 电梯操作证 锅炉工证 特种作业 上岗证",
   [sqb("特种设备作业人员资格申请表"), "SFZ", "XLZS", m("考试合格证明", E, 1, True, False)],
   ["employment"], levels=P,
   cond="年龄18周岁以上、身体健康、具有相应文化程度，经考试合格的特种设备作业人员。")
it("计量标准器具核准", LIC, "SCJG", "《中华人民共和国计量法》第六条、第七条",
   (20, 15), 2, "计量标准 计量器具 计量考核 社会公用计量标准",
   [sqb("计量标准考核（复查）申请书"), m("计量标准技术报告", O, 1, True, False),
    m("计量标准器及主要配套设备有效检定或校准证书", C, 1, True, False)],
   [],
   cond="建立社会公用计量标准或者部门、企事业单位最高计量标准，经考核符合要求的。")
it("检验检测机构资质认定", LIC, "SCJG", "《中华人民共和国计量法》第二十二条；《检验检测机构资质认定管理办法》第三条",
   (30, 15), 3, "CMA 资质认定 检测机构 计量认证 检验检测",
   [sqb("检验检测机构资质认定申请书"), "YYZZ", m("检验检测机构管理体系文件", O, 1, True, False),
    m("检验检测能力申请表", O, 1, True, False)],
   [], levels=P,
   cond="依法成立并能够承担相应法律责任，具有与其从事检验检测活动相适应的人员、场所、设备设施和管理体系的检验检测机构。")
it("股权出质登记", CONF, "SCJG", "《中华人民共和国民法典》第四百四十三条；《股权出质登记办法》第二条",
   (3, 0), 4, "股权质押 股权出质 质押登记 股权融资",
   [sqb("股权出质设立登记申请书"), m("质权合同", C, 1, True, False), m("出质人、质权人主体资格证明", C, 1, True, True)],
   [], steps="instant",
   cond="以持有的有限责任公司和股份有限公司股权出质的，出质人和质权人应当共同申请股权出质登记。")
it("动产抵押登记", CONF, "SCJG", "《中华人民共和国物权法》第一百八十九条",
   (0, 0), 3, "动产抵押 设备抵押 抵押登记",
   [sqb("动产抵押登记书"), m("抵押人、抵押权人主体资格证明", C, 1, True, True)],
   [], steps="instant", status="retired",
   cond="自2021年1月1日起，动产和权利担保统一在中国人民银行征信中心动产融资统一登记公示系统登记，本事项停止办理。")
it("专利侵权纠纷行政裁决", ADJ, "SCJG", "《中华人民共和国专利法》第六十五条",
   (90, 60), 2, "专利侵权 专利纠纷 知识产权 侵权裁决 专利维权",
   [sqb("专利侵权纠纷处理请求书"), m("专利权有效证明", C, 1, True, False), m("侵权证据材料", C, 1, True, False),
    m("请求人主体资格证明", C, 1, True, True)],
   [],
   cond="专利权人或者利害关系人认为他人未经许可实施其专利，请求处理且未向人民法院起诉的。")
it("对举报食品安全违法行为的奖励", REW, "SCJG", "《中华人民共和国食品安全法》第一百一十五条",
   (60, 30), 3, "食品安全举报 举报奖励 有奖举报 12315 投诉举报",
   [m("举报人有效身份证件", C, 1, True, True), m("奖励申请及领奖账户信息", O, 1, True, False)],
   [],
   cond="举报人实名举报食品安全违法行为，经查证属实并作出行政处罚或者移送司法机关的。")
it("企业年度检验", OTH, "SCJG", "《中华人民共和国公司登记管理条例》（2014年修订前）第五十八条",
   (20, 10), 2, "年检 企业年检 营业执照年检 工商年检",
   ["YYZZ", m("年检报告书", O, 1, True, False)],
   [], status="retired",
   cond="自2014年3月1日起企业年度检验制度改为企业年度报告公示制度，本事项停止办理。")
it("市场主体年度报告公示", SVC, "SCJG", "《企业信息公示暂行条例》第八条",
   (0, 0), 4, "年报 企业年报 年度报告 工商年报 经营异常名录 年报公示",
   [m("企业年度报告（在线填报）", E, 1, True, False), m("企业联络员身份信息", E, 1, True, True)],
   ["company-change"], steps="instant", ch=["app", "pc"],
   cond="每年1月1日至6月30日，市场主体通过国家企业信用信息公示系统报送上一年度年度报告并向社会公示。")
it("移出经营异常名录", OTH, "SCJG", "《企业经营异常名录管理暂行办法》第十一条",
   (5, 3), 4, "经营异常 移出异常名录 信用修复 异常名录 补报年报",
   [sqb("移出经营异常名录申请书"), "FR", m("已履行相关义务的证明", C, 1, True, False)],
   ["company-change"],
   cond="因未按期公示年度报告、通过登记住所无法联系等情形被列入经营异常名录，且已补报、更正或恢复正常经营的企业。")
it("广告发布登记", LIC, "SCJG", "《中华人民共和国广告法》第二十九条",
   (20, 10), 3, "广告发布登记 报社广告 电台广告 广告发布许可",
   [sqb("广告发布登记申请表"), "YYZZ", m("广告业务机构和广告从业人员证明", C, 1, True, False)],
   [],
   cond="兼营广告发布业务的广播电台、电视台、报刊出版单位，具有专门从事广告业务的机构和人员。")
it("企业迁移登记", LIC, "SCJG", "《中华人民共和国市场主体登记管理条例》第二十七条",
   (3, 1), 4, "企业迁移 公司迁址 跨区迁移 迁入 迁出 企业跨省迁移",
   [sqb("企业迁移登记申请书"), "YYZZ", m("新住所使用证明", C, 1, True, False), m("股东会决议", O, 1, True, False)],
   ["company-change"], status="draft",
   cond="企业住所迁移至其他登记机关管辖区域的，向迁入地登记机关申请变更登记，档案由迁出地登记机关直接移交。")
it("组织机构代码证核发", OTH, "SCJG", "《组织机构代码管理办法》第七条",
   (5, 3), 1, "组织机构代码 代码证 机构代码",
   ["YYZZ", sqb("组织机构代码申请表")],
   [], status="retired",
   cond="实行“多证合一、一照一码”登记制度改革后，统一社会信用代码取代组织机构代码，本事项停止办理。")

# ---- 人社 (RS) -----------------------------------------------------------------------------

it("社会保障卡申领", SVC, "RS", "《中华人民共和国社会保险法》第五十八条",
   (20, 0), 4, "社保卡 办社保卡 第三代社保卡 即时制卡 医保卡 社会保障卡申请 电子社保卡",
   ["SFZ", m("数字相片", E, 1, True, False, "可现场采集或上传符合标准的照片"),
    m("监护人居民身份证", O, 1, False, True, "未满十六周岁的由监护人代为申请")],
   ["social-insurance", "medical"], steps="instant", levels=C6,
   ch=["app", "mini-program", "window", "self-service", "express"],
   cond="在本市参加社会保险的人员；在即时制卡网点可立等可取，线上申请的制卡后邮寄到家。")
it("社会保障卡挂失与补换", SVC, "RS", "《中华人民共和国社会保险法》第五十八条；《社会保障卡管理办法》第十六条",
   (20, 0), 4, "社保卡丢了 补社保卡 社保卡挂失 换社保卡 社保卡损坏 社保卡解挂",
   ["SFZ", m("数字相片", E, 1, False, False, "照片信息需更新时提供")],
   ["social-insurance"], steps="instant", ch=["app", "mini-program", "window", "self-service"],
   cond="社会保障卡遗失、损坏或需要换发的持卡人；可先通过电话、APP办理临时挂失。")
it("失业保险金申领", PAY, "RS", "《中华人民共和国社会保险法》第四十五条、第五十条；《失业保险条例》第十四条",
   (10, 3), 4, "失业金 领失业金 失业保险 失业补助 下岗 被辞退 失业保险金",
   ["SFZ", m("终止或者解除劳动合同的证明", O, 1, True, False, "可通过数据共享获取的免交"), "BANK"],
   ["employment", "social-insurance"], levels=C6, ch=["app", "mini-program", "pc", "window"],
   cond="失业前用人单位和本人已缴纳失业保险费满一年，非因本人意愿中断就业，已进行失业登记并有求职要求的。")
it("失业登记", SVC, "RS", "《就业服务与就业管理规定》第六十一条、第六十二条",
   (0, 0), 4, "失业登记 登记失业 就业失业登记 没工作 求职登记",
   ["SFZ", m("终止或者解除劳动关系的证明", C, 1, False, False, "有就业经历的提供")],
   ["employment"], steps="instant", levels=C2, ch=["app", "mini-program", "pc", "window"],
   cond="法定劳动年龄内、有劳动能力、有就业要求、处于无业状态的城乡劳动者，可在常住地进行失业登记。")
it("就业创业证申领", SVC, "RS", "《就业服务与就业管理规定》第六十三条",
   (0, 0), 4, "就业创业证 就业失业登记证 创业证 失业证 就业证",
   ["SFZ", m("近期免冠证件照片", E, 1, False, False, "电子证可不提供")],
   ["employment"], steps="instant", ch=["app", "mini-program", "window"],
   cond="已进行就业登记或者失业登记的劳动者，可免费申领《就业创业证》，电子证与纸质证具有同等效力。")
it("就业困难人员认定", CONF, "RS", "《中华人民共和国就业促进法》第五十二条",
   (15, 7), 3, "就业困难 困难人员认定 4050 零就业家庭 就业援助 大龄失业",
   ["SFZ", sqb("就业困难人员认定申请表"), m("符合认定条件的证明材料", C, 1, True, False, "残疾人证、低保证明等可数据共享的免交")],
   ["employment"],
   cond="已办理失业登记，且属于大龄、残疾、享受最低生活保障、连续失业一年以上等因身体状况、技能水平、家庭因素等原因难以实现就业的人员。")
it("灵活就业人员社会保险补贴申领", PAY, "RS", "《就业补助资金管理办法》（财社〔2017〕164号）第五条",
   (20, 10), 4, "社保补贴 灵活就业补贴 社保补助 就业困难人员社保补贴 个人社保补贴",
   ["SFZ", m("灵活就业情况说明", O, 1, True, False), "BANK"],
   ["employment", "social-insurance"],
   cond="就业困难人员和离校2年内未就业的高校毕业生，以灵活就业方式就业并缴纳社会保险费的，按规定给予一定数额的社会保险补贴。")
it("一次性创业补贴申领", PAY, "RS", "《就业补助资金管理办法》（财社〔2017〕164号）第六条",
   (20, 15), 4, "创业补贴 一次性创业补贴 创业奖励 大学生创业 自主创业 返乡创业",
   ["SFZ", "YYZZ", m("创业实体正常经营证明", C, 1, True, False, "纳税或缴纳社保记录可数据共享"), "BANK"],
   ["employment", "company-start"],
   cond="首次创办小微企业或从事个体经营，自工商登记注册之日起正常运营6个月以上的高校毕业生、就业困难人员、返乡创业农民工等。")
it("创业担保贷款申请", SVC, "RS", "《财政部 人力资源社会保障部 中国人民银行关于进一步加大创业担保贷款贴息力度全力支持重点群体创业就业的通知》（财金〔2020〕21号）",
   (20, 10), 3, "创业贷款 创业担保贷款 贴息贷款 无息贷款 富民创业贷 小额贷款",
   ["SFZ", "YYZZ", m("创业项目计划书", O, 1, True, False), m("个人征信授权书", O, 1, True, False)],
   ["employment"],
   cond="符合条件的城镇登记失业人员、就业困难人员、高校毕业生、返乡创业农民工、退役军人等，个人最高可申请30万元创业担保贷款并享受贴息。")
it("高校毕业生就业报到", SVC, "RS", "《普通高等学校毕业生就业工作暂行规定》第二十四条",
   (0, 0), 4, "就业报到 报到证 毕业生报到 档案接收 派遣 大学生报到",
   ["SFZ", m("毕业证书", C, 1, True, False, "学信网可查的免交"), m("劳动合同或就业协议", C, 1, False, False, "已就业的提供")],
   ["employment"], steps="instant", ch=["app", "mini-program", "pc", "window"],
   cond="毕业后回本市或到本市就业、择业的普通高校毕业生。")
it("企业职工基本养老保险参保登记", SVC, "RS", "《中华人民共和国社会保险法》第十条、第五十七条、第五十八条",
   (0, 0), 4, "社保开户 单位参保 社保登记 养老保险参保 交社保 新员工参保 增员",
   ["YYZZ", sqb("社会保险参保登记表"), m("参保职工名册", E, 1, True, False, "在线导入")],
   ["company-start", "social-insurance"], steps="instant", levels=C6, ch=["app", "pc", "window"],
   cond="用人单位应当自成立之日起三十日内申请社会保险登记，自用工之日起三十日内为职工办理参保登记；新办企业通过“全链通”平台一并办理。")
it("企业职工基本养老保险待遇申领", PAY, "RS", "《中华人民共和国社会保险法》第十六条",
   (20, 10), 4, "退休 办退休 养老金 领养老金 退休申请 退休手续 养老待遇 退休金",
   ["SFZ", m("职工档案或视同缴费年限证明", O, 1, False, False, "有视同缴费年限的提供"), "BANK"],
   ["elderly", "social-insurance"], ch=["app", "mini-program", "pc", "window"],
   cond="达到法定退休年龄，累计缴纳基本养老保险费满最低缴费年限的参保人员，按月领取基本养老金。")
it("城乡居民基本养老保险参保登记", SVC, "RS", "《国务院关于建立统一的城乡居民基本养老保险制度的意见》（国发〔2014〕8号）",
   (0, 0), 4, "城乡居民养老保险 居民养老 农村养老保险 新农保 交养老保险 居民社保",
   ["SFZ", "HKB"],
   ["elderly", "social-insurance"], steps="instant", levels=C6 + T, ch=["app", "mini-program", "window"],
   cond="年满16周岁（不含在校学生），非国家机关和事业单位工作人员及不属于职工基本养老保险制度覆盖范围的本市户籍城乡居民。")
it("城乡居民基本养老保险待遇申领", PAY, "RS", "《国务院关于建立统一的城乡居民基本养老保险制度的意见》（国发〔2014〕8号）第六条",
   (20, 10), 4, "居民养老金 领取养老金 基础养老金 60岁 农保待遇 城乡居民养老待遇",
   ["SFZ", "HKB", "BANK"],
   ["elderly"], levels=C6, ch=["app", "mini-program", "window"],
   cond="参加城乡居民养老保险的个人，年满60周岁、累计缴费满15年，且未领取国家规定的基本养老保障待遇的，可按月领取城乡居民养老保险待遇。")
it("养老保险关系转移接续", SVC, "RS", "《城镇企业职工基本养老保险关系转移接续暂行办法》（国办发〔2009〕66号）第八条",
   (45, 20), 4, "社保转移 养老保险转移 跨省转社保 社保转入 转出 社保接续",
   ["SFZ", m("参保缴费凭证", E, 1, True, False, "转出地经办机构通过信息系统传递")],
   ["social-insurance", "employment"], ch=["app", "mini-program", "pc", "window"],
   cond="参保人员跨省、市流动就业并在新就业地参保的，可申请转移接续基本养老保险关系。")
it("丧葬补助金、抚恤金申领", PAY, "RS", "《中华人民共和国社会保险法》第十七条",
   (20, 10), 3, "丧葬费 抚恤金 死亡待遇 遗属 丧葬补助 职工去世 退休人员去世",
   ["DEATH", m("申领人居民身份证", O, 1, True, True), m("申领人与死者的亲属关系证明", O, 1, True, False, "户口簿可证明的免交"),
    "BANK"],
   ["death"], ch=["app", "window"],
   cond="参加基本养老保险的个人因病或者非因工死亡的，其遗属可以领取丧葬补助金和抚恤金。")
it("工伤认定", CONF, "RS", "《工伤保险条例》第十七条、第二十条",
   (60, 30), 3, "工伤 工伤认定 上班受伤 工伤申请 职业病 上下班交通事故",
   [sqb("工伤认定申请表"), m("与用人单位存在劳动关系的证明材料", C, 1, True, False),
    m("医疗诊断证明或者职业病诊断证明书", C, 1, True, False), m("受伤害职工居民身份证", C, 1, True, True)],
   ["employment", "social-insurance"],
   cond="职工发生事故伤害或者被诊断、鉴定为职业病，所在单位应当自事故伤害发生之日起30日内提出申请；单位未申请的，职工或其近亲属可在1年内申请。")
it("劳动能力鉴定", OTH, "RS", "《工伤保险条例》第二十一条、第二十三条、第二十五条",
   (60, 40), 3, "伤残鉴定 劳动能力鉴定 工伤等级 伤残等级 工伤鉴定",
   [sqb("劳动能力鉴定申请表"), m("工伤认定决定书", C, 1, True, False), m("有关诊断证明书和病历资料", C, 1, True, False)],
   ["employment"],
   cond="职工发生工伤，经治疗伤情相对稳定后存在残疾、影响劳动能力的。")
it("劳动人事争议仲裁", OTH, "RS", "《中华人民共和国劳动争议调解仲裁法》第二十八条、第四十三条",
   (45, 45), 3, "劳动仲裁 欠薪 拖欠工资 劳动纠纷 辞退赔偿 经济补偿 加班费",
   [m("仲裁申请书", O, 2, True, False, "按被申请人人数提交副本"), "SFZ",
    m("被申请人主体信息", O, 1, True, False), m("证据材料", C, 1, True, False, "劳动合同、工资条、考勤记录等")],
   ["employment"], steps="adj",
   cond="劳动者与用人单位发生劳动争议，在一年仲裁时效期间内提出申请，且属于本委员会管辖范围的。")
it("劳务派遣经营许可", LIC, "RS", "《中华人民共和国劳动合同法》第五十七条；《劳务派遣行政许可实施办法》第六条",
   (20, 10), 4, "劳务派遣 派遣许可证 劳务公司 劳务派遣经营",
   [sqb("劳务派遣经营许可申请书"), "YYZZ", m("注册资本实缴证明", C, 1, True, False, "注册资本不得少于200万元"),
    m("经营场所使用证明", C, 1, True, False), m("劳务派遣管理制度", O, 1, True, False)],
   ["company-start"],
   cond="注册资本不得少于人民币200万元，有与开展业务相适应的固定经营场所和设施，有符合法律法规规定的劳务派遣管理制度。")
it("人力资源服务许可", LIC, "RS", "《人力资源市场暂行条例》第十八条",
   (20, 10), 4, "职业中介 人力资源公司 猎头 人力资源服务许可证 招聘中介",
   [sqb("人力资源服务许可申请表"), "YYZZ", m("场所和设施证明", C, 1, True, False), m("专职工作人员名单及资格证明", C, 1, True, False)],
   ["company-start"],
   cond="经营性人力资源服务机构从事职业中介活动的，应当依法向人力资源社会保障行政部门申请行政许可。")
it("职业技能等级认定", SVC, "RS", "《中华人民共和国劳动法》第六十九条",
   (30, 20), 3, "技能证书 职业资格 技能等级证 考证 电工证 育婴师 电子证书",
   ["SFZ", sqb("职业技能等级认定申报表"), m("工作年限或培训证明", C, 1, False, False, "按申报等级要求提供")],
   ["employment"],
   cond="符合职业技能等级认定申报条件的劳动者，向经备案的评价机构申报，考核合格后颁发职业技能等级证书。")
it("失业保险稳岗返还", PAY, "RS", "《人力资源社会保障部 财政部 国家税务总局关于做好失业保险稳岗位提技能防失业工作的通知》（人社部发〔2022〕23号）",
   (20, 10), 4, "稳岗返还 稳岗补贴 失业保险返还 企业补贴 免申即享",
   ["YYZZ", m("单位银行账户信息", C, 1, True, False)],
   ["employment"], ch=["app", "pc"],
   cond="上年度未裁员或裁员率不高于规定标准的参保企业；实行“免申即享”，经大数据比对后直接返还。")
it("技能提升补贴申领", PAY, "RS", "《人力资源社会保障部 财政部关于失业保险支持参保职工提升职业技能有关问题的通知》（人社部发〔2017〕40号）",
   (20, 10), 4, "技能补贴 考证补贴 技能提升补贴 拿证补贴",
   ["SFZ", m("职业资格证书或职业技能等级证书", C, 1, True, True), "BANK"],
   ["employment"],
   cond="依法参加失业保险、累计缴纳失业保险费1年以上，取得职业资格证书或职业技能等级证书的企业职工。")
it("个人社会保险参保证明查询打印", SVC, "RS", "《中华人民共和国社会保险法》第七十四条",
   (0, 0), 4, "社保证明 参保证明 社保缴费记录 社保清单 打印社保 社保查询",
   ["SFZ", m("社会保障卡", O, 1, False, True, "自助设备打印时使用")],
   ["social-insurance"], steps="instant", levels=C2, ch=["app", "mini-program", "pc", "window", "self-service"],
   cond="参保人员可随时查询、打印本人参保缴费记录，证明加盖电子印章，可在线核验。")

# ---- 医保 (YB) -----------------------------------------------------------------------------

it("职工医疗保险参保登记", SVC, "YB", "《中华人民共和国社会保险法》第二十三条、第五十七条",
   (0, 0), 4, "医保参保 职工医保 单位医保 医保登记 参保 医保增员",
   ["YYZZ", m("参保职工名册", E, 1, True, False, "在线导入")],
   ["medical", "social-insurance"], steps="instant", levels=C6, ch=["app", "pc", "window"],
   cond="本市行政区域内的用人单位及其职工，以及无雇工的个体工商户、未在用人单位参加职工医保的非全日制从业人员和其他灵活就业人员。")
it("城乡居民基本医疗保险参保登记", SVC, "YB", "《中华人民共和国社会保险法》第二十五条；《国务院关于整合城乡居民基本医疗保险制度的意见》（国发〔2016〕3号）",
   (0, 0), 4, "居民医保 新农合 城乡医保 学生医保 新生儿医保 交医保 少儿医保",
   ["SFZ", "HKB", m("出生医学证明", O, 1, False, True, "新生儿参保时提供")],
   ["medical", "birth"], steps="instant", levels=C6 + T, ch=["app", "mini-program", "window"],
   cond="除职工基本医疗保险应参保人员以外的本市户籍居民、持有本市居住证的非本市户籍居民以及在校学生、新生儿。")
it("生育津贴申领", PAY, "YB", "《中华人民共和国社会保险法》第五十四条、第五十六条",
   (20, 10), 4, "生育津贴 产假工资 生育保险 生育金 产假津贴 陪产假",
   ["SFZ", "CSZM", m("用人单位银行账户信息", C, 1, True, False)],
   ["birth"], levels=C2, ch=["app", "pc", "window"],
   cond="用人单位已经缴纳生育保险费的，其职工享受生育津贴；生育津贴按照职工所在用人单位上年度职工月平均工资计发。")
it("生育医疗费用支付", PAY, "YB", "《中华人民共和国社会保险法》第五十五条",
   (20, 10), 4, "生孩子报销 生育报销 产检报销 分娩费用 生育医疗费",
   ["SFZ", m("医疗费用票据及费用明细清单", O, 1, True, False, "定点医疗机构直接结算的免交"),
    m("出院记录", C, 1, True, False)],
   ["birth", "medical"],
   cond="参加生育保险的职工及参加居民医保的参保人，因生育发生的符合规定的医疗费用。")
it("异地就医备案", SVC, "YB", "《国家医疗保障局 财政部关于进一步做好基本医疗保险跨省异地就医直接结算工作的通知》（医保发〔2022〕22号）",
   (0, 0), 4, "异地就医 异地备案 跨省就医 外地看病 异地医保 转外就医 长期异地居住",
   ["SFZ", m("《异地就医备案登记表》", E, 1, True, False, "在线填报"),
    m("承诺书", E, 1, False, False, "长期异地居住、临时外出就医可承诺备案")],
   ["medical", "travel"], steps="instant", ch=["app", "mini-program", "pc", "window"],
   cond="跨省或省内跨统筹区长期居住、临时外出就医或转诊就医的参保人员；备案后可在就医地定点医疗机构直接结算。")
it("医疗费用手工（零星）报销", PAY, "YB", "《中华人民共和国社会保险法》第二十八条、第二十九条",
   (30, 20), 3, "医疗报销 医药费报销 零星报销 手工报销 垫付报销 看病报销",
   ["SFZ", m("医疗费用票据", O, 1, True, False), m("费用明细清单", O, 1, True, False), m("出院记录或门诊病历", C, 1, True, False),
    "BANK"],
   ["medical"],
   cond="因急诊抢救、未备案异地就医等原因未能直接结算，全额垫付符合基本医疗保险规定医疗费用的参保人员。")
it("门诊慢特病待遇认定", CONF, "YB", "《国家医疗保障局 财政部关于建立医疗保障待遇清单制度的意见》（医保发〔2021〕5号）",
   (15, 10), 3, "慢性病 特殊病 门慢 门特 慢病卡 特殊病种 透析 恶性肿瘤门诊",
   ["SFZ", m("二级以上定点医疗机构诊断证明", O, 1, True, False), m("相关检查报告及病历资料", C, 1, True, False)],
   ["medical"],
   cond="参保人员患有规定病种目录中的门诊慢性病、特殊病，经定点医疗机构确诊并符合认定标准的。")
it("基本医疗保险关系转移接续", SVC, "YB", "《流动就业人员基本医疗保障关系转移接续暂行办法》（人社部发〔2009〕191号）",
   (45, 15), 4, "医保转移 医保转入 转医保 医保关系转移 医保接续",
   ["SFZ", m("参保凭证", E, 1, True, False, "转出地经办机构通过信息系统传递")],
   ["medical"], ch=["app", "mini-program", "pc", "window"],
   cond="跨统筹地区流动就业、已在转入地参保的人员，可申请转移接续基本医疗保险关系，缴费年限累计计算。")
it("医疗救助", PAY, "YB", "《社会救助暂行办法》第二十八条、第二十九条",
   (20, 10), 3, "医疗救助 大病救助 看病困难 二次报销 医疗补助 因病致贫",
   ["SFZ", m("医疗费用票据及结算单", C, 1, True, False, "定点医疗机构“一站式”结算的免交"),
    m("救助对象身份证明", C, 1, False, False, "低保、特困等身份信息可数据共享")],
   ["medical"], levels=C2,
   cond="最低生活保障家庭成员、特困供养人员、低保边缘家庭成员及因病致贫的重病患者等，经基本医保、大病保险报销后个人负担仍较重的。")
it("医药机构申请定点协议管理", OTH, "YB", "《医疗机构医疗保障定点管理暂行办法》第六条；《零售药店医疗保障定点管理暂行办法》第五条",
   (90, 60), 3, "医保定点 定点药店 定点医院 医保协议 申请医保定点",
   [sqb("定点医药机构申请表"), "YYZZ", m("医疗机构执业许可证或药品经营许可证", C, 1, True, False),
    m("医保管理制度和信息系统情况说明", O, 1, True, False)],
   ["company-start"],
   cond="正式运营至少3个月的医疗机构、零售药店，具备医保管理制度、信息系统和专（兼）职管理人员的。")
it("职工医保个人账户家庭共济", SVC, "YB", "《国务院办公厅关于建立健全职工基本医疗保险门诊共济保障机制的指导意见》（国办发〔2021〕14号）",
   (0, 0), 4, "家庭共济 医保个人账户 医保给家人用 共济 个账共济",
   ["SFZ", m("家庭成员身份信息", E, 1, True, False, "配偶、父母、子女")],
   ["medical"], steps="instant", ch=["app", "mini-program", "window"],
   cond="职工医保参保人员可将个人账户用于支付配偶、父母、子女在定点医药机构就医购药的个人负担费用及参加居民医保的个人缴费。")
it("医疗保障参保信息查询和打印", SVC, "YB", "《中华人民共和国社会保险法》第七十四条；《医疗保障基金使用监督管理条例》第十五条",
   (0, 0), 4, "医保查询 医保缴费记录 参保凭证 医保证明 医保余额",
   ["SFZ"] + [m("医保电子凭证", E, 1, False, True, "线上查询时使用")],
   ["medical"], steps="instant", ch=["app", "mini-program", "pc", "window", "self-service"],
   cond="参保人员可查询、打印本人医疗保障参保缴费及待遇享受信息。")

# ---- 住房公积金 (GJJ) ----------------------------------------------------------------------

it("住房公积金提取", SVC, "GJJ", "《住房公积金管理条例》第二十四条、第二十五条",
   (3, 0), 4, "公积金提取 提公积金 取公积金 租房提取 购房提取 还贷提取 公积金 离职提取",
   ["SFZ", "BANK",
    m("购房合同或不动产权证书", C, 1, False, True, "购房提取提供，可通过信息共享核验"),
    m("房屋租赁备案证明", C, 1, False, False, "租房提取提供，无房产且租赁的可按标准直接提取")],
   ["housing"], steps="instant", ch=["app", "mini-program", "pc", "window"],
   cond="购买、建造、翻建、大修自住住房，偿还购房贷款本息，租房自住，离休、退休，出境定居等情形的缴存职工。")
it("住房公积金个人住房贷款", SVC, "GJJ", "《住房公积金管理条例》第二十六条",
   (15, 7), 3, "公积金贷款 公积金买房 贷款买房 组合贷 公积金额度 公积金房贷",
   ["SFZ", "JHZN", m("购房合同", O, 1, True, False), m("首付款凭证", C, 1, True, False),
    m("借款人收入证明", O, 1, True, False)],
   ["housing"],
   cond="正常连续足额缴存住房公积金6个月以上，购买、建造、翻建、大修自住住房，且无未结清公积金贷款的缴存职工。")
it("住房公积金单位缴存登记", SVC, "GJJ", "《住房公积金管理条例》第十四条、第十五条",
   (0, 0), 4, "公积金开户 单位公积金 公积金登记 新员工公积金 公积金增员",
   ["YYZZ", m("单位缴存登记表", E, 1, True, False, "在线填报"), m("职工名册", E, 1, True, False, "在线导入")],
   ["company-start", "housing"], steps="instant", ch=["app", "pc", "window"],
   cond="新设立的单位应当自设立之日起30日内办理住房公积金缴存登记，并为本单位职工办理账户设立；可通过企业开办“全链通”平台一并办理。")
it("住房公积金异地转移接续", SVC, "GJJ", "《住房城乡建设部关于印发〈全国住房公积金异地转移接续业务操作规程〉的通知》（建金〔2016〕283号）",
   (15, 5), 4, "公积金转移 公积金异地转移 跨城转移 公积金转入 公积金合并",
   ["SFZ", m("转入地住房公积金账户信息", E, 1, True, False, "在线选择转入地公积金中心，系统自动核验")],
   ["housing"], ch=["app", "mini-program", "pc", "window"],
   cond="职工跨城市就业，在转入地已建立住房公积金账户并正常缴存的，向转入地公积金中心申请转移接续。")
it("住房公积金缴存证明开具", SVC, "GJJ", "《住房公积金管理条例》第三条、第十七条",
   (0, 0), 4, "公积金证明 缴存证明 公积金查询 缴存明细 贷款证明",
   ["SFZ", m("证明用途说明", E, 1, False, False, "用于贷款、签证等需注明用途的")],
   ["housing"], steps="instant", ch=["app", "mini-program", "pc", "window", "self-service"],
   cond="缴存职工可随时查询、打印本人住房公积金缴存证明和缴存明细，证明可在线核验。")
it("灵活就业人员住房公积金自愿缴存", SVC, "GJJ", "《住房和城乡建设部关于开展灵活就业人员参加住房公积金制度试点工作的通知》",
   (0, 0), 4, "灵活就业公积金 个体户公积金 自由职业公积金 自愿缴存",
   ["SFZ", "BANK", m("自愿缴存协议", E, 1, True, False)],
   ["housing", "employment"], steps="instant", status="draft", ch=["app", "mini-program", "window"],
   cond="年满16周岁、未达到法定退休年龄，在本市从事灵活就业的人员，可自愿缴存住房公积金。")
it("职工死亡住房公积金继承提取", SVC, "GJJ", "《住房公积金管理条例》第二十四条第三款",
   (3, 1), 3, "公积金继承 死亡提取 公积金余额 亲属提取 去世提取",
   ["DEATH", m("继承人或受遗赠人居民身份证", O, 1, True, True),
    m("继承权或受遗赠权证明", O, 1, True, False, "公证书或人民法院判决书、裁定书、调解书")],
   ["death", "housing"],
   cond="职工死亡或者被宣告死亡的，职工的继承人、受遗赠人可以提取职工住房公积金账户内的存储余额。")
it("住房公积金贷款提前还款", SVC, "GJJ", "《住房公积金管理条例》第二十六条；《个人住房公积金贷款合同》相关约定",
   (0, 0), 4, "提前还贷 公积金提前还款 部分还款 结清贷款 公积金还款",
   ["SFZ", m("还款资金账户信息", C, 1, True, False)],
   ["housing"], steps="instant", ch=["app", "mini-program", "pc", "window"],
   cond="住房公积金贷款借款人可申请部分或全部提前偿还贷款本息，无需支付违约金。")

# ---- 民政 (MZ) -----------------------------------------------------------------------------

it("结婚登记", CONF, "MZ", "《中华人民共和国民法典》第一千零四十九条；《婚姻登记条例》第四条、第五条、第七条",
   (0, 0), 2, "结婚 领证 登记结婚 结婚证 婚姻登记 预约结婚 民政局领证 520领证",
   [m("双方居民身份证", O, 2, True, True), m("双方居民户口簿", O, 2, False, True, "已实行婚姻登记“全国通办”的可免交"),
    m("双方近期半身免冠合影照片", O, 3, True, False, "2寸，可在婚姻登记处现场拍摄"),
    m("《申请结婚登记声明书》", O, 1, True, False, "在婚姻登记员面前签署")],
   ["marriage"], steps="confirm", levels=C6, ch=["app", "mini-program", "window"],
   cond="男女双方完全自愿，男不得早于二十二周岁、女不得早于二十周岁，双方均无配偶，不属于直系血亲和三代以内旁系血亲，双方亲自到婚姻登记机关申请；可网上预约。")
it("离婚登记", CONF, "MZ", "《中华人民共和国民法典》第一千零七十六条、第一千零七十七条；《婚姻登记条例》第十条",
   (30, 30), 2, "离婚 协议离婚 离婚登记 离婚冷静期 离婚证",
   [m("双方居民身份证", O, 2, True, True), m("双方居民户口簿", O, 2, False, True), m("结婚证", O, 2, True, True),
    m("离婚协议书", O, 3, True, False), m("双方近期半身免冠单人照片", O, 4, True, False, "每人2张")],
   ["marriage"], levels=C6, ch=["app", "window"],
   cond="夫妻双方自愿离婚并对子女抚养、财产及债务处理等事项协商一致；自婚姻登记机关收到离婚登记申请之日起三十日为离婚冷静期，期满后三十日内双方亲自到场申请发给离婚证。")
it("补领婚姻登记证", CONF, "MZ", "《婚姻登记条例》第十七条",
   (0, 0), 2, "补结婚证 结婚证丢了 补领离婚证 婚姻证明 结婚证补办 结婚证损坏",
   ["SFZ", "HKB", m("近期半身免冠照片", O, 3, True, False, "补领结婚证提供双方合影")],
   ["marriage"], steps="instant", levels=C2, ch=["app", "window"],
   cond="结婚证、离婚证遗失或者损毁的当事人，可以持身份证件向原办理婚姻登记或一方常住户口所在地的婚姻登记机关申请补领。")
it("婚姻登记档案查询", SVC, "MZ", "《婚姻登记档案管理办法》第十五条",
   (0, 0), 3, "婚姻状况证明 婚姻档案 单身证明 婚姻记录查询 婚姻登记记录",
   ["SFZ", m("授权委托书", O, 1, False, False, "委托他人查询时提供")],
   ["marriage"], steps="instant",
   cond="婚姻当事人或者其委托的人，可以持有效身份证件查阅、复制本人的婚姻登记档案。")
it("收养登记", CONF, "MZ", "《中华人民共和国民法典》第一千一百零五条；《中国公民收养子女登记办法》第五条",
   (30, 20), 2, "收养 领养孩子 收养登记 收养证 抱养",
   [sqb("收养登记申请书"), m("收养人居民户口簿和居民身份证", O, 1, True, True), m("收养人婚姻状况证明", O, 1, True, True),
    m("收养能力评估报告", O, 1, True, False), m("被收养人出生证明或身份证明", O, 1, True, False)],
   ["birth"],
   cond="收养人无子女或者只有一名子女，有抚养、教育和保护被收养人的能力，未患有医学上认为不应当收养子女的疾病，无不利于被收养人健康成长的违法犯罪记录，年满三十周岁。")
it("最低生活保障金给付", PAY, "MZ", "《社会救助暂行办法》第九条、第十一条；《江苏省社会救助办法》第十条",
   (30, 20), 3, "低保 申请低保 低保金 困难补助 最低生活保障 低保户 社会救助",
   ["SFZ", "HKB", m("家庭经济状况核对授权书", O, 1, True, False), m("家庭收入、财产状况申报材料", O, 1, True, False)],
   [], levels=C6 + T, ch=["app", "mini-program", "window"],
   cond="共同生活的家庭成员人均收入低于当地最低生活保障标准，且家庭财产状况符合规定的本市户籍居民家庭；可在户籍地或经常居住地乡镇（街道）申请。")
it("特困人员救助供养", PAY, "MZ", "《社会救助暂行办法》第十四条、第十五条",
   (30, 20), 3, "五保户 特困供养 特困人员 孤寡老人 兜底保障 分散供养 集中供养",
   ["SFZ", "HKB", m("家庭经济状况核对授权书", O, 1, True, False)],
   ["elderly"], levels=C2,
   cond="无劳动能力、无生活来源、无法定赡养抚养扶养义务人或者其法定义务人无履行义务能力的老年人、残疾人以及未满十六周岁的未成年人。")
it("临时救助", PAY, "MZ", "《社会救助暂行办法》第四十七条、第四十八条",
   (20, 10), 3, "临时救助 急难救助 临时困难 救急 突发困难",
   ["SFZ", m("遭遇困难的证明材料", C, 1, True, False, "如医疗票据、事故证明等；急难情形可先行救助后补材料")],
   [], levels=C2,
   cond="因火灾、交通事故等意外事件，家庭成员突发重大疾病等原因，导致基本生活暂时出现严重困难的家庭或者个人。")
it("高龄津贴申领", PAY, "MZ", "《中华人民共和国老年人权益保障法》第三十三条；《江苏省老年人权益保障条例》第二十七条",
   (20, 10), 4, "高龄津贴 老年人补贴 尊老金 80岁补贴 高龄补贴 长寿补贴 百岁老人",
   ["SFZ", "HKB", m("老年人本人社会保障卡", O, 1, True, True, "用于津贴发放"), "DBR"],
   ["elderly"], levels=C6 + T, ch=["app", "mini-program", "window"],
   cond="具有本市户籍、年满80周岁的老年人，按年龄段享受高龄津贴；已实现“免申即享”的，年满80周岁次月自动发放。")
it("经济困难老年人养老服务补贴", PAY, "MZ", "《江苏省老年人权益保障条例》第二十八条",
   (20, 15), 3, "居家养老补贴 养老服务补贴 失能老人 护理补贴 困难老人 助餐补贴",
   ["SFZ", "HKB", m("老年人能力评估报告", O, 1, True, False)],
   ["elderly"],
   cond="具有本市户籍，属于低保、低保边缘、特困等经济困难家庭且经评估为失能、半失能的老年人。")
it("困难残疾人生活补贴和重度残疾人护理补贴", PAY, "MZ", "《国务院关于全面建立困难残疾人生活补贴和重度残疾人护理补贴制度的意见》（国发〔2015〕52号）",
   (20, 15), 4, "残疾人两项补贴 残疾补贴 护理补贴 重度残疾 残疾人生活补贴",
   ["SFZ", m("中华人民共和国残疾人证", O, 1, True, True), "BANK"],
   [], levels=C2, ch=["app", "mini-program", "window"],
   cond="持有第二代残疾人证的低保家庭中的残疾人可申领生活补贴；残疾等级为一级、二级且需要长期照护的重度残疾人可申领护理补贴。")
it("孤儿基本生活费发放", PAY, "MZ", "《国务院办公厅关于加强孤儿保障工作的意见》（国办发〔2010〕54号）",
   (30, 20), 2, "孤儿 孤儿补贴 孤儿生活费 儿童福利 失去父母",
   ["HKB", m("儿童父母死亡证明或宣告失踪证明", O, 1, True, False), m("监护人居民身份证", O, 1, True, True)],
   [],
   cond="失去父母、查找不到生父母的未满18周岁的未成年人，由其监护人向户籍所在地乡镇（街道）提出申请。")
it("事实无人抚养儿童基本生活补贴", PAY, "MZ", "《民政部等12部门关于进一步加强事实无人抚养儿童保障工作的意见》（民发〔2019〕62号）",
   (30, 20), 2, "事实无人抚养 困境儿童 留守儿童 儿童补贴 儿童保障",
   ["HKB", m("父母双方符合事实无人抚养情形的证明材料", C, 1, True, False), m("监护人居民身份证", O, 1, True, True)],
   [],
   cond="父母双方均符合重残、重病、服刑在押、强制隔离戒毒、失联等情形之一，或一方死亡、失踪另一方符合上述情形的儿童。")
it("养老机构备案", OTH, "MZ", "《中华人民共和国老年人权益保障法》第四十三条；《养老机构管理办法》第九条",
   (5, 0), 4, "养老院备案 开养老院 养老机构 敬老院 护理院 日间照料",
   [sqb("养老机构备案书"), "YYZZ", m("养老机构备案承诺书", O, 1, True, False)],
   ["elderly", "company-start"], steps="record",
   cond="设立养老机构的，应当在收住老年人后10个工作日以内向服务场所所在地民政部门备案。")
it("社会团体成立登记", LIC, "MZ", "《社会团体登记管理条例》第三条、第十一条",
   (60, 30), 3, "社团登记 成立协会 商会 学会 社会组织 行业协会",
   [sqb("社会团体成立登记申请书"), m("业务主管单位批准文件", O, 1, False, False, "行业协会商会等直接登记的免交"),
    m("社会团体章程草案", O, 1, True, False), m("验资报告", O, 1, True, False), m("住所使用权证明", C, 1, True, False)],
   [], levels=P,
   cond="有50个以上的个人会员或者30个以上的单位会员，有规范的名称和相应的组织机构、固定的住所、专职工作人员和合法的资产及经费来源。")
it("民办非企业单位成立登记", LIC, "MZ", "《民办非企业单位登记管理暂行条例》第三条、第八条",
   (60, 30), 3, "民非 民办非企业 社会服务机构 社会组织登记 民办养老院 民办培训",
   [sqb("民办非企业单位成立登记申请书"), m("业务主管单位批准文件", O, 1, False, False),
    m("章程草案", O, 1, True, False), m("场所使用权证明", C, 1, True, False), m("验资报告", O, 1, True, False)],
   [], levels=P,
   cond="有规范的名称、必要的组织机构，有与其业务活动相适应的从业人员、合法财产和必要场所。")
it("惠民殡葬基本服务费用减免", PAY, "MZ", "《民政部等9部门关于进一步推动殡葬改革促进殡葬事业发展的指导意见》（民发〔2018〕5号）",
   (0, 0), 2, "殡葬补贴 火化费 殡葬减免 基本殡葬 丧葬费用 惠民殡葬 遗体接运",
   ["DEATH", m("死者居民身份证或户口簿", O, 1, True, False), m("经办人居民身份证", O, 1, True, True)],
   ["death"], steps="instant", ch=["window"],
   cond="本市户籍居民及在本市死亡的非本市户籍居民，遗体接运、暂存、火化、骨灰寄存等基本殡葬服务费用按规定减免，在殡仪馆结算时直接减免。")
it("经营性公墓建设审批", LIC, "MZ", "《殡葬管理条例》第八条",
   (20, 15), 2, "公墓 墓地 陵园建设 公墓审批 经营性公墓",
   [sqb("建设经营性公墓申请书"), m("建设用地批准文件", C, 1, True, False), m("公墓建设规划设计方案", O, 1, True, False),
    m("可行性研究报告", O, 1, True, False)],
   [], levels=P,
   cond="符合殡葬设施规划，利用荒山瘠地建设，并经县级人民政府和设区的市人民政府民政部门审核同意。")
it("慈善组织认定", CONF, "MZ", "《中华人民共和国慈善法》第十条",
   (20, 15), 3, "慈善组织 慈善认定 公益组织 慈善登记 公开募捐",
   [sqb("慈善组织认定申请书"), m("符合慈善组织条件的说明", O, 1, True, False), m("按照慈善组织要求修改的章程", O, 1, True, False)],
   [],
   cond="已经设立的基金会、社会团体、社会服务机构，以开展慈善活动为宗旨，符合慈善组织条件的。")
it("地名命名更名审批", OTH, "MZ", "《地名管理条例》第十条、第十三条",
   (30, 20), 2, "地名 小区命名 道路命名 楼盘名称 地名更名 门牌",
   [sqb("地名命名更名申请书"), m("拟用名称的理由及论证材料", O, 1, True, False), m("建设项目规划批准文件", C, 1, True, False)],
   ["construction"],
   cond="新建住宅区、建筑物和道路、桥梁等需要命名、更名，拟用名称符合地名管理规定的。")

# ---- 教育 (JY) -----------------------------------------------------------------------------

it("义务教育入学登记", SVC, "JY", "《中华人民共和国义务教育法》第十二条、第十四条",
   (0, 20), 4, "入学登记 小学入学 初中入学 新生报名 学区 招生 入学报名 一年级 小升初",
   ["HKB", m("房屋产权证明", C, 1, False, True, "按学区登记的提供不动产权证书，可数据共享核验"),
    "JZZ", m("出生医学证明", C, 1, True, True), m("监护人居民身份证", O, 1, True, True)],
   ["school"], levels=C6, ch=["app", "mini-program", "pc", "window"],
   cond="年满六周岁（当年8月31日前出生）的适龄儿童由父母或者其他法定监护人在户籍或居住地所在学区登记入学；进城务工人员随迁子女凭居住证按规定入学。")
it("中小学学生转学", SVC, "JY", "《中华人民共和国义务教育法》第十二条；《中小学生学籍管理办法》第十三条",
   (15, 7), 3, "转学 转校 插班 学籍转接 转学手续",
   [sqb("中小学生转学申请表"), "HKB", m("转入学校接收证明", O, 1, True, False)],
   ["school"], levels=C2,
   cond="因户籍迁移、家庭居住地变化等原因需要转学的义务教育阶段学生，由监护人提出申请，转出、转入学校及教育行政部门核办。")
it("教师资格认定", LIC, "JY", "《中华人民共和国教师法》第十三条；《教师资格条例》第十三条",
   (30, 20), 3, "教师资格证 教资认定 教师证 教资 幼儿园教师资格",
   ["SFZ", "XLZS", m("普通话水平测试等级证书", C, 1, True, True, "可在线核验"),
    m("教师资格认定体检合格证明", O, 1, True, False), m("个人承诺书", E, 1, True, False, "在线签署")],
   ["employment"], levels=P + C6,
   cond="遵守宪法和法律，热爱教育事业，具有良好的思想品德，具备规定学历、通过国家教师资格考试并具有教育教学能力的中国公民。")
it("民办学校办学许可", LIC, "JY", "《中华人民共和国民办教育促进法》第十二条、第十七条",
   (90, 60), 2, "办学许可证 民办学校 办学校 民办幼儿园 开办学校",
   [sqb("民办学校正式设立申请书"), m("筹设批准书", C, 1, True, False), m("学校章程和首届学校理事会、董事会成员名单", O, 1, True, False),
    m("办学资产有效证明文件", C, 1, True, False), m("校长、教师、财会人员资格证明", C, 1, True, False)],
   ["company-start"], levels=C2,
   cond="举办者符合规定条件，办学场所、师资、资产等符合国家设置标准的民办学校。")
it("校外培训机构设立审批", LIC, "JY", "《中华人民共和国民办教育促进法》第十二条；《中共中央办公厅 国务院办公厅关于进一步减轻义务教育阶段学生作业负担和校外培训负担的意见》",
   (90, 60), 2, "培训机构 课外辅导 校外培训 非学科培训 办培训班 艺术培训",
   [sqb("校外培训机构设立申请表"), m("举办者资格证明", C, 1, True, True), m("培训场所使用证明及消防安全证明", C, 1, True, False),
    m("培训内容和教学计划", O, 1, True, False)],
   ["company-start"],
   cond="有与培训规模相适应的场所、师资和管理制度，场所符合安全、消防、卫生要求的校外培训机构举办者。")
it("学前教育幼儿资助", PAY, "JY", "《学生资助资金管理办法》（财教〔2021〕310号）",
   (30, 20), 3, "幼儿资助 学前资助 贫困学生 幼儿园资助 家庭困难学生",
   [sqb("学前教育资助申请表"), m("家庭经济困难证明", C, 1, False, False, "低保、特困等身份信息可数据共享")],
   ["school"],
   cond="在经审批设立的普惠性幼儿园就读的家庭经济困难儿童、孤儿和残疾儿童。")
it("普通高中国家助学金", PAY, "JY", "《学生资助资金管理办法》（财教〔2021〕310号）第二十二条",
   (30, 20), 3, "高中助学金 国家助学金 贫困生补助 高中资助",
   [sqb("普通高中国家助学金申请表"), m("家庭经济困难证明", C, 1, False, False, "低保、特困等身份信息可数据共享")],
   ["school"],
   cond="具有正式注册学籍的普通高中在校生中的家庭经济困难学生。")
it("中等职业教育免学费", PAY, "JY", "《学生资助资金管理办法》（财教〔2021〕310号）第三十三条",
   (30, 20), 3, "中职免学费 职校免学费 技校免费 中专免学费",
   [sqb("中等职业学校免学费申请表"), "HKB"],
   ["school"],
   cond="中等职业学校全日制正式学籍一、二、三年级在校生中的农村学生、城市涉农专业学生和家庭经济困难学生。")
it("公办幼儿园入园报名", SVC, "JY", "《幼儿园管理条例》第十一条",
   (0, 20), 4, "幼儿园报名 入园 上幼儿园 小班报名 公办园 托班",
   ["HKB", "CSZM", m("预防接种证", O, 1, True, False, "入园时查验"), "JZZ"],
   ["school"], levels=C2, ch=["app", "mini-program", "pc"],
   cond="年满三周岁的适龄幼儿，由监护人在规定时间内按片区网上报名。")
it("学籍证明开具", SVC, "JY", "《中小学生学籍管理办法》第四条",
   (0, 0), 3, "学籍证明 在读证明 学籍查询 学籍信息",
   ["SFZ", m("学生身份信息", E, 1, True, False)],
   ["school"], steps="instant",
   cond="在本市中小学就读或曾经就读的学生及其监护人，可申请开具学籍证明。")
it("适龄儿童少年延缓入学或休学审批", OTH, "JY", "《中华人民共和国义务教育法》第十一条",
   (10, 5), 2, "延缓入学 休学 推迟入学 缓学",
   [sqb("延缓入学（休学）申请表"), m("医疗机构诊断证明", O, 1, True, False), "HKB"],
   ["school"],
   cond="适龄儿童、少年因身体状况需要延缓入学或者休学的，由其父母或者其他法定监护人提出申请。")

# ---- 卫健 (WJ) -----------------------------------------------------------------------------

it("出生医学证明办理", SVC, "WJ", "《中华人民共和国母婴保健法》第二十三条",
   (0, 0), 3, "出生证 出生证明 出生医学证明 新生儿证明 出生证办理 出生证签发 出生证换发",
   [m("父母双方居民身份证", O, 2, True, True), m("新生儿住院分娩记录", E, 1, True, False, "由助产机构信息系统提供"),
    m("《出生医学证明》首次签发登记表", O, 1, True, False, "在助产机构填写")],
   ["birth"], steps="instant", levels=C2, ch=["app", "window"],
   cond="在本市助产机构内出生的新生儿，由其父母或监护人在出生后向助产机构申请首次签发；证件信息有误或破损的申请换发。")
it("出生医学证明补发", SVC, "WJ", "《中华人民共和国母婴保健法》第二十三条；《国家卫生计生委关于规范出生医学证明管理的通知》",
   (20, 15), 2, "出生证丢了 补出生证 出生证明补办 出生证遗失",
   [m("父母双方居民身份证", O, 2, True, True), m("遗失声明及情况说明", O, 1, True, False),
    m("原签发机构出具的出生信息证明", O, 1, True, False)],
   ["birth"],
   cond="《出生医学证明》遗失的，由新生儿父母或监护人向原签发机构所在地的县级卫生健康行政部门申请补发。")
it("生育登记", SVC, "WJ", "《中华人民共和国人口与计划生育法》第十八条；《江苏省人口与计划生育条例》第十九条",
   (0, 0), 4, "生育登记 准生证 生育服务证 怀孕登记 二孩 三孩 生育服务登记",
   [m("夫妻双方居民身份证", O, 2, True, True), "JHZN"],
   ["birth"], steps="instant", levels=C6, ch=["app", "mini-program", "pc", "window"],
   cond="夫妻生育子女的，在孕前或孕期、子女出生后均可在线办理生育登记，不设前置条件。")
it("新生儿出生一件事联办", SVC, "WJ", "《国务院关于进一步优化政务服务提升行政效能推动“高效办成一件事”的指导意见》（国发〔2024〕3号）",
   (0, 5), 4, "出生一件事 新生儿 出生证 落户 医保 社保卡 一次办 新生儿上户口",
   [m("父母双方居民身份证", O, 2, True, True), "HKB", "JHZN"],
   ["birth"], status="draft", ch=["app", "mini-program"],
   cond="新生儿父母可一次申请出生医学证明、预防接种证、户口登记、医保参保、社会保障卡申领等事项，一表申请、一网通办。")
it("医师执业注册", LIC, "WJ", "《中华人民共和国医师法》第十三条、第十四条",
   (20, 10), 4, "医师执业证 医生注册 执业注册 医师变更 多点执业",
   [sqb("医师执业注册申请审核表"), m("医师资格证书", C, 1, True, True), m("拟执业机构聘用证明", O, 1, True, False),
    m("6个月内的健康体检证明", O, 1, True, False)],
   ["employment"], levels=P + C2,
   cond="取得医师资格，拟在医疗、预防、保健机构中执业的人员；实行电子化注册。")
it("护士执业注册", LIC, "WJ", "《护士条例》第七条、第八条",
   (20, 10), 4, "护士执业证 护士注册 护士证 执业延续 护士变更",
   [sqb("护士执业注册申请审核表"), m("护士执业资格考试成绩合格证明", C, 1, True, False), m("学历证书", C, 1, True, False),
    m("健康体检证明", O, 1, True, False)],
   ["employment"], levels=C2,
   cond="具有完全民事行为能力，完成规定学制的护理专业学习，通过护士执业资格考试并符合健康标准的人员。")
it("医疗机构执业登记", LIC, "WJ", "《医疗机构管理条例》第十五条、第十六条",
   (45, 20), 3, "诊所 开诊所 医疗机构执业许可证 门诊部 口腔诊所 医院执业",
   [sqb("医疗机构申请执业登记注册书"), m("医疗机构用房产权证明或者使用证明", C, 1, True, False),
    m("医疗机构建筑设计平面图", O, 1, True, False), m("医疗技术人员名录及执业证书", C, 1, True, False),
    m("医疗机构规章制度", O, 1, True, False)],
   ["company-start"],
   cond="按照医疗机构基本标准具备场所、人员、设备等条件，能够独立承担民事责任的医疗机构。")
it("公共场所卫生许可", LIC, "WJ", "《公共场所卫生管理条例》第八条",
   (20, 5), 4, "卫生许可证 理发店 美容院 宾馆卫生许可 游泳馆 浴室 足浴",
   [sqb("公共场所卫生许可申请表"), "YYZZ", "PMT", m("卫生管理制度", O, 1, True, False), "CN"],
   ["company-start"], levels=C2,
   cond="宾馆、美容美发、游泳场所、沐浴场所等公共场所经营者，经营场所卫生条件符合国家卫生标准；实行告知承诺的可当场发证。")
it("母婴保健技术服务执业许可", LIC, "WJ", "《中华人民共和国母婴保健法》第三十二条、第三十三条",
   (20, 15), 2, "母婴保健 产前筛查 助产技术 婚前检查机构 结扎手术",
   [sqb("母婴保健技术服务执业许可申请登记表"), m("医疗机构执业许可证", C, 1, True, False),
    m("相关卫生技术人员资格证明", C, 1, True, False)],
   [],
   cond="开展婚前医学检查、助产技术、结扎手术和终止妊娠手术等母婴保健技术服务的医疗保健机构。")
it("放射诊疗许可", LIC, "WJ", "《放射诊疗管理规定》第十一条",
   (20, 15), 3, "放射诊疗 X光 CT 放射许可 牙片机",
   [sqb("放射诊疗许可申请表"), m("医疗机构执业许可证", C, 1, True, False), m("放射诊疗建设项目竣工验收合格证明", C, 1, True, False),
    m("放射诊疗设备清单及检测报告", C, 1, True, False)],
   [],
   cond="开展放射诊疗工作的医疗机构，具备相应的场所、设备、人员和防护条件。")
it("计划生育家庭特别扶助金", PAY, "WJ", "《中华人民共和国人口与计划生育法》第三十一条",
   (30, 20), 3, "特别扶助 失独 独生子女伤残 计生扶助 失独家庭",
   [sqb("计划生育家庭特别扶助对象申报表"), "SFZ", "HKB", m("独生子女死亡或伤残证明", C, 1, True, False)],
   ["elderly"],
   cond="独生子女死亡或伤残、未再生育或收养子女，女方年满49周岁的夫妻。")
it("农村部分计划生育家庭奖励扶助", PAY, "WJ", "《国务院办公厅转发人口计生委财政部关于开展对农村部分计划生育家庭实行奖励扶助制度试点工作意见的通知》（国办发〔2004〕21号）",
   (30, 20), 3, "计生奖励 奖励扶助 农村独生子女 计划生育奖励",
   [sqb("奖励扶助对象申报表"), "SFZ", "HKB"],
   ["elderly"],
   cond="本人及配偶均为农业户口或界定为农村居民户口，按政策只生育一个子女或两个女孩，年满60周岁的农村计划生育家庭夫妻。")
it("独生子女父母光荣证办理", SVC, "WJ", "《江苏省人口与计划生育条例》（2016年修正前）第二十六条",
   (0, 0), 1, "独生子女证 光荣证 独生子女父母光荣证",
   ["SFZ", "HKB"],
   ["birth"], steps="instant", status="retired",
   cond="全面两孩政策实施后，本省自2016年起不再办理独生子女父母光荣证。")
it("居民死亡医学证明（推断）书签发", SVC, "WJ", "《国家卫生计生委 公安部 民政部关于进一步规范人口死亡医学证明和信息登记管理工作的通知》（国卫规划发〔2013〕57号）",
   (0, 0), 1, "死亡证明 死亡医学证明 开死亡证明 去世证明 居家死亡",
   [m("死者居民身份证", O, 1, True, False), m("申报人居民身份证", O, 1, True, True),
    m("死者生前诊疗记录", C, 1, False, False, "在家中死亡的提供")],
   ["death"], steps="instant", ch=["window"],
   cond="在医疗卫生机构死亡的由该机构签发；在家中、养老机构等场所死亡的，由负责救治或正常死亡调查的医疗卫生机构签发。")
it("婚前医学检查", SVC, "WJ", "《中华人民共和国母婴保健法》第七条、第八条",
   (0, 5), 3, "婚检 婚前检查 免费婚检 孕前检查 优生检查",
   [m("双方居民身份证", O, 2, True, True), m("《婚前医学检查表》", O, 2, True, False, "在婚前保健机构现场填写")],
   ["marriage", "birth"], ch=["app", "window"],
   cond="准备结婚的男女双方，可自愿到婚前保健机构接受免费婚前医学检查。")
it("预防接种证办理", SVC, "WJ", "《中华人民共和国疫苗管理法》第四十七条",
   (0, 0), 3, "接种证 疫苗本 打疫苗 预防接种 新生儿疫苗 补办接种证",
   ["CSZM", m("监护人居民身份证", O, 1, True, True)],
   ["birth", "medical"], steps="instant",
   cond="儿童出生后一个月内，其监护人应当到儿童居住地承担预防接种工作的接种单位或者出生医院为其办理预防接种证。")

# ---- 自然资源和规划 (ZRZY) ------------------------------------------------------------------

it("国有建设用地使用权及房屋所有权首次登记", CONF, "ZRZY", "《不动产登记暂行条例》第三条、第十四条；《不动产登记暂行条例实施细则》第三十五条",
   (30, 5), 3, "不动产登记 首次登记 新房办证 房产证 不动产权证 大证 初始登记",
   [sqb("不动产登记申请书"), "YYZZ", m("国有建设用地使用权不动产权证书", O, 1, True, True),
    m("建设工程符合规划的材料及竣工材料", C, 1, True, False), m("房屋已经竣工的材料及房地产调查测绘报告", O, 1, True, False)],
   ["construction", "housing"], fee=(8000, FEE_BDC),
   cond="依法取得国有建设用地使用权并建造房屋、房屋已竣工验收的权利人。")
it("不动产转移登记", CONF, "ZRZY", "《中华人民共和国民法典》第二百零九条；《不动产登记暂行条例》第三条、第十四条",
   (30, 1), 4, "不动产登记 过户 二手房过户 房产过户 买卖过户 继承过户 赠与过户 房产证",
   [m("买卖双方居民身份证", O, 2, True, True), "BDC", m("存量房买卖合同", O, 1, True, False),
    m("完税凭证", E, 1, True, False, "通过税务信息共享获取"), m("婚姻状况证明", O, 1, False, True, "可通过民政信息共享核验")],
   ["housing"], fee=(8000, FEE_BDC), levels=C4, ch=["app", "mini-program", "pc", "window"],
   cond="因买卖、互换、赠与、继承、受遗赠等导致不动产权利转移的；二手房交易、缴税、登记“一窗受理、并行办理”。")
it("不动产抵押权登记", CONF, "ZRZY", "《中华人民共和国民法典》第四百零二条；《不动产登记暂行条例》第三条",
   (30, 1), 4, "不动产抵押 房贷抵押 抵押登记 房产抵押 抵押权注销 解押",
   ["BDC", m("主债权合同和抵押合同", O, 1, True, False), m("抵押人、抵押权人身份证明", C, 1, True, True)],
   ["housing"], fee=(8000, FEE_BDC), ch=["app", "pc", "window"],
   cond="以不动产设定抵押的，抵押人和抵押权人应当共同申请抵押权登记；银行业金融机构可通过“不动产登记+金融服务”在线申请。")
it("不动产变更登记", CONF, "ZRZY", "《不动产登记暂行条例》第三条；《不动产登记暂行条例实施细则》第二十六条",
   (30, 3), 4, "不动产变更 房产证改名 地址变更 不动产信息变更 身份证号变更",
   ["BDC", "SFZ", m("变更事项的证明材料", C, 1, True, False)],
   ["housing"],
   cond="权利人的姓名或者名称、身份证明类型或者号码、不动产坐落、界址、用途、面积等发生变更的。")
it("不动产注销登记", CONF, "ZRZY", "《不动产登记暂行条例实施细则》第二十八条",
   (30, 3), 3, "不动产注销 房屋灭失 注销登记 拆迁注销",
   ["BDC", "SFZ", m("不动产灭失或权利消灭的证明材料", C, 1, True, False)],
   ["housing"],
   cond="不动产灭失、权利人放弃不动产权利、不动产被依法没收或征收等导致不动产权利消灭的。")
it("不动产预告登记", CONF, "ZRZY", "《中华人民共和国民法典》第二百二十一条；《不动产登记暂行条例实施细则》第八十五条",
   (30, 3), 4, "预告登记 期房登记 预购商品房 预抵押 网签预告",
   [m("已备案的商品房预售合同", O, 1, True, False), "SFZ", m("预抵押合同", O, 1, False, False, "办理预购商品房抵押预告登记时提供")],
   ["housing"],
   cond="预购商品房、以预购商品房设定抵押权等情形，当事人可以按照约定申请预告登记。")
it("不动产登记资料查询", SVC, "ZRZY", "《不动产登记资料查询暂行办法》第三条、第十六条",
   (0, 0), 4, "查房产 房产查询 不动产查询 无房证明 有房证明 产权查询 房产信息",
   ["SFZ", m("查询目的说明", E, 1, False, False, "利害关系人查询时提供")],
   ["housing"], steps="instant", ch=["app", "mini-program", "pc", "window", "self-service"],
   cond="不动产权利人、利害关系人可以依法查询、复制不动产登记资料；本人名下不动产信息可在线查询并打印证明。")
it("不动产权证书补发换发", CONF, "ZRZY", "《不动产登记暂行条例实施细则》第二十二条",
   (30, 10), 3, "房产证丢了 补房产证 换证 不动产证补办 土地证换证 房产证破损",
   ["SFZ", m("遗失声明", E, 1, False, False, "补发时在门户网站公告15个工作日"), m("原不动产权证书", O, 1, False, False, "换发时交回")],
   ["housing"], fee=(1000, FEE_BDCZS),
   cond="不动产权属证书或者不动产登记证明遗失、灭失的申请补发，破损、污损或填制错误的申请换发。")
it("建设用地规划许可证核发", LIC, "ZRZY", "《中华人民共和国城乡规划法》第三十七条、第三十八条",
   (20, 5), 4, "用地规划许可 建设用地规划许可证 规划许可 土地出让 拿地即开工",
   [sqb("建设用地规划许可申请表"), "YYZZ", m("国有建设用地使用权出让合同或划拨决定书", C, 1, True, False),
    m("建设项目批准、核准、备案文件", C, 1, True, False)],
   ["construction"], levels=C4, ch=["app", "pc", "window"],
   cond="在城市、镇规划区内以划拨或出让方式取得国有土地使用权的建设项目，建设单位申请建设用地规划许可证。")
it("建设工程规划许可证核发", LIC, "ZRZY", "《中华人民共和国城乡规划法》第四十条",
   (20, 5), 4, "工程规划许可证 规划许可 建设工程规划 规划证 报建 方案审查",
   [sqb("建设工程规划许可申请表"), "YYZZ", m("使用土地的有关证明文件", C, 1, True, True),
    m("建设工程设计方案", O, 1, True, False), m("建设工程设计方案审查意见", C, 1, False, False)],
   ["construction"], levels=C4, ch=["app", "pc", "window"],
   cond="在城市、镇规划区内进行建筑物、构筑物、道路、管线和其他工程建设的，建设单位或者个人申请建设工程规划许可证。")
it("乡村建设规划许可证核发", LIC, "ZRZY", "《中华人民共和国城乡规划法》第四十一条",
   (20, 10), 3, "乡村规划许可 农房建设 农村建房 宅基地建房 乡村建设",
   [sqb("乡村建设规划许可申请表"), "SFZ", m("村民委员会意见", O, 1, True, False), m("建设工程设计图", O, 1, True, False)],
   ["construction", "housing"], levels=C4,
   cond="在乡、村庄规划区内进行乡镇企业、乡村公共设施和公益事业建设以及农村村民住宅建设的。")
it("建设项目用地预审与选址意见书核发", LIC, "ZRZY", "《中华人民共和国土地管理法》第五十二条；《中华人民共和国城乡规划法》第三十六条",
   (20, 10), 3, "用地预审 选址意见书 项目选址 多审合一 用地审批",
   [sqb("建设项目用地预审与选址申请表"), m("建设项目用地预审与选址申请报告", O, 1, True, False),
    m("标注项目用地范围的土地利用总体规划图", O, 1, True, False)],
   ["construction"], levels=P,
   cond="以划拨方式提供国有土地使用权的建设项目，以及需办理用地预审的建设项目，在审批、核准阶段申请。")
it("建设工程规划核实", OTH, "ZRZY", "《中华人民共和国城乡规划法》第四十五条",
   (20, 5), 4, "规划核实 规划验收 竣工规划 多测合一 竣工验收",
   [sqb("建设工程规划核实申请表"), m("建设工程规划许可证及附件", C, 1, True, False), m("竣工测量成果报告", O, 1, True, False)],
   ["construction"],
   cond="建设工程竣工后，建设单位申请对其是否符合规划条件予以核实，纳入竣工联合验收。")
it("临时用地审批", LIC, "ZRZY", "《中华人民共和国土地管理法》第五十七条",
   (20, 10), 3, "临时用地 施工用地 临时占地 工棚用地",
   [sqb("临时用地申请表"), m("临时使用土地合同", O, 1, True, False), m("土地复垦方案报告表", O, 1, True, False)],
   ["construction"],
   cond="建设项目施工、地质勘查需要临时使用国有土地或者农民集体所有土地的，使用期限一般不超过二年。")
it("林木采伐许可证核发", LIC, "ZRZY", "《中华人民共和国森林法》第五十六条",
   (20, 5), 4, "采伐证 砍树 林木采伐 伐树审批 林木采伐许可",
   [sqb("林木采伐申请表"), m("林木权属证明", C, 1, True, False), m("采伐作业设计或采伐目的说明", O, 1, True, False)],
   [],
   cond="采伐林地上的林木，采伐类型、方式、强度等符合森林采伐限额和技术规程的。")
it("土地权属争议行政裁决", ADJ, "ZRZY", "《中华人民共和国土地管理法》第十四条",
   (120, 90), 2, "土地纠纷 权属争议 土地确权 边界纠纷 宅基地纠纷",
   [m("土地权属争议调查处理申请书", O, 1, True, False), "SFZ", m("争议土地的权属证明及相关证据", C, 1, True, False)],
   [],
   cond="土地所有权和使用权争议，由当事人协商解决；协商不成的，可以申请人民政府处理。")
it("林木林地权属争议行政裁决", ADJ, "ZRZY", "《中华人民共和国森林法》第二十二条",
   (120, 90), 2, "林权纠纷 林地争议 山林纠纷 林木纠纷",
   [m("林木林地权属争议处理申请书", O, 1, True, False), "SFZ", m("林权证明及相关证据", C, 1, True, False)],
   [],
   cond="单位之间、个人之间、个人与单位之间发生的林木、林地所有权和使用权争议，协商不成的。")

# ---- 税务 (SW) -----------------------------------------------------------------------------

it("新办纳税人“套餐式”服务", SVC, "SW", "《中华人民共和国税收征收管理法》第十五条；《国家税务总局关于推行新办纳税人“套餐式”服务的通知》",
   (0, 0), 4, "新办企业 税务登记 发票申领 税控 报到 新办纳税人 企业开办 税务报到",
   ["YYZZ", "FR", m("经办人身份证件", C, 1, True, True)],
   ["company-start", "tax"], steps="instant", ch=["app", "pc", "window"],
   cond="新设立登记的纳税人，可一次性办理登记信息确认、财务会计制度备案、税费种认定、发票领用、实名办税等事项。")
it("发票领用", SVC, "SW", "《中华人民共和国发票管理办法》第十五条",
   (0, 0), 4, "领发票 申领发票 发票 数电票 开票 增值税发票 电子发票 发票领购",
   ["YYZZ", m("经办人身份证件", C, 1, True, True)],
   ["tax"], steps="instant", ch=["app", "pc", "window", "self-service", "express"],
   cond="依法办理税务登记的单位和个人，在领取营业执照后可申请领用发票；全面数字化的电子发票无需领用，按授信额度开具。")
it("增值税专用发票最高开票限额审批", LIC, "SW", "《国务院对确需保留的行政审批项目设定行政许可的决定》第236项；《税务行政许可实施办法》第四条",
   (20, 1), 4, "开票限额 专票限额 最高开票限额 百万版 十万版",
   [sqb("税务行政许可申请表"), m("增值税专用发票最高开票限额申请单", O, 1, True, False)],
   ["tax"], ch=["app", "pc", "window"],
   cond="已办理增值税一般纳税人登记或选择自行开具专用发票的小规模纳税人，根据实际经营需要申请调整最高开票限额。")
it("增值税一般纳税人登记", OTH, "SW", "《中华人民共和国增值税暂行条例》第十三条；《增值税一般纳税人登记管理办法》第二条",
   (0, 0), 4, "一般纳税人 小规模转一般 一般纳税人认定 一般纳税人资格",
   [m("增值税一般纳税人登记表", E, 1, True, False, "在线填报"), "YYZZ"],
   ["tax"], steps="instant", ch=["app", "pc", "window"],
   cond="年应税销售额超过规定标准的纳税人应当办理一般纳税人登记；未超过标准但会计核算健全的可以申请登记。")
it("跨区域涉税事项报告", OTH, "SW", "《国家税务总局关于创新跨区域涉税事项报验管理制度的通知》（税总发〔2017〕103号）",
   (0, 0), 4, "外经证 跨区域报验 外出经营 跨区域涉税 异地施工",
   [m("跨区域涉税事项报告表", E, 1, True, False, "在线填报"), m("外出经营合同", C, 1, False, False)],
   ["tax", "construction"], steps="instant", ch=["app", "pc", "window"],
   cond="纳税人跨省（自治区、直辖市和计划单列市）临时从事生产经营活动的，向机构所在地税务机关填报。")
it("开具税收完税证明", SVC, "SW", "《税收票证管理办法》（国家税务总局令第28号）第二十三条",
   (0, 0), 4, "完税证明 纳税证明 个税证明 纳税记录 开具证明 个人所得税纳税记录",
   ["SFZ", m("税收完税证明开具申请", E, 1, True, False, "在线选择税款所属期")],
   ["tax"], steps="instant", ch=["app", "pc", "window", "self-service"],
   cond="纳税人已缴纳税款，需要证明其纳税情况的，可以申请开具税收完税证明或个人所得税纳税记录。")
it("个人所得税综合所得汇算清缴", LEVY, "SW", "《中华人民共和国个人所得税法》第十条、第十一条",
   (0, 0), 4, "个税汇算 个税退税 个人所得税 年度汇算 退税 专项附加扣除 个税APP",
   [m("个人所得税年度汇算申报表", E, 1, True, False, "通过个人所得税APP填报"), m("专项附加扣除信息", E, 1, False, False)],
   ["tax", "employment"], steps="levy", ch=["app", "pc", "window"],
   cond="取得综合所得的居民个人，需要补税或申请退税的，在取得所得的次年3月1日至6月30日内办理汇算清缴。")
it("契税申报", LEVY, "SW", "《中华人民共和国契税法》第九条、第十条",
   (0, 0), 4, "契税 买房交税 房产税费 购房契税 首套房契税",
   ["SFZ", m("不动产权属转移合同", O, 1, True, False), m("家庭住房情况查询结果", E, 1, False, False, "享受首套、二套优惠时通过信息共享核验")],
   ["housing", "tax"], steps="levy", ch=["app", "pc", "window"],
   cond="在本市境内转移土地、房屋权属的承受单位和个人，在依法办理不动产权属登记手续前申报缴纳契税。")
it("车船税缴纳", LEVY, "SW", "《中华人民共和国车船税法》第一条、第八条",
   (0, 0), 3, "车船税 车辆税 交车船税 汽车税 交强险代收",
   ["XSZ", m("车船税完税或减免税证明", C, 1, False, False, "已在保险公司代收的免交")],
   ["travel", "tax"], steps="levy",
   cond="在中华人民共和国境内属于车船税法所附税目税额表规定的车辆、船舶的所有人或者管理人；一般由保险机构在收取交强险时代收代缴。")
it("城乡居民基本医疗保险费缴纳", LEVY, "SW", "《中华人民共和国社会保险法》第二十五条、第六十条",
   (0, 0), 4, "交医保 居民医保缴费 医保缴费 城乡医保 学生医保缴费 微信交医保",
   ["SFZ", m("缴费人参保信息", E, 1, True, False, "由医保部门参保登记信息推送")],
   ["medical"], steps="levy", ch=["app", "mini-program", "pc", "window"],
   cond="已参加本市城乡居民基本医疗保险的人员，在集中缴费期内按年度缴纳下一年度医保费。")
it("灵活就业人员社会保险费申报缴纳", LEVY, "SW", "《中华人民共和国社会保险法》第十条、第二十三条、第六十条",
   (0, 0), 4, "灵活就业社保 个人交社保 自由职业社保 个体社保 交养老保险",
   ["SFZ", m("银行扣款账户信息", C, 1, True, False)],
   ["social-insurance", "employment"], steps="levy", ch=["app", "mini-program", "pc", "window"],
   cond="无雇工的个体工商户、未在用人单位参加社会保险的非全日制从业人员以及其他灵活就业人员，按规定申报缴纳社会保险费。")
it("清税申报", OTH, "SW", "《中华人民共和国税收征收管理法》第十六条；《中华人民共和国税收征收管理法实施细则》第十五条",
   (0, 0), 4, "清税证明 税务注销 注销税务 税务清算 公司注销 即办注销",
   [m("清税申报表", E, 1, True, False, "在线填报"), "YYZZ"],
   ["company-close", "tax"], steps="instant", ch=["app", "pc", "window"],
   cond="纳税人办理注销登记前，结清应纳税款、滞纳金、罚款，缴销发票；未领用发票、无欠税的纳税人可即时出具清税文书。")
it("对检举税收违法行为的奖励", REW, "SW", "《中华人民共和国税收征收管理法》第十三条；《检举纳税人税收违法行为奖励暂行办法》第二条",
   (60, 30), 3, "税收举报 偷税举报 检举奖励 举报奖励 12366举报",
   [m("检举人身份证件", C, 1, True, True), m("奖励领取申请", O, 1, True, False)],
   [],
   cond="检举人实名检举纳税人税收违法行为，经查证属实、税款已经查补入库的。")
it("个体工商户定期定额核定", CONF, "SW", "《中华人民共和国税收征收管理法实施细则》第四十七条；《个体工商户税收定期定额征收管理办法》第六条",
   (20, 10), 3, "定期定额 定额核定 个体户交税 个体税收 核定征收",
   ["YYZZ", m("定期定额户自报核定表", O, 1, True, False)],
   ["tax"],
   cond="生产、经营规模小，达不到设置账簿标准，难以查账征收的个体工商户。")
it("残疾人就业保障金申报", LEVY, "SW", "《残疾人就业条例》第九条；《残疾人就业保障金征收使用管理办法》（财税〔2015〕72号）",
   (0, 0), 4, "残保金 残疾人保障金 残疾人就业保障金 安置残疾人",
   [m("残疾人就业保障金缴费申报表", E, 1, True, False, "在线填报"), m("安排残疾人就业情况", E, 1, False, False)],
   ["tax"], steps="levy", ch=["app", "pc", "window"],
   cond="安排残疾人就业未达到规定比例的机关、团体、企业、事业单位和民办非企业单位；在职职工30人（含）以下的小微企业暂免征收。")
it("代开增值税发票", SVC, "SW", "《中华人民共和国发票管理办法》第十六条",
   (0, 0), 4, "代开发票 个人开发票 临时开票 自然人代开 劳务费发票",
   ["SFZ", m("付款方对款项开具内容的确认证明或合同", C, 1, True, False)],
   ["tax"], steps="instant", ch=["app", "pc", "window", "self-service"],
   cond="需要临时使用发票的单位和个人，可以凭购销商品、提供或者接受服务以及从事其他经营活动的书面证明申请代开。")

# ---- 交通运输 (JT) -------------------------------------------------------------------------

it("道路旅客运输经营许可", LIC, "JT", "《中华人民共和国道路运输条例》第八条、第十条",
   (20, 10), 3, "客运许可 客运经营 班车 包车客运 旅游客运 客运公司",
   [sqb("道路旅客运输经营申请表"), "YYZZ", m("拟投入车辆承诺书", O, 1, True, False),
    m("驾驶人员从业资格证", C, 1, True, False), m("安全生产管理制度文本", O, 1, True, False)],
   ["company-start"],
   cond="有与其经营业务相适应并经检测合格的车辆，有符合规定条件的驾驶人员和健全的安全生产管理制度。")
it("道路货物运输经营许可", LIC, "JT", "《中华人民共和国道路运输条例》第二十一条、第二十四条",
   (20, 5), 4, "货运许可 道路运输许可证 货运公司 物流 运输证 拉货 货车",
   [sqb("道路货物运输经营申请表"), "YYZZ", m("拟投入车辆承诺书", O, 1, True, False), m("驾驶人员从业资格证", C, 1, True, False)],
   ["company-start"], ch=["app", "pc", "window"],
   cond="使用总质量4500千克以上普通货运车辆从事经营的，有与其经营业务相适应的车辆、驾驶人员和安全生产管理制度；4500千克及以下的无需办理。")
it("道路运输从业人员从业资格证件核发", LIC, "JT", "《中华人民共和国道路运输条例》第九条、第二十二条",
   (10, 5), 4, "从业资格证 货运资格证 客运资格证 司机资格证 运输资格 网上考试",
   ["SFZ", "JSZ", sqb("道路运输从业人员从业资格考试申请表")],
   ["employment"], ch=["app", "pc", "window"],
   cond="取得相应机动车驾驶证，年龄、驾龄符合规定，近三年内无重大以上交通责任事故，经考试合格的驾驶人员。")
it("网络预约出租汽车驾驶员证核发", LIC, "JT", "《网络预约出租汽车经营服务管理暂行办法》第十四条、第十五条",
   (10, 5), 3, "网约车驾驶证 网约车司机 滴滴司机 网约车资格证 人证 开网约车",
   ["SFZ", "JSZ", sqb("网络预约出租汽车驾驶员从业资格申请表"), m("无犯罪记录证明", E, 1, True, False, "通过公安信息共享核查")],
   ["employment"],
   cond="取得相应准驾车型机动车驾驶证并具有3年以上驾驶经历，无交通肇事犯罪、危险驾驶犯罪记录，无吸毒、暴力犯罪记录，经考试合格的驾驶员。")
it("网络预约出租汽车运输证核发", LIC, "JT", "《网络预约出租汽车经营服务管理暂行办法》第十二条、第十三条",
   (10, 5), 3, "网约车运输证 车证 网约车车辆 双证 网约车备案",
   ["XSZ", sqb("网络预约出租汽车运输证申请表"), m("车辆卫星定位装置和应急报警装置安装证明", O, 1, True, False),
    m("网约车平台公司出具的接入证明", O, 1, True, False)],
   ["employment"],
   cond="7座及以下乘用车，车辆使用性质登记为预约出租客运，安装具有行驶记录功能的车辆卫星定位装置和应急报警装置，车辆技术性能符合运营安全相关标准。")
it("网络预约出租汽车经营许可", LIC, "JT", "《网络预约出租汽车经营服务管理暂行办法》第五条、第六条、第七条",
   (20, 15), 2, "网约车平台 网约车经营许可 网约车公司",
   [sqb("网络预约出租汽车经营申请表"), "YYZZ", m("线上服务能力认定结果", C, 1, True, False),
    m("服务所在地办公场所证明", C, 1, True, False), m("服务质量保障和安全生产管理制度", O, 1, True, False)],
   ["company-start"],
   cond="具有企业法人资格，具备开展网约车经营的互联网平台和线上线下服务能力，在服务所在地有相应服务机构的企业。")
it("巡游出租汽车车辆经营权许可", LIC, "JT", "《巡游出租汽车经营服务管理规定》第八条、第十三条",
   (20, 10), 2, "出租车运营证 出租车 的士 巡游出租车 出租车经营权",
   [sqb("巡游出租汽车经营申请表"), "YYZZ", m("车辆经营权配置文件", C, 1, True, False), m("投入运营车辆承诺书", O, 1, True, False)],
   [],
   cond="通过服务质量招投标等方式取得巡游出租汽车车辆经营权，车辆和驾驶员符合规定条件的经营者。")
it("机动车维修经营备案", OTH, "JT", "《中华人民共和国道路运输条例》第四十条",
   (0, 0), 4, "汽修备案 修车厂 汽车维修 维修备案 洗车 快修店 汽修店",
   [sqb("机动车维修经营备案表"), "YYZZ", m("维修设备设施清单", O, 1, True, False), m("技术人员从业资格证明", C, 1, True, False)],
   ["company-start"], steps="record", ch=["app", "pc", "window"],
   cond="从事机动车维修经营的，应当在依法向市场监督管理部门办理有关登记手续后，向所在地县级道路运输管理机构备案。")
it("机动车驾驶员培训经营备案", OTH, "JT", "《中华人民共和国道路运输条例》第四十条；《机动车驾驶员培训管理规定》第十二条",
   (0, 0), 4, "驾校备案 驾驶培训 开驾校 驾培备案",
   [sqb("机动车驾驶员培训备案表"), "YYZZ", m("教练场地使用证明", C, 1, True, False), m("教练员和教学车辆情况", O, 1, True, False)],
   ["company-start"], steps="record",
   cond="从事机动车驾驶员培训业务的，应当在依法办理有关登记手续后，向所在地县级道路运输管理机构备案。")
it("公路超限运输许可", LIC, "JT", "《中华人民共和国公路法》第五十条；《超限运输车辆行驶公路管理规定》第七条",
   (15, 5), 4, "超限运输 大件运输 超限许可 超重 超宽 大件许可",
   [sqb("公路超限运输申请表"), "XSZ", m("车货总体外廓尺寸信息图", O, 1, True, False), m("货物说明书及护送方案", O, 1, False, False)],
   [], levels=P, ch=["app", "pc", "window"],
   cond="载运不可解体物品、车货总体外廓尺寸或者总质量超过规定限定标准，需要在公路上行驶的。")
it("涉路施工许可", LIC, "JT", "《中华人民共和国公路法》第四十四条、第四十五条；《公路安全保护条例》第二十七条",
   (20, 10), 3, "涉路施工 占用公路 挖掘公路 公路施工许可 跨越公路 管线穿越公路",
   [sqb("涉路施工许可申请书"), m("设计和施工方案", O, 1, True, False), m("保障公路、公路附属设施质量和安全的技术评价报告", O, 1, True, False),
    m("处置施工险情和意外事故的应急方案", O, 1, True, False)],
   ["construction"],
   cond="因修建铁路、机场、供电、通信、水利等建设工程需要占用、挖掘公路，或者跨越、穿越公路架设、埋设管线等设施的。")
it("港口经营许可", LIC, "JT", "《中华人民共和国港口法》第二十二条；《港口经营管理规定》第七条",
   (30, 15), 3, "港口经营 码头经营 港口许可 连云港港 装卸 仓储",
   [sqb("港口经营许可申请书"), "YYZZ", m("港口设施、装卸设备证明", C, 1, True, False),
    m("安全生产管理制度和应急预案", O, 1, True, False), m("管理人员和专业技术人员资质证明", C, 1, True, False)],
   ["company-start"],
   cond="有固定的经营场所，有与经营范围、规模相适应的港口设施、设备和专业技术人员、管理人员，有健全的安全生产管理制度的港口经营人。")
it("老年人乘车优惠卡办理", SVC, "JT", "《中华人民共和国老年人权益保障法》第五十八条",
   (0, 0), 3, "老年卡 公交卡 老年人免费乘车 敬老卡 爱心卡 65岁免费坐公交",
   ["SFZ", m("近期免冠照片", O, 1, False, False, "可现场拍摄"), m("社会保障卡", O, 1, False, True, "可加载老年乘车功能")],
   ["elderly", "travel"], steps="instant", ch=["app", "window"],
   cond="年满65周岁的本市户籍老年人及持有本市居住证的常住老年人，可免费乘坐本市城市公交。")

# ---- 住建 (ZJ) -----------------------------------------------------------------------------

it("建筑工程施工许可证核发", LIC, "ZJ", "《中华人民共和国建筑法》第七条、第八条；《建筑工程施工许可管理办法》第二条",
   (7, 1), 4, "施工许可证 施工许可 开工许可 报建 工程开工 施工证",
   [sqb("建筑工程施工许可申请表"), m("建设工程规划许可证", C, 1, True, True, "可通过工程建设项目审批管理系统共享"),
    m("中标通知书及施工合同", C, 1, True, False), m("建设资金已落实承诺书", O, 1, True, False),
    m("施工图设计文件审查合格书", E, 1, False, False, "实行告知承诺的可容缺")],
   ["construction"], levels=C6, ch=["app", "pc", "window"],
   cond="工程投资额在30万元以上或者建筑面积在300平方米以上的建筑工程，已办理用地、规划手续，已确定施工企业，有满足施工需要的资金安排、施工图纸及技术资料。")
it("商品房预售许可", LIC, "ZJ", "《中华人民共和国城市房地产管理法》第四十五条；《城市商品房预售管理办法》第七条",
   (10, 5), 3, "预售证 商品房预售 预售许可证 楼盘开盘 卖期房",
   [sqb("商品房预售许可申请表"), "YYZZ", m("土地使用权证书", C, 1, True, True), m("建设工程规划许可证和施工许可证", C, 1, True, True),
    m("工程施工进度证明及预售方案", O, 1, True, False)],
   ["construction", "housing"], levels=C2,
   cond="已交付全部土地使用权出让金、取得土地使用权证书，持有建设工程规划许可证和施工许可证，投入开发建设的资金达到工程建设总投资的25%以上并已确定施工进度和竣工交付日期的。")
it("建筑业企业资质核准", LIC, "ZJ", "《中华人民共和国建筑法》第十三条；《建筑业企业资质管理规定》第三条",
   (20, 10), 4, "建筑资质 施工资质 总承包资质 专业承包 资质证书 资质升级",
   [sqb("建筑业企业资质申请表"), "YYZZ", m("企业主要人员证明材料", C, 1, True, False), m("企业业绩证明材料", C, 1, False, False)],
   ["construction"], levels=P, ch=["app", "pc", "window"],
   cond="从事建筑工程施工的企业，具备相应资质标准规定的资产、主要人员、已完成工程业绩和技术装备等条件。")
it("房地产开发企业资质核定", LIC, "ZJ", "《中华人民共和国城市房地产管理法》第三十条；《房地产开发企业资质管理规定》第三条",
   (20, 10), 4, "房地产资质 开发资质 房企资质 二级资质 开发商资质",
   [sqb("房地产开发企业资质申请表"), "YYZZ", m("专业管理人员证明", C, 1, True, False), m("质量保证和质量管理制度", O, 1, True, False)],
   ["construction"], levels=P,
   cond="从事房地产开发经营的企业，有符合规定的注册资本、专业管理人员和质量管理制度。")
it("建设工程消防设计审查", LIC, "ZJ", "《中华人民共和国消防法》第十一条；《建设工程消防设计审查验收管理暂行规定》第十五条",
   (15, 10), 4, "消防审查 消防设计 消防报建 图审 消防审图",
   [sqb("消防设计审查申请表"), m("消防设计文件", O, 1, True, False), m("依法需要办理建设工程规划许可的批准文件", C, 1, True, True)],
   ["construction"], levels=C2, ch=["app", "pc", "window"],
   cond="对特殊建设工程实行消防设计审查制度，建设单位在施工前申请，设计文件符合国家工程建设消防技术标准。")
it("建设工程消防验收", LIC, "ZJ", "《中华人民共和国消防法》第十三条",
   (15, 10), 4, "消防验收 消防竣工 消防合格 联合验收",
   [sqb("消防验收申请表"), m("工程竣工验收报告", O, 1, True, False), m("涉及消防的建设工程竣工图纸", O, 1, True, False)],
   ["construction"], levels=C2, ch=["app", "pc", "window"],
   cond="特殊建设工程竣工验收后，建设单位申请消防验收；纳入工程建设项目竣工联合验收。")
it("建设工程消防验收备案", OTH, "ZJ", "《中华人民共和国消防法》第十三条；《建设工程消防设计审查验收管理暂行规定》第三十四条",
   (0, 0), 4, "消防备案 竣工验收消防备案 装修消防备案",
   [sqb("消防验收备案表"), m("工程竣工验收报告", O, 1, True, False), m("涉及消防的建设工程竣工图纸", O, 1, True, False)],
   ["construction"], steps="record", ch=["app", "pc", "window"],
   cond="其他建设工程竣工验收合格之日起五个工作日内，建设单位应当报住房和城乡建设主管部门备案。")
it("建设工程竣工验收备案", OTH, "ZJ", "《建设工程质量管理条例》第四十九条",
   (15, 5), 4, "竣工备案 竣工验收 联合验收 竣工验收备案",
   [sqb("房屋建筑和市政基础设施工程竣工验收备案表"), m("工程竣工验收报告", O, 1, True, False),
    m("施工单位签署的工程质量保修书", O, 1, True, False)],
   ["construction"],
   cond="建设单位应当自建设工程竣工验收合格之日起15日内，将竣工验收报告和规划、消防等部门出具的认可文件报建设行政主管部门备案。")
it("建设工程质量安全监督登记", OTH, "ZJ", "《建设工程质量管理条例》第十三条；《建设工程安全生产管理条例》第十条",
   (0, 0), 4, "质量监督 安全监督 质监手续 安监手续 质安监",
   [sqb("建设工程质量安全监督登记表"), m("施工图设计文件审查合格书", E, 1, True, False), m("施工、监理合同", C, 1, True, False)],
   ["construction"], steps="instant", ch=["app", "pc", "window"],
   cond="建设单位在领取施工许可证前，应当按照国家有关规定办理工程质量、安全监督手续，可与施工许可合并办理。")
it("燃气经营许可证核发", LIC, "ZJ", "《城镇燃气管理条例》第十五条",
   (20, 10), 3, "燃气经营 液化气 天然气经营 燃气许可证 瓶装燃气",
   [sqb("燃气经营许可申请书"), "YYZZ", m("燃气设施、气源证明", C, 1, True, False), m("企业主要负责人、安全管理人员考核合格证明", C, 1, True, False),
    m("安全管理制度和应急预案", O, 1, True, False)],
   [],
   cond="符合燃气发展规划要求，有符合国家标准的燃气气源和燃气设施，有固定的经营场所、完善的安全管理制度和健全的经营方案。")
it("城镇污水排入排水管网许可", LIC, "ZJ", "《城镇排水与污水处理条例》第二十一条",
   (15, 5), 4, "排水许可 排水证 污水排放 排水管网 餐饮排水 洗车排水",
   [sqb("城镇污水排入排水管网许可申请表"), "YYZZ", m("排水口位置和管网图", O, 1, True, False), "CN"],
   ["company-start", "construction"], ch=["app", "pc", "window"],
   cond="从事工业、建筑、餐饮、医疗等活动的企业事业单位、个体工商户向城镇排水设施排放污水的，排放水质符合国家和地方标准。")
it("公共租赁住房保障资格审核", PAY, "ZJ", "《公共租赁住房管理办法》第七条、第九条",
   (30, 20), 3, "公租房 廉租房 保障房 住房困难 人才公寓 申请公租房",
   ["SFZ", "HKB", m("家庭收入和住房状况申报材料", O, 1, True, False), m("家庭经济状况核对授权书", O, 1, True, False)],
   ["housing"], ch=["app", "mini-program", "window"],
   cond="在本市无住房或者住房面积低于规定标准，收入、财产低于规定标准的城镇中等偏下收入住房困难家庭、新就业无房职工和外来务工人员。")
it("住房租赁补贴申请", PAY, "ZJ", "《住房城乡建设部 财政部 国家发展改革委关于公共租赁住房和廉租住房并轨运行的通知》（建保〔2013〕178号）",
   (30, 20), 3, "租房补贴 租赁补贴 住房补贴 住房保障补贴",
   ["SFZ", "HKB", m("房屋租赁合同", C, 1, True, False), m("家庭经济状况核对授权书", O, 1, True, False)],
   ["housing"],
   cond="符合公共租赁住房保障条件、自行在市场租赁住房的城镇低收入住房困难家庭。")
it("商品房买卖合同网签备案", OTH, "ZJ", "《中华人民共和国城市房地产管理法》第四十五条；《商品房销售管理办法》第十条",
   (0, 0), 4, "网签 合同备案 购房合同 网签备案 买房备案 存量房网签",
   ["SFZ", m("商品房买卖合同", E, 1, True, False, "通过网签系统在线签订")],
   ["housing"], steps="instant", ch=["app", "pc", "window"],
   cond="房地产开发企业与购房人签订商品房买卖合同后，通过房屋网签备案系统办理合同网签备案。")
it("房屋租赁登记备案", OTH, "ZJ", "《中华人民共和国城市房地产管理法》第五十四条；《商品房屋租赁管理办法》第十四条",
   (0, 0), 4, "租赁备案 租房备案 房屋租赁 租赁合同备案 租房提取公积金",
   ["SFZ", "BDC", m("房屋租赁合同", O, 1, True, False)],
   ["housing"], steps="instant", ch=["app", "mini-program", "pc", "window"],
   cond="房屋租赁合同订立后三十日内，房屋租赁当事人应当到租赁房屋所在地房产管理部门办理登记备案。")

# ---- 司法 (SF) -----------------------------------------------------------------------------

it("法律援助申请", SVC, "SF", "《中华人民共和国法律援助法》第三十一条、第四十三条",
   (7, 3), 4, "法律援助 免费律师 请律师 法援 打官司 讨薪 12348",
   ["SFZ", m("经济困难状况说明表", O, 1, True, False, "个人诚信承诺，特定群体免予核查"),
    m("与所申请法律援助事项有关的材料", C, 1, True, False)],
   ["employment"], ch=["app", "mini-program", "pc", "window"],
   cond="因经济困难没有委托代理人，就依法请求给予社会保险待遇、劳动报酬、工伤赔偿、赡养费等事项申请法律援助的公民。")
it("律师执业许可", LIC, "SF", "《中华人民共和国律师法》第五条、第六条",
   (30, 20), 3, "律师执业证 实习律师 律师执业 申请执业 律师证",
   [sqb("律师执业申请书"), m("法律职业资格证书", C, 1, True, False), m("律师协会出具的实习考核合格材料", O, 1, True, False),
    "SFZ", m("律师事务所出具的同意接收证明", O, 1, True, False)],
   ["employment"], levels=P,
   cond="拥护宪法，通过国家统一法律职业资格考试取得法律职业资格，在律师事务所实习满一年，品行良好的。")
it("律师事务所设立许可", LIC, "SF", "《中华人民共和国律师法》第十四条、第十八条",
   (30, 20), 3, "律所设立 开律所 律师事务所 合伙律所",
   [sqb("律师事务所设立申请书"), m("律师事务所章程", O, 1, True, False), m("设立人律师执业证书", C, 1, True, False),
    m("住所证明", C, 1, True, False), m("资产证明", C, 1, True, False)],
   ["company-start"], levels=P,
   cond="有自己的名称、住所和章程，有符合规定的律师和设立人，有符合规定数额的资产。")
it("基层法律服务工作者执业核准", LIC, "SF", "《基层法律服务工作者管理办法》第十二条",
   (30, 20), 2, "法律服务工作者 基层法律服务 法律服务所",
   [sqb("基层法律服务工作者执业申请表"), "SFZ", "XLZS", m("基层法律服务所同意接收证明", O, 1, True, False)],
   ["employment"],
   cond="具有高等学校法律专业本科以上学历或通过国家统一法律职业资格考试，品行良好、身体健康的。")
it("人民调解申请", SVC, "SF", "《中华人民共和国人民调解法》第十七条",
   (0, 30), 3, "调解 纠纷调解 人民调解 邻里纠纷 矛盾化解 家庭纠纷",
   ["SFZ", m("纠纷情况说明及相关证据", O, 1, True, False)],
   [], steps="adj",
   cond="当事人之间发生民间纠纷，自愿申请人民调解委员会调解的；调解免费。")
it("司法鉴定机构和司法鉴定人执业登记", LIC, "SF", "《全国人民代表大会常务委员会关于司法鉴定管理问题的决定》第四条、第五条",
   (20, 15), 2, "司法鉴定 鉴定人 鉴定机构 执业登记",
   [sqb("司法鉴定执业登记申请表"), m("专业技术职称或执业资格证明", C, 1, True, False), m("仪器设备和场所证明", C, 1, True, False)],
   [], levels=P,
   cond="从事法医类、物证类、声像资料等司法鉴定业务的机构和人员，具备规定的专业技术条件、仪器设备和管理制度。")

# ---- 退役军人事务 (TYJR) -------------------------------------------------------------------

it("自主就业退役士兵一次性经济补助金给付", PAY, "TYJR", "《退役士兵安置条例》第十九条",
   (30, 15), 3, "退役补助 一次性经济补助 自主就业 退伍费 退役士兵",
   [m("退役证件", O, 1, True, False), "SFZ", "BANK"],
   ["employment"],
   cond="选择自主就业、在规定时间内到安置地退役军人事务部门报到的退役士兵。")
it("残疾军人残疾等级评定", CONF, "TYJR", "《军人抚恤优待条例》第二十四条",
   (90, 60), 2, "伤残评定 残疾军人 伤残等级 评残 补评",
   [sqb("评定残疾等级申请表"), "SFZ", m("致残原因证明和医疗诊断证明", C, 1, True, False)],
   [],
   cond="因战、因公致残的现役军人、退役军人，符合评定残疾等级条件的。")
it("在乡复员军人定期生活补助", PAY, "TYJR", "《军人抚恤优待条例》第三十五条",
   (30, 20), 3, "复员军人 生活补助 定补 优抚金 定期补助",
   [m("复员证或档案证明", O, 1, True, False), "SFZ", "HKB", "BANK"],
   ["elderly"],
   cond="农村户籍、未享受离退休待遇的复员军人。")
it("烈士褒扬金给付", PAY, "TYJR", "《烈士褒扬条例》第十三条",
   (30, 15), 2, "烈士褒扬金 烈士遗属 抚恤 烈士",
   [m("烈士证明书", O, 1, True, False), m("烈士遗属身份证明", O, 1, True, True), m("亲属关系证明", O, 1, True, False)],
   ["death"],
   cond="公民被评定为烈士的，国家发给烈士遗属烈士褒扬金。")
it("退役军人优待证申领", SVC, "TYJR", "《中华人民共和国退役军人保障法》第六十二条",
   (0, 15), 4, "优待证 退役军人优待证 军人优待 退伍证 烈属优待证",
   ["SFZ", m("退役证件", C, 1, True, False), m("数字相片", E, 1, True, False)],
   ["travel"], steps="cert", ch=["app", "mini-program", "window"],
   cond="已在退役军人信息系统中采集信息的退役军人和其他优抚对象，可在线申请优待证，凭证享受交通、文旅等优待。")
it("退役军人报到及档案接收", SVC, "TYJR", "《中华人民共和国退役军人保障法》第二十四条",
   (0, 0), 3, "退役报到 档案接收 退伍报到 退役军人报到",
   [m("退役证件", O, 1, True, False), "SFZ", "HKB"],
   ["employment"], steps="instant",
   cond="退役军人在规定时间内持退役证件到安置地退役军人事务部门报到，办理档案接收和户口、社会保险等接续。")
it("光荣牌悬挂", SVC, "TYJR", "《光荣牌悬挂工作实施办法》第三条",
   (0, 30), 3, "光荣牌 光荣之家 军属 烈属",
   ["HKB", m("军人或退役军人身份证明", C, 1, True, False)],
   [],
   cond="烈士、因公牺牲军人、病故军人家庭，现役军人家庭和退役军人家庭，由乡镇（街道）组织悬挂光荣牌。")
it("对在拥军优属工作中成绩显著的单位和个人的表彰奖励", REW, "TYJR", "《军人抚恤优待条例》第七条",
   (0, 60), 1, "双拥 拥军优属 表彰 双拥模范 拥军",
   [m("推荐审批表", O, 1, True, False), m("先进事迹材料", O, 1, True, False)],
   [], steps="reward",
   cond="在军人抚恤优待工作和拥军优属工作中成绩显著的单位和个人。")
it("义务兵家庭优待金给付", PAY, "TYJR", "《军人抚恤优待条例》第三十三条；《江苏省军人抚恤优待办法》第二十条",
   (30, 15), 3, "优待金 义务兵 参军 当兵家属 入伍",
   [m("入伍通知书", C, 1, True, False), "HKB", "BANK"],
   ["employment"],
   cond="从本市入伍的义务兵家庭，在服役期间按标准享受家庭优待金。")

# ---- 生态环境 (STHJ) -----------------------------------------------------------------------

it("建设项目环境影响评价文件审批", LIC, "STHJ", "《中华人民共和国环境影响评价法》第二十二条",
   (60, 15), 4, "环评 环评审批 环境影响报告书 环境影响报告表 环评批复",
   [sqb("建设项目环境影响评价文件审批申请书"), m("环境影响报告书（表）", O, 1, True, False), m("公众参与说明", O, 1, False, False, "编制报告书的提供")],
   ["construction"], levels=P, ch=["app", "pc", "window"],
   cond="依法应当编制环境影响报告书、环境影响报告表的建设项目，在开工建设前报审批部门审批。")
it("排污许可证核发", LIC, "STHJ", "《排污许可管理条例》第十条",
   (30, 15), 4, "排污许可 排污证 排污登记 污染物排放 排污许可证",
   [m("排污许可证申请表", E, 1, True, False, "通过全国排污许可证管理信息平台填报"), "YYZZ",
    m("自行监测方案", O, 1, True, False), m("排污许可证申请前信息公开情况说明", O, 1, True, False)],
   ["company-start"], ch=["app", "pc", "window"],
   cond="依照法律规定实行排污许可管理的企业事业单位和其他生产经营者，在排放污染物前申请取得排污许可证。")
it("建设项目环境影响登记表备案", OTH, "STHJ", "《建设项目环境影响登记表备案管理办法》第三条",
   (0, 0), 4, "环评登记表 环评备案 登记表备案",
   [m("建设项目环境影响登记表", E, 1, True, False, "网上填报"), m("承诺书", E, 1, True, False)],
   ["construction"], steps="record", ch=["pc"],
   cond="对环境影响很小、不需要进行环境影响评价的建设项目，建设单位在建成并投入生产运营前网上备案。")
it("危险废物经营许可", LIC, "STHJ", "《中华人民共和国固体废物污染环境防治法》第八十条；《危险废物经营许可证管理办法》第五条",
   (20, 15), 3, "危废 危险废物 危废经营 固废 危废处置",
   [sqb("危险废物经营许可证申请书"), "YYZZ", m("处置设施、设备和运输工具证明", C, 1, True, False),
    m("技术人员证明", C, 1, True, False), m("事故应急预案", O, 1, True, False)],
   [], levels=P,
   cond="从事收集、贮存、利用、处置危险废物经营活动的单位，具备相应的技术人员、设施设备和管理制度。")
it("辐射安全许可证核发", LIC, "STHJ", "《中华人民共和国放射性污染防治法》第二十八条；《放射性同位素与射线装置安全和防护条例》第五条",
   (20, 15), 3, "辐射安全许可 射线装置 放射源 辐射许可证",
   [sqb("辐射安全许可证申请表"), "YYZZ", m("辐射安全管理制度和防护措施", O, 1, True, False), m("环境影响评价文件批复", C, 1, True, False)],
   [], levels=P,
   cond="生产、销售、使用放射性同位素和射线装置的单位。")

# ---- 水利 (SL) -----------------------------------------------------------------------------

it("取水许可", LIC, "SL", "《中华人民共和国水法》第四十八条；《取水许可和水资源费征收管理条例》第二条",
   (45, 20), 3, "取水许可 打井 地下水 取水证 用水 水资源",
   [sqb("取水申请书"), m("建设项目水资源论证报告", O, 1, True, False), m("取水口位置及退水说明", O, 1, True, False)],
   ["construction"],
   cond="直接从江河、湖泊或者地下取用水资源的单位和个人（家庭生活和零星散养、圈养畜禽饮用等少量取水的除外）。")
it("生产建设项目水土保持方案审批", LIC, "SL", "《中华人民共和国水土保持法》第二十五条",
   (20, 10), 4, "水保方案 水土保持 水保审批 水土保持方案",
   [sqb("生产建设项目水土保持方案审批申请"), m("水土保持方案报告书", O, 1, True, False)],
   ["construction"], ch=["app", "pc", "window"],
   cond="在山区、丘陵区、风沙区以及水土保持规划确定的容易发生水土流失的其他区域开办可能造成水土流失的生产建设项目。")
it("水土保持补偿费征收", LEVY, "SL", "《中华人民共和国水土保持法》第三十二条",
   (0, 0), 3, "水土保持补偿费 水保补偿费",
   [m("水土保持补偿费申报表", O, 1, True, False), m("水土保持方案批复", C, 1, True, False)],
   ["construction"], steps="levy",
   cond="开办生产建设项目或者从事其他生产建设活动，损坏水土保持设施、地貌植被，不能恢复原有水土保持功能的单位和个人。")
it("河道管理范围内建设项目工程建设方案审批", LIC, "SL", "《中华人民共和国水法》第三十八条；《中华人民共和国河道管理条例》第十一条",
   (20, 10), 3, "河道施工 涉河建设 跨河桥梁 河道审批 涉河项目",
   [sqb("河道管理范围内建设项目申请书"), m("工程建设方案", O, 1, True, False), m("防洪影响评价报告", O, 1, True, False)],
   ["construction"],
   cond="在河道管理范围内建设桥梁、码头、道路、渡口、管道、缆线等建筑物、构筑物的。")
it("水事纠纷行政裁决", ADJ, "SL", "《中华人民共和国水法》第五十六条、第五十七条",
   (60, 45), 1, "水事纠纷 用水纠纷 排水纠纷 水利纠纷",
   [m("水事纠纷裁决申请书", O, 1, True, False), "SFZ", m("相关证据材料", C, 1, True, False)],
   [],
   cond="单位之间、个人之间、单位与个人之间发生的水事纠纷，协商不成的。")

# ---- 农业农村 (NY) -------------------------------------------------------------------------

it("渔业捕捞许可", LIC, "NY", "《中华人民共和国渔业法》第二十三条",
   (20, 10), 3, "捕捞证 渔船 捕捞许可 海洋捕捞 渔业许可 赶海",
   [sqb("渔业捕捞许可证申请书"), "SFZ", m("渔业船舶检验证书", C, 1, True, False), m("渔业船舶国籍证书", C, 1, True, False)],
   ["employment"],
   cond="从事外海、近海、内陆渔业捕捞作业的单位和个人，渔船具有检验证书和登记证书，符合船网工具控制指标。")
it("农作物种子生产经营许可", LIC, "NY", "《中华人民共和国种子法》第三十一条、第三十二条",
   (20, 10), 3, "种子许可 种子经营 卖种子 种子生产 种子公司",
   [sqb("农作物种子生产经营许可证申请表"), "YYZZ", m("种子检验室、仓储设施证明", C, 1, True, False), m("种子生产地点和技术人员证明", C, 1, True, False)],
   ["company-start"],
   cond="从事种子进出口业务和主要农作物杂交种子及其亲本种子、常规种原种种子生产经营的，具备相应的设施设备和技术人员。")
it("兽药经营许可证核发", LIC, "NY", "《兽药管理条例》第二十二条",
   (30, 15), 3, "兽药 兽药店 兽药经营许可证 宠物药",
   [sqb("兽药经营许可证申请表"), "YYZZ", m("兽药专业知识人员资格证明", C, 1, True, False), m("营业场所和仓库证明", C, 1, True, False)],
   ["company-start"],
   cond="有与所经营的兽药相适应的兽药技术人员、营业场所、设备、仓库设施和质量管理机构或人员。")
it("动物防疫条件合格证核发", LIC, "NY", "《中华人民共和国动物防疫法》第二十四条、第二十五条",
   (15, 10), 3, "防疫合格证 养殖场 屠宰场 动物防疫 畜禽养殖",
   [sqb("动物防疫条件审查申请表"), m("场所地理位置图、各功能区布局平面图", O, 1, True, False), m("设施设备清单", O, 1, True, False),
    m("管理制度文本", O, 1, True, False)],
   ["company-start"],
   cond="开办动物饲养场和隔离场所、动物屠宰加工场所以及动物和动物产品无害化处理场所，符合动物防疫条件的。")
it("农药经营许可", LIC, "NY", "《农药管理条例》第二十四条",
   (20, 10), 3, "农药经营 农药店 卖农药 农药许可证",
   [sqb("农药经营许可证申请表"), "YYZZ", m("农学、植保等专业技术人员证明", C, 1, True, False), m("营业场所和仓储场所证明", C, 1, True, False)],
   ["company-start"],
   cond="有具备农药和病虫害防治专业知识的人员，有与经营农药相适应的营业场所、仓储场所和质量管理制度。")
it("耕地地力保护补贴", PAY, "NY", "《财政部 农业部关于全面推开农业“三项补贴”改革工作的通知》（财农〔2016〕26号）",
   (0, 30), 2, "种粮补贴 地力补贴 农业补贴 耕地补贴 一卡通",
   ["SFZ", m("土地承包经营权证明", C, 1, True, False), m("惠民惠农财政补贴资金“一卡通”", C, 1, True, False)],
   [],
   cond="拥有耕地承包权的种地农民；已作为畜牧养殖场使用、改为林地、成片粮田转为设施农业用地等的耕地不予补贴。")
it("农机购置与应用补贴", PAY, "NY", "《中华人民共和国农业机械化促进法》第二十七条",
   (0, 30), 4, "农机补贴 买农机 拖拉机补贴 收割机 无人机补贴",
   ["SFZ", m("农机购置发票", O, 1, True, False), m("农机具铭牌及人机合影照片", E, 1, True, False)],
   [], ch=["app", "mini-program", "pc", "window"],
   cond="从事农业生产的个人和农业生产经营组织，购置补贴范围内的农业机械并在本省内使用的。")

# ---- 文广旅 (WGL) --------------------------------------------------------------------------

it("娱乐场所经营许可", LIC, "WGL", "《娱乐场所管理条例》第九条、第十一条",
   (20, 10), 3, "KTV 歌舞厅 娱乐场所 游艺厅 娱乐许可证 电玩城",
   [sqb("娱乐场所经营许可申请书"), "YYZZ", "FR", m("娱乐场所平面示意图", O, 1, True, False)],
   ["company-start"],
   cond="设立歌舞、游艺娱乐场所，场所位置、面积和设施符合规定，投资人员、法定代表人等无条例禁止情形的。")
it("互联网上网服务营业场所经营单位设立审批", LIC, "WGL", "《互联网上网服务营业场所管理条例》第十条",
   (20, 10), 3, "网吧 网咖 上网服务 电竞馆 网络文化经营",
   [sqb("互联网上网服务营业场所经营单位设立申请书"), "YYZZ", "FR", m("营业场所产权证明或租赁合同", C, 1, True, False)],
   ["company-start"],
   cond="符合互联网上网服务营业场所管理条例规定的营业面积、计算机台数和安全条件的经营单位。")
it("营业性演出审批", LIC, "WGL", "《营业性演出管理条例》第十三条",
   (3, 2), 4, "演出审批 演唱会 商演 营业性演出 演出许可 音乐节",
   [sqb("营业性演出申请登记表"), m("演出经纪机构营业性演出许可证", C, 1, True, False), m("演出节目内容材料", O, 1, True, False),
    m("演出场地安全证明", C, 1, True, False)],
   [], ch=["app", "pc", "window"],
   cond="举办营业性演出的演出经纪机构或演出场所经营单位，演出内容不含条例禁止的情形。")
it("旅行社业务经营许可", LIC, "WGL", "《旅行社条例》第六条、第七条",
   (20, 10), 3, "旅行社 开旅行社 旅游经营许可 旅行社设立",
   [sqb("旅行社业务经营许可申请书"), "YYZZ", m("经营场所证明", C, 1, True, False), m("营业设施、设备证明", C, 1, True, False),
    m("旅游服务质量保证金存款证明", C, 1, True, False)],
   ["company-start"], levels=P,
   cond="取得企业法人资格，有固定的经营场所和必要的营业设施，存入质量保证金的申请人。")
it("出版物零售业务经营许可", LIC, "WGL", "《出版管理条例》第三十七条",
   (20, 10), 3, "书店 卖书 出版物经营许可证 音像店 图书零售",
   [sqb("出版物零售业务申请表"), "YYZZ", m("经营场所证明", C, 1, True, False)],
   ["company-start"],
   cond="有确定的企业名称和经营范围，有与出版物零售业务相适应的设备和固定的经营场所。")

# ---- 商务 (SWU) ----------------------------------------------------------------------------

it("对外贸易经营者备案登记", OTH, "SWU", "《中华人民共和国对外贸易法》（2016年修正）第九条",
   (5, 0), 3, "外贸备案 进出口权 对外贸易经营者 进出口备案",
   ["YYZZ", m("对外贸易经营者备案登记表", O, 1, True, False)],
   ["company-start"], steps="record", status="retired",
   cond="2022年12月30日起《中华人民共和国对外贸易法》删除对外贸易经营者备案登记规定，本事项停止办理，企业可直接开展进出口业务。")
it("成品油零售经营资格审批", LIC, "SWU", "《国务院对确需保留的行政审批项目设定行政许可的决定》第185项；《成品油市场管理办法》第八条",
   (20, 15), 2, "加油站 成品油 开加油站 成品油零售",
   [sqb("成品油零售经营资格申请表"), "YYZZ", m("加油站规划确认文件", C, 1, True, False),
    m("安全、消防、环保验收证明", C, 1, True, False), m("油品供应协议", C, 1, True, False)],
   ["company-start"],
   cond="符合本地区加油站行业发展规划和技术规范要求，具有符合国家规定的油罐、加油机等设施，有稳定成品油供应渠道的企业。")
it("单用途商业预付卡备案", OTH, "SWU", "《单用途商业预付卡管理办法（试行）》第七条",
   (0, 0), 4, "预付卡备案 储值卡 会员卡 预付卡 充值卡",
   [m("单用途商业预付卡备案表", E, 1, True, False), "YYZZ"],
   [], steps="record", ch=["app", "pc", "window"],
   cond="从事零售业、住宿和餐饮业、居民服务业，发行单用途商业预付卡的企业，应当自开展业务之日起30日内备案。")
it("报废机动车回收拆解企业资质认定", LIC, "SWU", "《报废机动车回收管理办法》第七条",
   (30, 20), 2, "报废车回收 汽车拆解 报废机动车 报废汽车",
   [sqb("报废机动车回收拆解企业资质认定申请表"), "YYZZ", m("拆解场地及设备设施证明", C, 1, True, False),
    m("环境影响评价文件批复", C, 1, True, False)],
   [], levels=P,
   cond="具备符合国家标准的场地、设备设施、技术人员和环境保护条件的报废机动车回收拆解企业。")
it("再生资源回收经营者备案", OTH, "SWU", "《再生资源回收管理办法》第七条",
   (0, 0), 3, "废品回收 再生资源 收废品 回收站备案",
   [m("再生资源回收经营者备案登记表", O, 1, True, False), "YYZZ"],
   ["company-start"], steps="record",
   cond="从事再生资源回收经营活动的经营者，应当自领取营业执照之日起30日内备案。")

# ---- 城管 (CG) -----------------------------------------------------------------------------

it("城市建筑垃圾处置核准", LIC, "CG", "《国务院对确需保留的行政审批项目设定行政许可的决定》第101项；《城市建筑垃圾管理规定》第七条",
   (20, 5), 4, "建筑垃圾 渣土 渣土车 垃圾处置 弃土 装修垃圾",
   [sqb("建筑垃圾处置核准申请表"), m("建筑垃圾处置方案", O, 1, True, False), m("与运输单位签订的运输合同", C, 1, True, False)],
   ["construction"], ch=["app", "pc", "window"],
   cond="处置建筑垃圾的单位，有消纳场所和运输车辆，提交建筑垃圾处置计划的。")
it("设置大型户外广告及在城市建筑物、设施上悬挂、张贴宣传品审批", LIC, "CG", "《城市市容和环境卫生管理条例》第十一条",
   (20, 5), 4, "户外广告 广告牌 招牌 店招 门头 横幅",
   [sqb("户外广告设置申请表"), "YYZZ", m("设置效果图和设计图", O, 1, True, False), m("场地使用权证明", C, 1, True, False)],
   ["company-start"],
   cond="在城市中设置户外广告、标语牌、画廊、橱窗等，内容健康、外型美观，符合户外广告设置规划的。")
it("占用、挖掘城市道路审批", LIC, "CG", "《城市道路管理条例》第三十条、第三十一条",
   (20, 5), 4, "占道 挖路 占用道路 道路开挖 占道施工",
   [sqb("城市道路占用挖掘申请表"), m("施工方案及交通组织方案", O, 1, True, False), m("规划批准文件", C, 1, False, False)],
   ["construction"], ch=["app", "pc", "window"],
   cond="因特殊情况需要临时占用城市道路，或者因工程建设需要挖掘城市道路的。")
it("砍伐城市树木、迁移古树名木审批", LIC, "CG", "《城市绿化条例》第二十条、第二十四条",
   (20, 10), 3, "砍树 移树 古树名木 绿化迁移 修剪树木",
   [sqb("城市树木砍伐迁移申请表"), m("树木位置图及现场照片", O, 1, True, False), m("补植方案", O, 1, True, False)],
   [],
   cond="因建设、病虫害、安全隐患等原因确需砍伐、迁移城市树木的。")
it("从事城市生活垃圾经营性清扫、收集、运输、处理服务审批", LIC, "CG", "《国务院对确需保留的行政审批项目设定行政许可的决定》第102项",
   (20, 10), 3, "垃圾清运 保洁公司 垃圾处理 清扫服务 垃圾分类",
   [sqb("城市生活垃圾经营性服务申请表"), "YYZZ", m("车辆、设备清单", O, 1, True, False), m("管理制度和作业方案", O, 1, True, False)],
   ["company-start"],
   cond="具备机械清扫能力、全密闭运输车辆和健全的技术、质量、安全管理制度的企业。")

# ---- 应急管理 (YJ) -------------------------------------------------------------------------

it("危险化学品经营许可证核发", LIC, "YJ", "《危险化学品安全管理条例》第三十三条、第三十五条",
   (30, 15), 3, "危化品经营 危险化学品 危化许可证 化工 油漆经营",
   [sqb("危险化学品经营许可证申请表"), "YYZZ", m("经营和储存场所证明", C, 1, True, False),
    m("主要负责人和安全管理人员安全资格证明", C, 1, True, False), m("安全管理制度和应急预案", O, 1, True, False)],
   ["company-start"],
   cond="有符合国家标准的经营场所和储存设施，从业人员经过专业技术培训并考核合格，有健全的安全管理规章制度和事故应急预案。")
it("烟花爆竹经营（零售）许可证核发", LIC, "YJ", "《烟花爆竹安全管理条例》第十七条、第十九条",
   (20, 5), 3, "烟花爆竹 卖鞭炮 烟花零售 春节 烟花许可证",
   [sqb("烟花爆竹经营（零售）许可证申请书"), "YYZZ", m("零售场所平面布置图", O, 1, True, False), m("主要负责人安全培训合格证明", C, 1, True, False)],
   [],
   cond="符合烟花爆竹零售经营布点规划，主要负责人经过安全知识教育，零售场所和设施符合安全要求的零售经营者。")
it("生产经营单位生产安全事故应急预案备案", OTH, "YJ", "《生产安全事故应急条例》第七条",
   (0, 0), 4, "应急预案备案 安全预案 应急预案",
   [m("生产安全事故应急预案备案申请表", E, 1, True, False), m("应急预案评审意见", O, 1, True, False), m("应急预案电子文档", E, 1, True, False)],
   [], steps="record", ch=["app", "pc", "window"],
   cond="易燃易爆物品、危险化学品等危险物品的生产、经营、储存、运输单位，矿山、金属冶炼等生产经营单位，应当将应急预案报送备案。")

# ---- 残联 (CL) -----------------------------------------------------------------------------

it("残疾人证核发", SVC, "CL", "《中华人民共和国残疾人证管理办法》第六条",
   (0, 20), 3, "残疾证 残疾人证 办残疾证 残疾评定 换残疾证 智能化残疾人证",
   ["SFZ", "HKB", m("近期二寸免冠彩色照片", O, 3, True, False), m("残疾评定表", O, 1, True, False, "由指定医疗机构评定")],
   ["medical"], steps="cert",
   cond="符合残疾标准的视力、听力、言语、肢体、智力、精神及多重残疾人，向户籍所在地县级残联申请，经指定医疗机构评定后核发。")
it("残疾人辅助器具适配补贴", PAY, "CL", "《中华人民共和国残疾人保障法》第五十四条",
   (30, 15), 3, "辅具 轮椅 助听器 假肢 辅助器具补贴 助行器",
   [m("中华人民共和国残疾人证", O, 1, True, True), m("辅助器具适配评估表", O, 1, True, False), "BANK"],
   ["medical"],
   cond="持有第二代残疾人证、有辅助器具适配需求的本市户籍残疾人。")
it("残疾儿童康复救助", PAY, "CL", "《国务院关于建立残疾儿童康复救助制度的意见》（国发〔2018〕20号）",
   (30, 15), 3, "残疾儿童康复 自闭症 孤独症 康复救助 听障儿童 脑瘫",
   [sqb("残疾儿童康复救助申请审批表"), "HKB", m("医疗机构诊断证明", O, 1, True, False)],
   ["medical", "birth"],
   cond="本市户籍或持有居住证的0-6岁视力、听力、言语、肢体、智力等残疾儿童和孤独症儿童。")

# ---- 人防 (RF) -----------------------------------------------------------------------------

it("应建防空地下室的民用建筑项目报建审批", LIC, "RF", "《中华人民共和国人民防空法》第二十二条",
   (20, 5), 4, "人防审批 防空地下室 人防报建 人防工程",
   [sqb("民用建筑防空地下室报建审批表"), m("建设项目规划设计方案", O, 1, True, False), m("人防工程施工图", O, 1, False, False)],
   ["construction"], ch=["app", "pc", "window"],
   cond="城市新建民用建筑，按照国家有关规定修建战时可用于防空的地下室；纳入工程建设项目审批流程并联办理。")
it("防空地下室易地建设费征收", LEVY, "RF", "《中华人民共和国人民防空法》第二十二条；《江苏省实施〈中华人民共和国人民防空法〉办法》第十四条",
   (0, 0), 3, "人防易地建设费 人防费 易地建设",
   [m("防空地下室易地建设费缴费通知书", O, 1, True, False), "YYZZ"],
   ["construction"], steps="levy",
   cond="因地质、地形等原因不宜修建防空地下室的新建民用建筑，建设单位按规定缴纳易地建设费。")


# --------------------------------------------------------------------------- expansion


def default_channels(depth):
    return {1: ["window"], 2: ["pc", "window"], 3: ["app", "pc", "window"],
            4: ["app", "mini-program", "pc", "window"]}[depth]


def build():
    depts = build_departments()
    dept_by_code = {d[0]: d for d in depts}
    counters = {}
    basics, items = [], []
    names = set()
    for n, d in enumerate(DEFS):
        typ = d["type"]
        prefix = PREFIX[typ]
        counters[prefix] = counters.get(prefix, 0) + 1
        basic = f"{prefix}{counters[prefix]:05d}000"
        if d["name"] in names:
            raise SystemExit(f"duplicate item name {d['name']}")
        names.add(d["name"])
        basics.append((basic, d["name"], typ, d["basis"], d["dept"]))

        legal, promised = d["lim"]
        if not (promised <= legal or legal == 0):
            raise SystemExit(f"{d['name']}: promised {promised} > legal {legal}")
        if not 1 <= d["depth"] <= 4:
            raise SystemExit(f"{d['name']}: online depth {d['depth']}")
        mats = [MAT[x] if isinstance(x, str) else x for x in d["mats"]]
        if not 2 <= len(mats) <= 6:
            raise SystemExit(f"{d['name']}: {len(mats)} materials")
        kind = d["steps"] or ("instant" if promised == 0 else DEFAULT_STEPS[typ])
        steps = steps_for(kind, d["depth"])
        if not 3 <= len(steps) <= 5:
            raise SystemExit(f"{d['name']}: {len(steps)} steps")
        if len(d["topics"]) > 2 or not set(d["topics"]) <= TOPIC_CODES:
            raise SystemExit(f"{d['name']}: bad topics {d['topics']}")
        fee_required, fee_fen, fee_basis = False, 0, ""
        if d["fee"]:
            fee_required, (fee_fen, fee_basis) = True, d["fee"]
        for x in d["levels"]:
            if x == CITY or x not in LEVEL_OF:
                raise SystemExit(f"{d['name']}: bad level region {x}")
        order = {"province": 0, "county": 2, "town": 3}
        regions = [CITY] + sorted(d["levels"], key=lambda r: (order[LEVEL_OF[r]], r))
        regions.sort(key=lambda r: (0 if r == PROVINCE else 1 if r == CITY else 2))
        created = datetime.datetime(2023, 3, 1, 9, 0) + datetime.timedelta(days=(n * 5) % 200)
        updated = created + datetime.timedelta(days=30 + (n * 37) % 300, minutes=(n * 13) % 60)
        for region in regions:
            suffix = "BM" if LEVEL_OF[region] == "town" else d["dept"]
            dept_code = f"{region}-{suffix}"
            if dept_code not in dept_by_code:
                raise SystemExit(f"{d['name']}: no department {dept_code}")
            items.append(dict(
                basic=basic, impl=f"{basic}-{region}-{suffix}", name=d["name"], type=typ,
                dept=dept_code, region=region, level=LEVEL_OF[region], basis=d["basis"],
                cond=d["cond"] or DEFAULT_CONDITIONS[typ], fee_required=fee_required,
                fee_fen=fee_fen, fee_basis=fee_basis, legal=legal, promised=promised,
                kind="INSTANT" if promised == 0 else "PROMISED", depth=d["depth"],
                channels=d["ch"] or default_channels(d["depth"]),
                phone=dept_by_code[dept_code][3], kw=d["kw"],
                version=2 if n % 4 == 1 else 1, status=d["status"],
                created=created.strftime("%Y-%m-%d %H:%M:%S+08"),
                updated=updated.strftime("%Y-%m-%d %H:%M:%S+08"),
                mats=mats, steps=steps, topics=d["topics"]))
    impls = [i["impl"] for i in items]
    if len(set(impls)) != len(impls):
        raise SystemExit("duplicate impl_code")
    # the coding rule yw-catalog checks on every new item (services/catalog/README.md)
    for i in items:
        b = i["basic"]
        if not (len(b) == 10 and b[:2].isupper() and b[2:].isdigit()):
            raise SystemExit(f"{i['name']}: basic code {b} is not 2 letters and 8 digits")
        if i["impl"] != f"{b}-{i['dept']}" or dept_by_code[i["dept"]][2] != i["region"]:
            raise SystemExit(f"{i['name']}: {i['impl']} does not derive from {b} and {i['dept']}")
    return depts, basics, items


# --------------------------------------------------------------------------- national fields

REGION_NAME = {code: name for code, name, _, _ in REGIONS}
HALL_OF_LEVEL = {"province": "江苏省政务服务中心", "city": "连云港市民服务中心",
                 "county": "政务服务中心", "town": "便民服务中心"}
HALL_ADDRESS = {"320000": "南京市建邺区江东中路369号", "320700": "连云港市海州区朝阳东路32号"}
TOPIC_AUDIENCE = {code: aud for code, _, aud in TOPICS}
RESULT_KIND = {"ADMINISTRATIVE_LICENSE": ("许可决定书", "证照"),
               "ADMINISTRATIVE_CONFIRMATION": ("确认文书", "批文"),
               "ADMINISTRATIVE_PAYMENT": ("给付决定书", "批文"),
               "ADMINISTRATIVE_LEVY": ("缴款凭证", "其他"),
               "ADMINISTRATIVE_ADJUDICATION": ("裁决书", "批文"),
               "ADMINISTRATIVE_REWARD": ("奖励决定书", "批文"),
               "OTHER_ADMINISTRATIVE_POWER": ("决定书", "批文"),
               "PUBLIC_SERVICE": ("办理结果告知单", "其他")}


# The demo's files by SHA-256: small real PDFs (forms_pdf.py) that `./dev up` stores in
# yw-files (--files DIR writes them), so every reference below names a stored file.
FILES = {}


def file_ref(name, kind):
    """The reference of the demo PDF of a form (空表, 样表) or a result sample (样本)."""
    data = forms_pdf.pdf(name, kind)
    digest = hashlib.sha256(data).hexdigest()
    FILES[digest] = data
    return {"sha256": digest, "size": str(len(data)), "contentType": "application/pdf",
            "name": f"{name}（{kind}）.pdf"}


def details(i, n, dept_name):
    """ItemDetails (proto3 JSON) of one generated item: deterministic, from its fields."""
    level, region = i["level"], i["region"]
    hall = HALL_OF_LEVEL[level] if level in ("province", "city") else REGION_NAME[region] + HALL_OF_LEVEL[level]
    address = HALL_ADDRESS.get(region, f"连云港市{REGION_NAME[region]}人民路{10 + n % 90}号")
    depth = i["depth"]
    visits = 0 if depth == 4 else 1 if depth == 3 else 2
    audiences = sorted({TOPIC_AUDIENCE[t] for t in i["topics"]}) or ["person"]
    result, result_type = RESULT_KIND[i["type"]]
    d = {
        "halls": [{"name": f"{hall} {dept_name}窗口", "address": address,
                   "hours": "周一至周五 9:00-12:00，13:30-17:00（法定节假日除外）",
                   "phone": i["phone"]}],
        "complaintPhone": "12345",
        "maxVisits": visits,
        "atMostOneVisit": visits <= 1,
        "expressDelivery": "express" in i["channels"],
        "appointment": "window" in i["channels"],
        "onlinePayment": i["fee_required"] and depth >= 3,
        "inHall": "window" in i["channels"],
        "tongbanScope": ["TONGBAN_SCOPE_UNSPECIFIED", "CITY_WIDE", "PROVINCE_WIDE",
                         "CROSS_PROVINCE"][n % 4],
        "audiences": ["NATURAL_PERSON" if a == "person" else "LEGAL_PERSON" for a in audiences],
        "powerSource": "法定本级行使" if level != "town" else "上级下放",
        "jointDepartments": [],
        "subCases": [{"code": f"{i['impl']}-01", "name": f"{i['name']}（一般情形）",
                      "conditions": i["cond"]}],
        "legalLimitUnit": "WORKING_DAY",
        "promisedLimitUnit": "WORKING_DAY",
        "results": [{"name": i["name"] + result, "type": result_type,
                     "sample": file_ref(i["name"] + result, "样本")}],
        "intermediaries": [],
        "faqs": [{"question": f"办理{i['name']}需要到现场吗？",
                  "answer": "全程网办，无需到现场。" if visits == 0
                  else f"最多到现场{visits}次；可先在“我的连云港”App预约。"}],
        "forms": [{"name": f, "blank": file_ref(f, "空表"), "sample": file_ref(f, "样表")}
                  for f in ([mat[0] for mat in i["mats"] if "表" in mat[0]][:3]
                            or [f"{i['name']}申请表"])],
        "minRealnameLevel": 1 if i["type"] == "PUBLIC_SERVICE" and depth == 4 else 2,
        "feeItems": [],
    }
    if n % 7 == 3:
        d["jointDepartments"] = [f"{region}-SCJG" if i["dept"].endswith("-SW") else f"{region}-SW"]
        d["subCases"].append({"code": f"{i['impl']}-02", "name": f"{i['name']}（变更情形）",
                              "conditions": "已办理过本事项，相关信息发生变化的。"})
    if i["type"] == "ADMINISTRATIVE_LICENSE" and n % 5 == 2:
        d["intermediaries"] = [{"name": "技术审查报告编制", "basis": i["basis"], "required": False}]
    if i["fee_required"]:
        d["feeItems"] = [{"name": i["name"] + "费",
                          "tiers": [{"condition": "首次办理、到期换领", "amountFen": str(i["fee_fen"])},
                                    {"condition": "丢失补领、损坏换领", "amountFen": str(i["fee_fen"] * 2)}],
                          "basis": i["fee_basis"],
                          "waiver": "城乡居民最低生活保障对象、特困人员免收；首次申领未满十六周岁者减半。"}]
    return d


# --------------------------------------------------------------------------- SQL output


# Application forms (lib/yw_form.h) of popular items, by basic code: every item of the
# code, at every level, gets the definition.
_ADDRESS = {"name": "address", "label": "联系地址", "type": "object", "fields": [
    {"name": "district", "label": "所在区县", "type": "enum", "required": True,
     "options": ["海州区", "连云区", "赣榆区", "东海县", "灌云县", "灌南县"]},
    {"name": "detail", "label": "详细地址", "type": "string", "required": True,
     "minLength": 4, "maxLength": 100},
    {"name": "postcode", "label": "邮政编码", "type": "string", "namedPattern": "postcode"}]}
FORMS = {
    "GG00002000": {"title": "居民身份证换领申请", "fields": [
        {"name": "applicantName", "label": "姓名", "type": "string", "prefill": "identity.name"},
        {"name": "idNumber", "label": "公民身份号码", "type": "string",
         "prefill": "identity.id_number_masked"},
        {"name": "phone", "label": "手机号码", "type": "phone", "required": True},
        {"name": "reason", "label": "换领原因", "type": "enum", "required": True,
         "options": ["有效期满", "证件损坏", "登记项目变更", "登记项目有误"]},
        {"name": "changeNote", "label": "变更或更正的项目", "type": "string", "required": True,
         "maxLength": 200, "when": {"field": "reason", "equals": "登记项目变更"}},
        {"name": "delivery", "label": "领取方式", "type": "enum", "required": True,
         "options": ["窗口领取", "邮政寄递"]},
        dict(_ADDRESS, required=True, when={"field": "delivery", "equals": "邮政寄递"})]},
    "QR00001000": {"title": "出生登记申请", "fields": [
        {"name": "applicantName", "label": "申报人", "type": "string", "prefill": "identity.name"},
        {"name": "relation", "label": "与新生儿关系", "type": "enum", "required": True,
         "options": ["父亲", "母亲", "其他监护人"]},
        {"name": "phone", "label": "手机号码", "type": "phone", "required": True},
        {"name": "children", "label": "新生儿", "type": "array", "minItems": 1, "maxItems": 4,
         "items": {"type": "object", "fields": [
             {"name": "name", "label": "姓名", "type": "string", "required": True,
              "namedPattern": "chinese_name"},
             {"name": "sex", "label": "性别", "type": "enum", "required": True,
              "options": ["男", "女"]},
             {"name": "birthDate", "label": "出生日期", "type": "date", "required": True},
             {"name": "birthCertificateNo", "label": "出生医学证明编号", "type": "string",
              "required": True, "pattern": "^[A-Z][0-9]{9}$"}]}},
        {"name": "followParent", "label": "随父或随母落户", "type": "enum", "required": True,
         "options": ["随父", "随母"]},
        {"name": "fatherIdNumber", "label": "父亲公民身份号码", "type": "id_card", "required": True},
        {"name": "motherIdNumber", "label": "母亲公民身份号码", "type": "id_card", "required": True}]},
    "XK00017000": {"title": "个体工商户设立登记申请", "fields": [
        {"name": "operatorName", "label": "经营者姓名", "type": "string", "prefill": "identity.name"},
        {"name": "operatorIdNumber", "label": "经营者身份证件号码", "type": "string",
         "prefill": "identity.id_number_masked"},
        {"name": "tradeName", "label": "个体工商户名称", "type": "string", "maxLength": 50},
        {"name": "businessScope", "label": "经营范围", "type": "string", "required": True,
         "minLength": 2, "maxLength": 500},
        {"name": "form", "label": "组成形式", "type": "enum", "required": True,
         "options": ["个人经营", "家庭经营"]},
        {"name": "familyMembers", "label": "参加经营的家庭成员", "type": "array", "required": True,
         "minItems": 1, "maxItems": 10, "when": {"field": "form", "equals": "家庭经营"},
         "items": {"type": "object", "fields": [
             {"name": "name", "label": "姓名", "type": "string", "required": True},
             {"name": "idNumber", "label": "公民身份号码", "type": "id_card", "required": True}]}},
        {"name": "capitalYuan", "label": "资金数额（元）", "type": "integer", "min": 0,
         "max": 100000000},
        {"name": "employees", "label": "从业人数", "type": "integer", "min": 0, "max": 1000},
        {"name": "phone", "label": "联系电话", "type": "phone", "required": True},
        dict(_ADDRESS, label="经营场所", required=True)]},
    "XK00013000": {"title": "企业设立登记申请", "fields": [
        {"name": "companyName", "label": "企业名称", "type": "string", "required": True,
         "minLength": 4, "maxLength": 100},
        {"name": "companyType", "label": "企业类型", "type": "enum", "required": True,
         "options": ["有限责任公司", "股份有限公司", "个人独资企业", "合伙企业"]},
        {"name": "registeredCapitalWan", "label": "注册资本（万元）", "type": "number",
         "min": 0, "max": 10000000},
        {"name": "legalRepresentative", "label": "法定代表人", "type": "object", "required": True,
         "fields": [
             {"name": "name", "label": "姓名", "type": "string", "prefill": "identity.name"},
             {"name": "idNumber", "label": "身份证件号码", "type": "string",
              "prefill": "identity.id_number_masked"},
             {"name": "phone", "label": "手机号码", "type": "phone", "required": True},
             {"name": "email", "label": "电子邮箱", "type": "email"}]},
        {"name": "shareholders", "label": "股东（发起人）", "type": "array", "minItems": 1,
         "maxItems": 50, "required": True, "items": {"type": "object", "fields": [
             {"name": "name", "label": "名称或姓名", "type": "string", "required": True},
             {"name": "kind", "label": "类型", "type": "enum", "required": True,
              "options": ["自然人", "企业法人"]},
             {"name": "idNumber", "label": "公民身份号码", "type": "id_card", "required": True,
              "when": {"field": "kind", "equals": "自然人"}},
             {"name": "uscc", "label": "统一社会信用代码", "type": "uscc", "required": True,
              "when": {"field": "kind", "equals": "企业法人"}},
             {"name": "subscribedWan", "label": "认缴出资额（万元）", "type": "number",
              "required": True, "min": 0}]}},
        {"name": "businessScope", "label": "经营范围", "type": "string", "required": True,
         "minLength": 2, "maxLength": 2000},
        {"name": "electronicLicense", "label": "领取电子营业执照", "type": "boolean"},
        dict(_ADDRESS, label="住所", required=True)]},
    "XK00014000": {"title": "营业执照变更登记申请", "fields": [
        {"name": "uscc", "label": "统一社会信用代码", "type": "uscc", "prefill": "company.uscc",
         "required": True},
        {"name": "companyName", "label": "企业名称", "type": "string", "prefill": "company.name"},
        {"name": "items", "label": "变更事项", "type": "array", "required": True, "minItems": 1,
         "maxItems": 8, "items": {"type": "enum", "options": [
             "名称", "住所", "法定代表人", "注册资本", "经营范围", "企业类型"]}},
        {"name": "newName", "label": "变更后名称", "type": "string", "maxLength": 100},
        {"name": "newScope", "label": "变更后经营范围", "type": "string", "maxLength": 2000},
        {"name": "contactPhone", "label": "联系人手机", "type": "phone", "required": True},
        {"name": "resolutionDate", "label": "股东会决议日期", "type": "date", "required": True}]},
}


def q(s):
    if s is None:
        return "NULL"
    return "'" + str(s).replace("'", "''") + "'"


def b(v):
    return "true" if v else "false"


def arr(xs):
    for x in xs:
        if not x or any(c in x for c in ',{}"\\ \''):
            raise SystemExit(f"channel {x!r} needs quoting")
    return q("{" + ",".join(xs) + "}")


def values_stmt(out, head, rows, tail="", chunk=200):
    for i in range(0, len(rows), chunk):
        part = rows[i:i + chunk]
        out.append(head)
        out.append(",\n".join("    (" + ", ".join(r) + ")" for r in part))
        out.append(tail + ";\n" if tail else ";\n")


# 一件事一次办: life-event bundles of the city's items (code, name, audience, description,
# members by implementation code, in the order a resident goes through them).
BUNDLES = [
    ("newborn", "新生儿出生一件事", "person",
     "孩子出生后，一次填表、一次提交，办理出生医学证明、出生登记（落户）和城乡居民医保参保。",
     ["GG00050000-320700-WJ", "QR00001000-320700-GA", "GG00032000-320700-YB"]),
    ("company-start", "开办企业一件事", "company",
     "企业设立登记、印章刻制备案、职工养老保险参保登记和住房公积金单位缴存登记一次办结。",
     ["XK00013000-320700-SCJG", "GG00017000-320700-GA", "GG00026000-320700-RS",
      "GG00039000-320700-GJJ"]),
]


def render(depts, basics, items):
    out = []
    out.append("-- Demo seed data for the catalog schema (连云港市 一网通办).\n"
               "-- GENERATED by services/catalog/seed/gen_demo.py; edit the generator, not this file.\n"
               "-- Load after migrations/001_catalog.sql:  psql -v ON_ERROR_STOP=1 -f demo.sql\n"
               "-- Idempotent: clears every catalog table and inserts the same rows again.\n")
    out.append("BEGIN;\n")
    out.append("-- Stored item versions never change (008_item_versions.sql); a demo reset clears them\n"
               "-- with triggers off, which only a superuser may do.")
    out.append("SET LOCAL session_replication_role = replica;")
    out.append("DELETE FROM catalog.item_versions;")
    out.append("SET LOCAL session_replication_role = origin;")
    for t in ("bundle_items", "bundles", "item_topics", "item_steps", "item_materials", "items",
              "basic_items", "topics", "departments", "regions"):
        out.append(f"DELETE FROM catalog.{t};")
    out.append("-- Restart item ids so that a reload yields identical rows.")
    out.append("DO $$ BEGIN PERFORM setval(pg_get_serial_sequence('catalog.items', 'id'), 1, false); END $$;\n")

    out.append("-- Regions (行政区划代码).")
    values_stmt(out, "INSERT INTO catalog.regions (code, name, level, parent_code) VALUES",
                [[q(c), q(n), q(lv), q(p)] for c, n, lv, p in REGIONS])

    out.append("-- Departments.")
    values_stmt(out, "INSERT INTO catalog.departments (code, name, region_code, phone, sort) VALUES",
                [[q(c), q(n), q(r), q(ph), str(i + 1)] for i, (c, n, r, ph) in enumerate(depts)])

    out.append("-- Topics (life events of persons and companies).")
    sorts = {}
    rows = []
    for code, name, aud in TOPICS:
        sorts[aud] = sorts.get(aud, 0) + 1
        rows.append([q(code), q(name), q(aud), str(sorts[aud])])
    values_stmt(out, "INSERT INTO catalog.topics (code, name, audience, sort) VALUES", rows)

    out.append("-- Basic items (基本目录): one name, type and legal basis per basic code, and the\n"
               "-- department (by its suffix) the code belongs to.")
    values_stmt(out, "INSERT INTO catalog.basic_items (basic_code, name, type, legal_basis, owner) VALUES",
                [[q(c), q(n), q(t), q(lb), q(o)] for c, n, t, lb, o in basics])

    out.append("-- Items (实施清单): every basic item at city level, some also at province, county or town level.")
    cols = ("basic_code, impl_code, name, type, department_code, region_code, level, legal_basis, "
            "conditions, fee_required, fee_amount_fen, fee_basis, legal_limit_days, "
            "promised_limit_days, processing_kind, online_depth, channels, consult_phone, "
            "keywords, version, status, created_at, updated_at, effective_from, details")
    dept_name = {c: name for c, name, _, _ in depts}
    rows = [[q(i["basic"]), q(i["impl"]), q(i["name"]), q(i["type"]), q(i["dept"]), q(i["region"]),
             q(i["level"]), q(i["basis"]), q(i["cond"]), b(i["fee_required"]), str(i["fee_fen"]),
             q(i["fee_basis"]), str(i["legal"]), str(i["promised"]), q(i["kind"]), str(i["depth"]),
             arr(i["channels"]), q(i["phone"]), q(i["kw"]), str(i["version"]), q(i["status"]),
             q(i["created"]), q(i["updated"]), q(i["updated"]),
             q(json.dumps(details(i, n, dept_name[i["dept"]]), ensure_ascii=False,
                          separators=(",", ":")))] for n, i in enumerate(items)]
    values_stmt(out, f"INSERT INTO catalog.items ({cols}) VALUES", rows, chunk=100)

    out.append("-- Materials (申请材料), joined to items by implementation code.")
    rows = []
    for i in items:
        for seq, (name, form, copies, req, lr, note) in enumerate(i["mats"], 1):
            rows.append([q(i["impl"]), str(seq), q(name), q(form), str(copies), b(req), b(lr), q(note)])
    values_stmt(out, "INSERT INTO catalog.item_materials (item_id, seq, name, form, copies, required, "
                "license_replaceable, note)\nSELECT i.id, v.seq, v.name, v.form, v.copies, v.required, "
                "v.license_replaceable, v.note FROM (VALUES", rows,
                tail=") AS v (impl_code, seq, name, form, copies, required, license_replaceable, note)\n"
                     "JOIN catalog.items i ON i.impl_code = v.impl_code", chunk=300)
    n_mats = len(rows)

    out.append("-- Process steps (办理流程).")
    rows = []
    for i in items:
        for seq, (name, desc) in enumerate(i["steps"], 1):
            rows.append([q(i["impl"]), str(seq), q(name), q(desc)])
    values_stmt(out, "INSERT INTO catalog.item_steps (item_id, seq, name, description)\n"
                "SELECT i.id, v.seq, v.name, v.description FROM (VALUES", rows,
                tail=") AS v (impl_code, seq, name, description)\n"
                     "JOIN catalog.items i ON i.impl_code = v.impl_code", chunk=300)
    n_steps = len(rows)

    out.append("-- Topics of items (主题分类).")
    rows = [[q(i["impl"]), q(t)] for i in items for t in i["topics"]]
    values_stmt(out, "INSERT INTO catalog.item_topics (item_id, topic_code)\n"
                "SELECT i.id, v.topic_code FROM (VALUES", rows,
                tail=") AS v (impl_code, topic_code)\n"
                     "JOIN catalog.items i ON i.impl_code = v.impl_code", chunk=300)
    n_topics = len(rows)

    out.append("-- Life-event bundles (一件事一次办) of the city's items.")
    impls = {i["impl"] for i in items}
    for _, _, _, _, members in BUNDLES:
        for m in members:
            assert m in impls, m
    values_stmt(out, "INSERT INTO catalog.bundles (code, name, description, region_code, audience) VALUES",
                [[q(c), q(n), q(d), q("320700"), q(aud)] for c, n, aud, d, _ in BUNDLES])
    values_stmt(out, "INSERT INTO catalog.bundle_items (bundle_code, seq, impl_code) VALUES",
                [[q(c), str(seq), q(m)] for c, _, _, _, members in BUNDLES
                 for seq, m in enumerate(members, 1)])
    n_bundle_items = sum(len(m) for *_, m in BUNDLES)

    counts = [("regions", len(REGIONS)), ("departments", len(depts)), ("topics", len(TOPICS)),
              ("basic_items", len(basics)), ("items", len(items)), ("item_materials", n_mats),
              ("item_steps", n_steps), ("item_topics", n_topics), ("bundles", len(BUNDLES)),
              ("bundle_items", n_bundle_items)]
    out.append("-- Application forms (lib/yw_form.h) of popular items, at every level.")
    for code in sorted(FORMS):
        out.append("UPDATE catalog.items SET form = "
                   + q(json.dumps(FORMS[code], ensure_ascii=False, separators=(",", ":")))
                   + "::jsonb WHERE basic_code = " + q(code) + ";")
    out.append("")
    out.append("-- The files the items name count as uploaded by their items' departments (what")
    out.append("-- UpsertItem asks of a new reference; ./dev up stores their bytes in yw-files).")
    out.append("INSERT INTO catalog.item_file_uploads (sha256, size, content_type, department, platform, actor,\n"
               "                                       source)\n"
               "SELECT DISTINCT r.ref->>'sha256', (r.ref->>'size')::bigint, r.ref->>'contentType',\n"
               "       i.department_code, false, '', 'seed'\n"
               "FROM catalog.items i CROSS JOIN LATERAL catalog.details_refs(i.details) r;")
    out.append("")
    out.append("-- Every row above must have landed (the joins drop rows whose impl_code is unknown).")
    out.append("DO $$\nDECLARE\n    n bigint;\nBEGIN")
    for t, c in counts:
        out.append(f"    SELECT count(*) INTO n FROM catalog.{t};\n"
                   f"    IF n <> {c} THEN RAISE EXCEPTION 'catalog.{t}: % rows, expected {c}', n; END IF;")
    out.append("END $$;\n")
    out.append("COMMIT;")
    return "\n".join(out) + "\n", counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output",
                    default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.sql"))
    ap.add_argument("--files", metavar="DIR",
                    help="also write the demo's form and sample PDFs into DIR, one per file,"
                         " named <sha256>.pdf (what ./dev up stores in yw-files)")
    args = ap.parse_args()
    depts, basics, items = build()
    sql, counts = render(depts, basics, items)
    if args.files:
        os.makedirs(args.files, exist_ok=True)
        for digest, data in sorted(FILES.items()):
            with open(os.path.join(args.files, digest + ".pdf"), "wb") as f:
                f.write(data)
    if args.output == "-":
        sys.stdout.write(sql)
    else:
        with open(args.output, "w", encoding="utf-8", newline="\n") as f:
            f.write(sql)
    levels = {}
    for i in items:
        levels[i["level"]] = levels.get(i["level"], 0) + 1
    multi = sum(1 for d in DEFS if d["levels"])
    print(", ".join(f"{t} {c}" for t, c in counts), file=sys.stderr)
    print("items by level: " + ", ".join(f"{k} {v}" for k, v in sorted(levels.items())),
          f"; basic items at more than one level: {multi}", file=sys.stderr)
    for name in ("居民身份证换领", "企业设立登记"):
        for i in items:
            if i["name"] == name and i["level"] == "city":
                print(f"{name}: basic_code {i['basic']}, impl_code {i['impl']}", file=sys.stderr)


if __name__ == "__main__":
    main()
