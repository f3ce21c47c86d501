#!/usr/bin/env bash
# e2e_resident_pages.sh - the residents' service guide (web/resident/, 办事指南) in a real
# browser: the system started as in the other e2e tests with the demo catalog, the pages
# served by yw-gateway at /, and headless Chromium (Debian's /usr/bin/chromium) driven by
# tests/web/resident.spec.js with playwright-core (tests/web, `npm ci` by ./dev test).
# Checks here: the page's assets are content-hashed under their true hash and sent as
# immutable, the page with the gateway's CSP; a department administrator publishes a new
# version of a seeded item through the API (every national field filled, a fee in
# yuan and fen, a text with markup in it). Then the browser (resident.spec.js): search
# from a chosen place (kept in localStorage) with paging, a result opening its guide,
# the guide showing every field of the JSON guide under its data-field, fees in yuan,
# the versions with their windows and the old version's values, an unknown code and a
# refused search showing the API's message, code and request id; the item's blank form
# downloaded through its link with the bytes its reference names; no request leaves the
# origin, no console error, nothing wider than a phone's screen.
source "$(dirname "$0")/lib.sh"

e2e_browser_tools "the residents' pages"

export YW_GATEWAY_STATIC="/=$YW_SOURCE_DIR/web/resident"
e2e_database
# more than 1,000 items in all (the search counts up to 1001, "more than 1,000"): the
# demo city's items copied to other cities of the province by bench/gen_province.py
/usr/bin/python3 "$YW_SOURCE_DIR/bench/gen_province.py" |
  psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -q -v ON_ERROR_STOP=1 -v items=1200 >/dev/null
e2e_start

# --- the item the browser reads: 居民身份证换领 of the city's public security bureau
# (seeded with an application form, fee items, halls ...), and a place below the city
ITEM=GG00002000-320700-GA
PLACE=320706001 # 海州街道 (海州区, 连云港市)
J="$E2E_TMP/item.json"
S="$(curl -sS -o "$J" -w '%{http_code}' "$GW/v1/items/$ITEM")"
check "the seeded item $ITEM is published (200)" test "$S" = 200
OLD_VERSION="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$J")"
cp "$J" "$E2E_TMP/old.json"

# --- a new version, written by the department's administrator: every list of the
# national fields filled (those the seed leaves empty too), other values changed, one
# time limit in natural days and one left unspecified (working days), amounts in fen that
# need thousands in yuan, and a text with markup that must come out as text
e2e_staff ga.admin 320700-GA dept_admin,dept_staff
ADMIN="$(e2e_staff_token ga.admin)"
python3 - "$J" "$E2E_TMP/put.json" <<'PY'
import json, sys
it = json.load(open(sys.argv[1]))
for k in ("version", "status", "updatedAt", "effectiveFrom", "effectiveTo", "regionName", "departmentName"):
    it.pop(k, None)
d = it.setdefault("details", {})
it["conditions"] = it["conditions"] + "（第二版：另须近期免冠照片一张）"
it["promisedLimitDays"] = it.get("promisedLimitDays", 0) + 3
it["fee"] = dict(it.get("fee", {}), required=True, amountFen="123456789")
d["promisedLimitUnit"] = "NATURAL_DAY"
d["legalLimitUnit"] = "TIME_UNIT_UNSPECIFIED" # absent from the JSON: read as working days
d["jointDepartments"] = ["320700-MZ", "连云港市行政审批局"]
d["intermediaries"] = [{"name": "证件照片拍摄", "basis": "《居民身份证法》", "required": True}]
d["faqs"] = d.get("faqs", []) + [{"question": "可以<b>加急</b>吗？", "answer": "<img src=x>不可以，按时限办理。"}]
d["feeItems"] = [{"name": "居民身份证工本费", "tiers": [
    {"condition": "首次申领、到期换领", "amountFen": "2000"},
    {"condition": "丢失补领、损坏换领", "amountFen": "4005"},
    {"condition": "团体代办（每百人）", "amountFen": "123456789"}],
    "basis": "《关于居民身份证收费标准的通知》", "waiver": "低保对象免收。"}]
d["expressDelivery"] = True
d["appointment"] = True
d["onlinePayment"] = False
d["inHall"] = True
d["subCases"] = d.get("subCases", []) + [{"code": it["implCode"] + "-02", "name": "居民身份证换领（到期换领）",
                                            "conditions": "有效期满前三个月内。"}]
json.dump({"item": it}, open(sys.argv[2], "w"), ensure_ascii=False)
PY
S="$(curl -sS -o "$J" -w '%{http_code}' -X PUT "$GW/v1/items/$ITEM" -H "authorization: Bearer $ADMIN" \
  -H 'content-type: application/json' -H "idempotency-key: resident-$RANDOM$RANDOM" \
  --data-binary "@$E2E_TMP/put.json")"
check "the department administrator publishes a new version of $ITEM (200)" test "$S" = 200
NEW_VERSION="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("version", 0))' "$J")"
check "it is version $((OLD_VERSION + 1)) (got $NEW_VERSION)" test "$NEW_VERSION" = "$((OLD_VERSION + 1))"
versions_listed() {
  curl -sS "$GW/v1/items/$ITEM/versions" | python3 -c '
import json, sys
v = [x["version"] for x in json.load(sys.stdin)["versions"]]
sys.exit(0 if v[:2] == [int(sys.argv[1]), int(sys.argv[2])] else 1)' "$NEW_VERSION" "$OLD_VERSION"
}
check "the API lists both versions, newest first" versions_listed

# --- the item's blank and sample forms and result sample, in the file store as ./dev up
# puts them (the demo's PDFs, uploaded by the department through POST /v1/item-files)
check "the department stores the item's form and sample files (200)" \
  test "$(e2e_item_files "$ADMIN" "$ITEM" | sort -u)" = 200

# --- the page folder's rules: assets named by their content hash and immutable, no
# inline script or style, no other origin, the CSP
e2e_web_page "$YW_SOURCE_DIR/web/resident" /

# --- the browser
e2e_browser_run resident.spec.js YW_GW="$GW" YW_ITEM="$ITEM" YW_PLACE="$PLACE" \
  YW_OLD_VERSION="$OLD_VERSION" YW_NEW_VERSION="$NEW_VERSION"

finish
