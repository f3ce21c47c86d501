#!/usr/bin/env bash
# e2e_catalog_writes.sh - who may write what in the catalog, through the real gateway and
# the real catalog running as a non-superuser database role: a department writes only
# the items it holds (checked against the stored row), a move between departments is a
# platform administrator's act and audited; an update that omits the status keeps it and
# keywords round-trip; 三级四同 follows the province's basic list, with the legal basis
# normalised and implementation codes derived from their basic code; the audit log
# cannot be emptied or altered by the service's role; renaming a department refreshes
# the search documents of its items.
source "$(dirname "$0")/lib.sh"

e2e_database
e2e_start
B="$E2E_TMP/body"
H="$E2E_TMP/headers"
PSQL=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qtA)
e2e_staff ga.admin 320700-GA dept_admin,dept_staff
e2e_staff mz.admin 320700-MZ dept_admin,dept_staff
e2e_staff platform.admin "" platform_admin
GA="$(e2e_staff_token ga.admin)"
MZ="$(e2e_staff_token mz.admin)"
PLAT="$(e2e_staff_token platform.admin)"
check "staff log in" test -n "$GA" -a -n "$MZ" -a -n "$PLAT"

sql() { "${PSQL[@]}" -c "$1"; }
holds() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$B')); sys.exit(0 if ($1) else 1)"; }
holds_block() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$B'))
$1"; }
expect_status() { # expect_status NAME WANT
  if [ "$S" = "$2" ]; then pass "$1"; else fail "$1 (got $S: $(head -c 300 "$B"))"; fi
}
put() { # put TOKEN CODE BODY [curl args...] -> $S status, $B body, $H headers
  local t="$1" c="$2" d="$3"; shift 3
  S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' -X PUT "$GW/v1/items/$c" \
    -H "authorization: Bearer $t" -H 'content-type: application/json' --data-binary "$d" "$@")"
}
get() { S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' "$GW$1")"; }
# body FILE PYTHON -> the item in FILE as an UpsertItem body, after PYTHON changed `it`
body() {
  /usr/bin/python3 -c "
import json; it = json.load(open('$1'))
$2
print(json.dumps({'item': it}, ensure_ascii=False))"
}
city_item() { # city_item DEPARTMENT -> the implementation code of one of its items, none edited here
  sql "SELECT impl_code FROM catalog.items WHERE department_code = '$1' AND status = 'published' AND level = 'city' AND impl_code NOT IN (SELECT target FROM catalog.audit_log) ORDER BY impl_code LIMIT 1"
}

# --- 1. a department writes only what it holds; moving an item is the platform's act
MZ_ITEM="$(city_item 320700-MZ)"
get "/v1/items/$MZ_ITEM"; cp "$B" "$E2E_TMP/mz.json"
put "$GA" "$MZ_ITEM" "$(body "$E2E_TMP/mz.json" "it['departmentCode'] = '320700-GA'; it['status'] = 'RETIRED'")"
expect_status "公安 taking over a 民政 item (its department and status rewritten) is 403" 403
check "403 has the standard error body" holds "d['code']=='PERMISSION_DENIED' and d['requestId']"
check "the item still belongs to 民政, published" \
  test "$(sql "SELECT department_code || ' ' || status FROM catalog.items WHERE impl_code = '$MZ_ITEM'")" = "320700-MZ published"
put "$GA" "$MZ_ITEM" "$(body "$E2E_TMP/mz.json" "it['conditions'] += '（公安改）'")"
expect_status "公安 editing a 民政 item, its department left as it is, is 403" 403
put "$MZ" "$MZ_ITEM" "$(body "$E2E_TMP/mz.json" "it['departmentCode'] = '320700-GA'")"
expect_status "民政 giving its item to 公安 is 403 (a platform administrator's act)" 403
put "$MZ" "$MZ_ITEM" "$(body "$E2E_TMP/mz.json" "it['regionCode'] = '320706'; it['level'] = 'COUNTY'")"
expect_status "民政 moving its item to another region is 403" 403
check "nothing of that was written" \
  test "$(sql "SELECT count(*) FROM catalog.audit_log WHERE target = '$MZ_ITEM'")" = 0
put "$MZ" "$MZ_ITEM" "$(body "$E2E_TMP/mz.json" "it['conditions'] += '（民政改）'")"
expect_status "民政 editing its own item is 200" 200
put "$PLAT" "$MZ_ITEM" "$(body "$E2E_TMP/mz.json" "it['departmentCode'] = '320700-GA'")"
expect_status "a platform administrator moves the item to 公安 (200)" 200
check "the item now belongs to 公安" \
  test "$(sql "SELECT department_code FROM catalog.items WHERE impl_code = '$MZ_ITEM'")" = 320700-GA
check "the move is audited with both departments" \
  test "$(sql "SELECT count(*) FROM catalog.audit_log WHERE target = '$MZ_ITEM' AND action = 'item_move' AND detail = '320700-MZ -> 320700-GA'")" = 1
put "$MZ" "$MZ_ITEM" "$(body "$E2E_TMP/mz.json" "it['conditions'] += '（民政再改）'")"
expect_status "民政 no longer edits the moved item (403)" 403

# --- 2. an update without a status keeps it; keywords round-trip
MZ_ITEM2="$(city_item 320700-MZ)"
get "/v1/items/$MZ_ITEM2"; cp "$B" "$E2E_TMP/mz2.json"
check "the guide carries the item's keywords" holds "len(d.get('keywords', '')) > 0"
put "$MZ" "$MZ_ITEM2" "$(body "$E2E_TMP/mz2.json" "del it['status']; it['conditions'] += '（无状态）'")"
expect_status "an update that omits the status is 200" 200
check "and the item stays published" \
  test "$(sql "SELECT status FROM catalog.items WHERE impl_code = '$MZ_ITEM2'")" = published
get "/v1/items/$MZ_ITEM2"
check "residents still read it" test "$S" = 200
cp "$B" "$E2E_TMP/mz2-after.json"
check "the keywords survived the update" /usr/bin/python3 -c "
import json; a = json.load(open('$E2E_TMP/mz2.json')); b = json.load(open('$E2E_TMP/mz2-after.json'))
assert a.get('keywords') and a.get('keywords') == b.get('keywords')"
put "$MZ" "$MZ_ITEM2" "$(body "$E2E_TMP/mz2.json" "it['keywords'] = it.get('keywords', '') + ' 蓝鲸同义词'")"
expect_status "an update with new keywords is 200" 200
check "the answer carries them" holds "d['keywords'].endswith(' 蓝鲸同义词')"
get "/v1/items?q=%E8%93%9D%E9%B2%B8%E5%90%8C%E4%B9%89%E8%AF%8D"
check "search finds the item by its new keyword" holds "[i['implCode'] for i in d['items']] == ['$MZ_ITEM2']"

# --- 3. 三级四同 follows the province's basic list
e2e_staff hz.ga 320706-GA dept_admin
e2e_staff js.ga 320000-GA dept_admin
HZ="$(e2e_staff_token hz.ga)"
JS="$(e2e_staff_token js.ga)"
COUNTY="$(sql "SELECT impl_code FROM catalog.items WHERE department_code = '320706-GA' AND status = 'published' ORDER BY impl_code LIMIT 1")"
get "/v1/items/$COUNTY"; cp "$B" "$E2E_TMP/county.json"
# the new items below name the files of these two: the store must hold them
check "the county's and the province's items' files are stored (200)" \
  test "$(e2e_item_files "$HZ" "$COUNTY" XK00012000-320000-GA | sort -u)" = 200
WIDTH="s = it['legalBasis']
for f, h in (('；', ';'), ('，', ','), ('（', '('), ('）', ')'), ('：', ':')): s = s.replace(f, h)
it['legalBasis'] = ' ' + s.replace('》', '》 ') + '　'"
put "$HZ" "$COUNTY" "$(body "$E2E_TMP/county.json" "$WIDTH")"
expect_status "a county item whose legal basis differs only in punctuation width and spaces is 200" 200
put "$HZ" "$COUNTY" "$(body "$E2E_TMP/county.json" "it['name'] += '（县定）'")"
expect_status "a county item with another name than the basic list's is refused (412)" 412
check "412 says FAILED_PRECONDITION" holds "d['code']=='FAILED_PRECONDITION' and 'every level' in d['message']"
put "$HZ" "GG09990000-320706-GA" "$(body "$E2E_TMP/county.json" "it['basicCode'] = 'GG09990000'; it['implCode'] = 'GG09990000-320706-GA'; it['name'] = '县里自定的事项'")"
expect_status "a county cannot start a basic code of its own (412)" 412
check "and the basic list did not grow" test "$(sql "SELECT count(*) FROM catalog.basic_items WHERE basic_code = 'GG09990000'")" = 0
# the province renames a basic item through its own item; every level follows
PROV=XK00012000-320000-GA
get "/v1/items/$PROV"; cp "$B" "$E2E_TMP/prov.json"
put "$JS" "$PROV" "$(body "$E2E_TMP/prov.json" "it['name'] = '保安服务公司设立许可（省定）'")"
expect_status "the province renames a basic item (200)" 200
check "the basic list carries the new name" \
  test "$(sql "SELECT name FROM catalog.basic_items WHERE basic_code = 'XK00012000'")" = '保安服务公司设立许可（省定）'
check "the city's item of that basic code follows" \
  test "$(sql "SELECT name FROM catalog.items WHERE impl_code = 'XK00012000-320700-GA'")" = '保安服务公司设立许可（省定）'
check "the province's change is audited" \
  test "$(sql "SELECT count(*) FROM catalog.audit_log WHERE action = 'basic_item_set' AND target = 'XK00012000'")" = 1
# codes: 实施编码 = 基本编码 "-" the implementing department's code, in its region
NEW="it['basicCode'] = 'GG09991000'; it['name'] = '省级新设事项'; it['departmentCode'] = '320000-GA'"
put "$PLAT" "GG09991000-320000-XX" "$(body "$E2E_TMP/prov.json" "$NEW; it['implCode'] = 'GG09991000-320000-XX'")"
expect_status "an implementation code not derived from its basic code and department is 400" 400
check "400 names the rule" holds "d['code']=='INVALID_ARGUMENT' and 'GG09991000-320000-GA' in d['message']"
put "$PLAT" "GG0999-320000-GA" "$(body "$E2E_TMP/prov.json" "$NEW; it['basicCode'] = 'GG0999'; it['implCode'] = 'GG0999-320000-GA'")"
expect_status "a basic code outside the layout (2 letters, 8 digits) is 400" 400
put "$JS" "GG09991000-320000-GA" "$(body "$E2E_TMP/prov.json" "$NEW; it['implCode'] = 'GG09991000-320000-GA'")"
expect_status "the province starts a new basic item with a derived code (200)" 200
put "$HZ" "GG09991000-320706-GA" "$(body "$E2E_TMP/county.json" "it['basicCode'] = 'GG09991000'; it['implCode'] = 'GG09991000-320706-GA'; it['name'] = '省级新设事项'; it['type'] = 'ADMINISTRATIVE_LICENSE'; it['legalBasis'] = json.load(open('$E2E_TMP/prov.json'))['legalBasis']")"
expect_status "a county implements it under the same name, type and basis (200)" 200
put "$PLAT" "GG09991000-320706-GA" "$(body "$E2E_TMP/county.json" "it['basicCode'] = 'GG09991000'; it['implCode'] = 'GG09991000-320706-GA'; it['name'] = '省级新设事项'; it['type'] = 'ADMINISTRATIVE_LICENSE'; it['legalBasis'] = json.load(open('$E2E_TMP/prov.json'))['legalBasis']; it['regionCode'] = '320707'")"
expect_status "an item outside its department's region is 400" 400

# --- 4. the audit log cannot be emptied or altered by the service's role
AS_SERVICE=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U yw_catalog -d "$E2E_DB" -qtA)
refused() { # refused NAME WANT SQL: the service's role tries SQL and gets an error saying WANT
  local out; out="$("${AS_SERVICE[@]}" -c "$3" 2>&1)" && { fail "$1 (it ran)"; return; }
  case "$out" in *"$2"*) pass "$1" ;; *) fail "$1 ($out)" ;; esac
}
check "the catalog runs as a role that is no superuser" \
  test "$(sql "SELECT count(*) FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename WHERE a.datname = current_database() AND a.usename = 'yw_catalog' AND NOT r.rolsuper")" -ge 1
check "the audit log belongs to a role the service is no member of" \
  test "$(sql "SELECT tableowner = 'yw_catalog_audit' AND NOT pg_has_role('yw_catalog', tableowner, 'MEMBER') FROM pg_tables WHERE schemaname = 'catalog' AND tablename = 'audit_log'")" = t
AUDITED="$(sql "SELECT count(*) FROM catalog.audit_log")"
refused "the service's role cannot TRUNCATE the audit log" "permission denied" "TRUNCATE catalog.audit_log"
refused "nor DELETE from it" "permission denied" "DELETE FROM catalog.audit_log"
refused "nor UPDATE it" "permission denied" "UPDATE catalog.audit_log SET actor = 'x'"
refused "nor disable its triggers" "must be owner" "ALTER TABLE catalog.audit_log DISABLE TRIGGER ALL"
refused "nor drop its triggers" "must be owner" "DROP TRIGGER audit_log_no_change ON catalog.audit_log"
refused "nor take the 三级四同 trigger off the items" "must be owner" "DROP TRIGGER items_same_basic ON catalog.items"
refused "nor create tables in public (the PostgreSQL 15 default)" "permission denied" "CREATE TABLE public.x (a int)"
OUT="$(sql "TRUNCATE catalog.audit_log" 2>&1 || true)"
case "$OUT" in *append-only*) pass "even its owner's TRUNCATE is refused by a trigger" ;; *) fail "TRUNCATE by the owner ($OUT)" ;; esac
check "the audit log kept every record" test "$(sql "SELECT count(*) FROM catalog.audit_log")" = "$AUDITED"

# --- 5. renaming a department refreshes the search documents of its items
SCJG_ITEMS="$(sql "SELECT count(*) FROM catalog.items WHERE department_code = '320700-SCJG' AND status = 'published'")"
sql "UPDATE catalog.departments SET name = '连云港市蓝鲸测试局' WHERE code = '320700-SCJG'" >/dev/null
get "/v1/items?q=%E8%93%9D%E9%B2%B8%E6%B5%8B%E8%AF%95%E5%B1%80&pageSize=100"
check "search by the department's new name finds all its items" \
  holds "d.get('totalSize') == $SCJG_ITEMS and all(i['departmentCode'] == '320700-SCJG' for i in d['items'])"
check "and they are some" test "$SCJG_ITEMS" -gt 0
check "no item still carries the old name in its search document" \
  test "$(sql "SELECT count(*) FROM catalog.items WHERE department_code = '320700-SCJG' AND strpos(search_text, '连云港市市场监督管理局') > 0")" = 0

# --- versions: a published version never changes; edits make new ones, still readable
V_ITEM="$(city_item 320700-MZ)"
get "/v1/items/$V_ITEM"; cp "$B" "$E2E_TMP/v1.json"
V0="$(/usr/bin/python3 -c "import json; print(json.load(open('$E2E_TMP/v1.json'))['version'])")"
check "the guide names its version and when it took effect" holds "d['version'] >= 1 and d['effectiveFrom'] and not d.get('effectiveTo')"
put "$MZ" "$V_ITEM" "$(body "$E2E_TMP/v1.json" "it['conditions'] = '第二版条件'")"
expect_status "an edit is 200" 200
check "the edit is a new version" holds "d['version'] == $V0 + 1 and d['conditions'] == '第二版条件'"
put "$MZ" "$V_ITEM" "$(body "$E2E_TMP/v1.json" "it['conditions'] = '第三版条件'")"
check "a second edit is the version after" holds "d['version'] == $V0 + 2"
get "/v1/items/$V_ITEM/versions"
check "GET /versions lists every version, newest first" \
  holds "[v['version'] for v in d['versions']] == [$V0 + 2, $V0 + 1, $V0]"
check "each earlier window ends where the next begins; the newest is open" holds_block "
vs = d['versions']
assert not vs[0].get('effectiveTo')
assert all(vs[i + 1]['effectiveTo'] == vs[i]['effectiveFrom'] for i in range(len(vs) - 1)), vs"
get "/v1/items/$V_ITEM?version=$V0"
check "the first version is still readable as it was" \
  holds "d['version'] == $V0 and d['conditions'] == json.load(open('$E2E_TMP/v1.json'))['conditions'] and d['effectiveTo']"
get "/v1/items/$V_ITEM?version=$((V0 + 1))"
check "and so is the second" holds "d['version'] == $V0 + 1 and d['conditions'] == '第二版条件'"
get "/v1/items/$V_ITEM?version=$((V0 + 1))"
check "a version read again comes from the cache, the same" holds "d['conditions'] == '第二版条件'"
get "/v1/items/$V_ITEM"
check "without a version the guide is the newest" holds "d['version'] == $V0 + 2 and d['conditions'] == '第三版条件'"
get "/v1/items/$V_ITEM?version=$((V0 + 9))"
check "a version that does not exist is 404" test "$S" = 404
get "/v1/items/$V_ITEM?version=-1"
check "a negative version is 400" test "$S" = 400
refused "a stored version cannot be changed, even by the service" "never changes" \
  "UPDATE catalog.item_versions SET status = 'retired' WHERE version = $V0"
check "nor by the owner" sh -c "! ${PSQL[*]} -c \"UPDATE catalog.item_versions SET body = '' WHERE version = $V0\" 2>/dev/null"
put "$MZ" "$V_ITEM" "$(body "$E2E_TMP/v1.json" "it['conditions'] = '草稿条件'; it['status'] = 'DRAFT'")"
get "/v1/items/$V_ITEM/versions"
check "a draft version is not listed to residents" holds "d['versions'][0]['version'] == $V0 + 2"
get "/v1/items/$V_ITEM?version=$((V0 + 3))"
check "nor readable" test "$S" = 404

# --- the national fields of an item: in the guide of a seeded item, written and kept
ID_CARD="$(sql "SELECT impl_code FROM catalog.items WHERE name = '居民身份证换领' AND level = 'city'")"
get "/v1/items/$ID_CARD"
check "the guide of a seeded item shows the national fields" holds_block "
x = d['details']
h = x['halls'][0]
assert h['name'] and h['address'] and h['hours'], h
assert x['complaintPhone'] == '12345'
assert x.get('atMostOneVisit', False) == (x.get('maxVisits', 0) <= 1)
for k in ('expressDelivery', 'appointment', 'inHall'): assert x.get(k) is True, k
assert x['tongbanScope'] in ('CITY_WIDE', 'PROVINCE_WIDE', 'CROSS_PROVINCE'), x['tongbanScope']
assert x['audiences'] == ['NATURAL_PERSON']
assert x['powerSource'] and x['subCases'][0]['name'] and x['subCases'][0]['code'].startswith('$ID_CARD')
assert x['legalLimitUnit'] == 'WORKING_DAY' and x['promisedLimitUnit'] == 'WORKING_DAY'
r = x['results'][0]; assert r['name'] and r['type'] and len(r['sample']['sha256']) == 64
assert x['faqs'][0]['question'] and x['faqs'][0]['answer']
f = x['forms'][0]; assert f['name'] and len(f['blank']['sha256']) == 64 and len(f['sample']['sha256']) == 64
assert x['minRealnameLevel'] == 2
fee = x['feeItems'][0]
assert fee['basis'] and fee['waiver'] and [t['amountFen'] for t in fee['tiers']] == ['2000', '4000'], fee"
RICH="$(sql "SELECT impl_code FROM catalog.items WHERE jsonb_array_length(details->'jointDepartments') > 0 AND status = 'published' ORDER BY impl_code LIMIT 1")"
get "/v1/items/$RICH"
check "joint departments and a second sub-case show where the seed has them" \
  holds "d['details']['jointDepartments'] and len(d['details']['subCases']) == 2"
LIC="$(sql "SELECT impl_code FROM catalog.items WHERE jsonb_array_length(details->'intermediaries') > 0 AND status = 'published' ORDER BY impl_code LIMIT 1")"
get "/v1/items/$LIC"
check "intermediary services show where the seed has them" holds "d['details']['intermediaries'][0]['name']"
get "/v1/items?q=%E5%8F%98%E6%9B%B4%E6%83%85%E5%BD%A2&pageSize=100"
check "search finds items by the name of a sub-case" holds "'$RICH' in [i['implCode'] for i in d['items']]"

get "/v1/items?atMostOneVisit=true&pageSize=5"
check "search filters 最多跑一次 items" \
  holds "d['totalSize'] == $(sql "SELECT count(*) FROM catalog.items WHERE status = 'published' AND (details->>'atMostOneVisit')::boolean") > 0"
get "/v1/items?tongban=PROVINCE_WIDE&pageSize=5"
check "search filters by 通办范围, the wider scopes included" \
  holds "d['totalSize'] == $(sql "SELECT count(*) FROM catalog.items WHERE status = 'published' AND details->>'tongbanScope' IN ('PROVINCE_WIDE', 'CROSS_PROVINCE')") > 0"
get "/v1/items?tongban=EVERYWHERE"
check "an unknown 通办范围 is 400" test "$S" = 400
get "/v1/items?place=320706001&pageSize=100"
check "a place lists the items of that town and of the regions above it" \
  holds "d['totalSize'] == $(sql "SELECT count(*) FROM catalog.items WHERE status = 'published' AND region_code IN ('320000', '320700', '320706', '320706001')") > 0 and {i['regionCode'] for i in d['items']} <= {'320000', '320700', '320706', '320706001'}"
get "/v1/items?place=329999"
check "an unknown place is 400" test "$S" = 400

GA_ITEM="$(city_item 320700-GA)"
get "/v1/items/$GA_ITEM"; cp "$B" "$E2E_TMP/ga.json"
GA_V="$(/usr/bin/python3 -c "import json; print(json.load(open('$E2E_TMP/ga.json'))['version'])")"
put "$GA" "$GA_ITEM" "$(body "$E2E_TMP/ga.json" "x = it['details']; x['faqs'].append({'question': '可以邮寄吗？', 'answer': '可以，免费寄递。'}); x['tongbanScope'] = 'PROVINCE_WIDE'; x['feeItems'] = [{'name': '工本费', 'tiers': [{'condition': '每证', 'amountFen': '1000'}], 'basis': '收费依据', 'waiver': '低保对象免收'}]")"
expect_status "national fields are written through the API (200)" 200
get "/v1/items/$GA_ITEM"
check "and read back" holds "d['details']['faqs'][-1]['question'] == '可以邮寄吗？' and d['details']['tongbanScope'] == 'PROVINCE_WIDE' and d['details']['feeItems'][0]['tiers'][0]['amountFen'] == '1000'"
get "/v1/items/$GA_ITEM?version=$GA_V"
check "the version before keeps its own" holds "d['details']['faqs'][-1]['question'] != '可以邮寄吗？'"
bad() { # bad NAME PYTHON: the item with PYTHON applied to `x` (its details) is 400
  put "$GA" "$GA_ITEM" "$(body "$E2E_TMP/ga.json" "x = it['details']; $2")"
  expect_status "$1 is 400" 400
}
bad "最多跑一次 with three visits" "x['atMostOneVisit'] = True; x['maxVisits'] = 3"
bad "a real-name level of 5" "x['minRealnameLevel'] = 5"
bad "a form whose file is no SHA-256" "x['forms'][0]['blank']['sha256'] = 'abc'"
bad "a fee item without tiers" "x['feeItems'] = [{'name': '工本费'}]"
bad "a negative fee tier" "x['feeItems'] = [{'name': '工本费', 'tiers': [{'condition': '每证', 'amountFen': '-1'}]}]"
bad "a hall without an address" "x['halls'] = [{'name': '窗口'}]"
bad "an unknown time unit" "x['legalLimitUnit'] = 'FORTNIGHT'"
check "none of the bad ones was written" \
  test "$(sql "SELECT version FROM catalog.items WHERE impl_code = '$GA_ITEM'")" = $((GA_V + 1))

# --- the gateway's answer cache: the catalog's public reads are kept by each gateway
# worker a short while, and a write through the gateway makes them stale at once
xcache() { tr -d '\r' < "$1" | awk -F': ' 'tolower($1) == "x-cache" {print $2}'; }
twice() { # twice PATH: the same read twice on one connection, until the second is a hit
  for _ in $(seq 1 20); do
    curl -sS -o "$E2E_TMP/b1" -D "$E2E_TMP/h1" "$GW$1" -: -sS -o "$E2E_TMP/b2" -D "$E2E_TMP/h2" "$GW$1"
    [ "$(xcache "$E2E_TMP/h2")" = hit ] && return 0
  done
  return 1
}
check "a guide read twice is kept: the second answer comes from the gateway's cache" twice "/v1/items/$GA_ITEM"
check "the kept answer is the service's answer, byte for byte" cmp -s "$E2E_TMP/b1" "$E2E_TMP/b2"
check "a kept answer says its age" grep -qi '^age: [0-9]' "$E2E_TMP/h2"
cp "$E2E_TMP/b1" "$E2E_TMP/guide.kept"
check "a search is kept under its query" twice "/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=5"
get "/v1/items?q=%E8%BA%AB%E4%BB%BD%E8%AF%81&pageSize=6"
check "another query is not the kept one" test "$(xcache "$H")" = miss
# past its 2 s an answer is renewed in the background: the read that finds it so (on
# the worker that kept it) is answered at once from the kept answer
stale_read() {
  sleep 2.2 # past the route's cache_ms, well inside its stale window (20 s)
  for _ in $(seq 1 20); do
    get "/v1/items/$GA_ITEM"
    [ "$(xcache "$H")" = stale ] && return 0
  done
  return 1
}
check "a read past the kept answer's time is answered stale, not by the service" stale_read
check "the stale answer is the kept one, byte for byte" cmp -s "$B" "$E2E_TMP/guide.kept"
twice "/v1/items/$GA_ITEM"
put "$GA" "$GA_ITEM" "$(body "$E2E_TMP/b2" "it['conditions'] += '（缓存后改）'")"
expect_status "an edit after the guide was kept (200)" 200
get "/v1/items/$GA_ITEM"
check "the next read is the service's again, with the edit" \
  holds "d['conditions'].endswith('（缓存后改）')"
check "and says it missed" test "$(xcache "$H")" = miss
S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' "$GW/v1/me" -H "authorization: Bearer $GA")"
check "a caller's own read is never kept" test "$S" = 200 -a -z "$(xcache "$H")"
check "the gateway counts its kept answers" \
  sh -c "curl -sS '$GW/metrics' | grep -Eq '^yw_gateway_cache_requests_total\\{result=\"hit\"\\} [1-9]'"

# --- 6. the basic list belongs to the department that holds the basic code
e2e_staff js.scjg 320000-SCJG dept_admin
JSSC="$(e2e_staff_token js.scjg)"
check "the province's 市场监管 logs in" test -n "$JSSC"
check "the basic list records the department each basic code belongs to (by its suffix)" \
  test "$(sql "SELECT count(*) FROM catalog.basic_items WHERE owner IS NULL OR owner !~ '^[A-Z]+\$'")" = 0
check "a basic item started by the province's 公安 belongs to 公安" \
  test "$(sql "SELECT owner FROM catalog.basic_items WHERE basic_code = 'GG09991000'")" = GA
SC_BC="$(sql "SELECT basic_code FROM catalog.items WHERE department_code = '320000-SCJG' AND status = 'published' AND basic_code NOT IN (SELECT target FROM catalog.audit_log) ORDER BY basic_code LIMIT 1")"
SC_NAME="$(sql "SELECT name FROM catalog.basic_items WHERE basic_code = '$SC_BC'")"
SC_CITY="$SC_BC-320700-SCJG"
check "the basic code of 市场监管 is its own in the list" \
  test "$(sql "SELECT owner FROM catalog.basic_items WHERE basic_code = '$SC_BC'")" = SCJG
get "/v1/items/$SC_BC-320000-SCJG"; cp "$B" "$E2E_TMP/sc.json"
# a new item names no file the store lacks: the copies below leave out the forms and samples
NOFILES="x = it['details']; x.pop('forms', None); [r.pop('sample', None) for r in x.get('results', [])]"
AS_GA="$NOFILES; it['departmentCode'] = '320000-GA'; it['implCode'] = '$SC_BC-320000-GA'"
put "$JS" "$SC_BC-320000-GA" "$(body "$E2E_TMP/sc.json" "$AS_GA; it['name'] = '企业设立登记（省公安厅定）'; it['status'] = 'DRAFT'")"
expect_status "the province's 公安 cannot rewrite the basic list entry of a 市场监管 code, even as a draft (403)" 403
put "$JS" "$SC_BC-320000-GA" "$(body "$E2E_TMP/sc.json" "$AS_GA; it['name'] = '企业设立登记（省公安厅定）'; it['status'] = 'PUBLISHED'")"
expect_status "nor published (403)" 403
put "$JS" "$SC_BC-320000-GA" "$(body "$E2E_TMP/sc.json" "$AS_GA")"
expect_status "nor implement it under the list's own name (403)" 403
check "403 says whose code it is" holds "d['code'] == 'PERMISSION_DENIED' and 'SCJG' in d['message']"
check "the basic list entry kept its name" \
  test "$(sql "SELECT name FROM catalog.basic_items WHERE basic_code = '$SC_BC'")" = "$SC_NAME"
get "/v1/items/$SC_CITY"
check "the published city item of that code kept its name" holds "d['name'] == '$SC_NAME'"
check "and no item of 公安 implements it" \
  test "$(sql "SELECT count(*) FROM catalog.items WHERE basic_code = '$SC_BC' AND department_code LIKE '%-GA'")" = 0
get "/v1/items/$SC_CITY"; cp "$B" "$E2E_TMP/sc-city.json"
put "$GA" "$SC_BC-320700-GA" "$(body "$E2E_TMP/sc-city.json" "$NOFILES; it['departmentCode'] = '320700-GA'; it['implCode'] = '$SC_BC-320700-GA'")"
expect_status "a city's 公安 cannot implement a 市场监管 basic code either (403)" 403
put "$PLAT" "$SC_BC-320700-GA" "$(body "$E2E_TMP/sc-city.json" "$NOFILES; it['departmentCode'] = '320700-GA'; it['implCode'] = '$SC_BC-320700-GA'")"
expect_status "a platform administrator may have another department implement it (200)" 200
check "that is audited with the code's department" \
  test "$(sql "SELECT count(*) FROM catalog.audit_log WHERE action = 'basic_owner_override' AND target = '$SC_BC-320700-GA' AND detail = 'SCJG -> 320700-GA'")" = 1
put "$JSSC" "$SC_BC-320000-SCJG" "$(body "$E2E_TMP/sc.json" "it['conditions'] += '（省市场监管局改）'")"
expect_status "the province's 市场监管 still writes its own item (200)" 200

# --- 7. only a published province item changes the basic list
PB=XK00012000
PB_NAME="$(sql "SELECT name FROM catalog.basic_items WHERE basic_code = '$PB'")"
get "/v1/items/$PB-320000-GA"; cp "$B" "$E2E_TMP/pb.json"
PB_V="$(/usr/bin/python3 -c "import json; print(json.load(open('$E2E_TMP/pb.json'))['version'])")"
put "$JS" "$PB-320000-GA" "$(body "$E2E_TMP/pb.json" "it['name'] = '保安服务公司设立许可（草稿）'; it['status'] = 'DRAFT'")"
expect_status "the province saves a draft renaming its basic item (200)" 200
check "the answer is the draft" holds "d['status'] == 'DRAFT' and d['name'] == '保安服务公司设立许可（草稿）'"
check "the basic list keeps the published name" \
  test "$(sql "SELECT name FROM catalog.basic_items WHERE basic_code = '$PB'")" = "$PB_NAME"
get "/v1/items/$PB-320700-GA"
check "the published city item keeps its name while the province's draft is pending" holds "d['name'] == '$PB_NAME'"
get "/v1/items/$PB-320000-GA"
check "and so does the province's own published item" holds "d['name'] == '$PB_NAME' and d['version'] == $PB_V"
put "$JS" "$PB-320000-GA" "$(body "$E2E_TMP/pb.json" "it['name'] = '保安服务公司设立许可（草稿）'; it['status'] = 'PUBLISHED'")"
expect_status "the province publishes the new name (200)" 200
get "/v1/items/$PB-320700-GA"
check "then the city item follows" holds "d['name'] == '保安服务公司设立许可（草稿）'"

# a new province item saved as a draft sets no entry either: under another name it is refused
NP_BC="$(sql "SELECT b.basic_code FROM catalog.basic_items b WHERE b.owner = 'GA' AND NOT EXISTS (SELECT 1 FROM catalog.items i WHERE i.basic_code = b.basic_code AND i.level = 'province') AND EXISTS (SELECT 1 FROM catalog.items i WHERE i.impl_code = b.basic_code || '-320700-GA' AND i.status = 'published') ORDER BY 1 LIMIT 1")"
NP_NAME="$(sql "SELECT name FROM catalog.basic_items WHERE basic_code = '$NP_BC'")"
get "/v1/items/$NP_BC-320700-GA"; cp "$B" "$E2E_TMP/np.json"
put "$JS" "$NP_BC-320000-GA" "$(body "$E2E_TMP/np.json" "$NOFILES; it['departmentCode'] = '320000-GA'; it['regionCode'] = '320000'; it['level'] = 'PROVINCE'; it['implCode'] = '$NP_BC-320000-GA'; it['name'] = '$NP_NAME（省草稿）'; it['status'] = 'DRAFT'")"
expect_status "a new province item saved as a draft under another name is refused (412)" 412
check "the basic list keeps its name" \
  test "$(sql "SELECT name FROM catalog.basic_items WHERE basic_code = '$NP_BC'")" = "$NP_NAME"
get "/v1/items/$NP_BC-320700-GA"
check "and the published city item too" holds "d['name'] == '$NP_NAME'"

# --- 8. an item's basic code never changes; its code derives from it and its region
C2_ITEM="$(city_item 320700-GA)"
C2_BC="${C2_ITEM%%-*}"
C2_OTHER="$(sql "SELECT b.basic_code FROM catalog.basic_items b WHERE b.owner = 'GA' AND b.basic_code <> '$C2_BC' AND b.type = (SELECT type FROM catalog.items WHERE impl_code = '$C2_ITEM') ORDER BY 1 LIMIT 1")"
get "/v1/items/$C2_ITEM"; cp "$B" "$E2E_TMP/c2.json"
ROW="$(sql "SELECT json_build_object('n', name, 'b', legal_basis) FROM catalog.basic_items WHERE basic_code = '$C2_OTHER'")"
REBASE="o = json.loads('''$ROW'''); it['basicCode'] = '$C2_OTHER'; it['name'] = o['n']; it['legalBasis'] = o['b']"
put "$GA" "$C2_ITEM" "$(body "$E2E_TMP/c2.json" "$REBASE")"
expect_status "an update that changes an item's basic code is 400" 400
check "400 names the field" holds "d['code'] == 'INVALID_ARGUMENT' and 'item.basicCode' in d['message']"
put "$PLAT" "$C2_ITEM" "$(body "$E2E_TMP/c2.json" "$REBASE")"
expect_status "even a platform administrator's (400)" 400
check "the item kept its basic code" \
  test "$(sql "SELECT basic_code FROM catalog.items WHERE impl_code = '$C2_ITEM'")" = "$C2_BC"
put "$PLAT" "$C2_ITEM" "$(body "$E2E_TMP/c2.json" "it['departmentCode'] = '320706-GA'; it['regionCode'] = '320706'; it['level'] = 'COUNTY'")"
expect_status "a move to another region, where the code no longer derives, is 400" 400
check "the item stayed where it was" \
  test "$(sql "SELECT department_code FROM catalog.items WHERE impl_code = '$C2_ITEM'")" = 320700-GA
check "every item's code derives from its basic code and region" \
  test "$(sql "SELECT count(*) FROM catalog.items WHERE impl_code NOT LIKE basic_code || '-' || region_code || '-%'")" = 0

# --- 9. a draft edit of a published item leaves the published version served
D_ITEM="$(city_item 320700-MZ)"
get "/v1/items/$D_ITEM"; cp "$B" "$E2E_TMP/d.json"
DV="$(/usr/bin/python3 -c "import json; print(json.load(open('$E2E_TMP/d.json'))['version'])")"
D_Q="$(/usr/bin/python3 -c "import json, urllib.parse; print(urllib.parse.quote(json.load(open('$E2E_TMP/d.json'))['name']))")"
put "$MZ" "$D_ITEM" "$(body "$E2E_TMP/d.json" "it['conditions'] = '已发布的条件'")"
expect_status "an edit is published (200)" 200
put "$MZ" "$D_ITEM" "$(body "$E2E_TMP/d.json" "it['conditions'] = '草稿中的条件'; it['status'] = 'DRAFT'; it['details']['complaintPhone'] = '0518-12345'")"
expect_status "a draft edit of the published item is 200" 200
check "the answer is the draft, the version after" \
  holds "d['status'] == 'DRAFT' and d['version'] == $DV + 2 and d['conditions'] == '草稿中的条件'"
get "/v1/items/$D_ITEM"
check "residents still read the published version while the draft is pending" \
  holds "d['status'] == 'PUBLISHED' and d['version'] == $DV + 1 and d['conditions'] == '已发布的条件' and d['details']['complaintPhone'] != '0518-12345'"
get "/v1/items/$D_ITEM/versions"
check "the published version stays in effect: its window is open, the draft not listed" \
  holds "d['versions'][0]['version'] == $DV + 1 and not d['versions'][0].get('effectiveTo')"
get "/v1/items?q=$D_Q&department=320700-MZ&pageSize=100"
check "search still finds it" holds "'$D_ITEM' in [i['implCode'] for i in d['items']]"
check "the stored row is the published version" \
  test "$(sql "SELECT status || ' ' || version || ' ' || conditions FROM catalog.items WHERE impl_code = '$D_ITEM'")" = "published $((DV + 1)) 已发布的条件"
draft() { S="$(curl -sS -o "$B" -D "$H" -w '%{http_code}' "$GW/v1/items/$D_ITEM/draft" "$@")"; }
draft -H "authorization: Bearer $MZ"
check "its department reads the pending draft" \
  holds "d['status'] == 'DRAFT' and d['version'] == $DV + 2 and d['conditions'] == '草稿中的条件'"
draft -H "authorization: Bearer $GA"
expect_status "another department does not (403)" 403
draft
expect_status "nor does anyone without a login (401)" 401
put "$MZ" "$D_ITEM" "$(body "$E2E_TMP/d.json" "it['conditions'] = '草稿再改'; del it['status']; del it['details']")"
check "an edit without a status while a draft is pending is another draft" \
  holds "d['status'] == 'DRAFT' and d['version'] == $DV + 3"
check "and without details it keeps the draft's" holds "d['details']['complaintPhone'] == '0518-12345'"
get "/v1/items/$D_ITEM"
check "and the published version is still the one served" holds "d['version'] == $DV + 1"
put "$MZ" "$D_ITEM" "$(body "$E2E_TMP/d.json" "it['conditions'] = '新发布的条件'; it['status'] = 'PUBLISHED'")"
check "publishing makes the version after the drafts" holds "d['status'] == 'PUBLISHED' and d['version'] == $DV + 4"
get "/v1/items/$D_ITEM"
check "and residents read it" holds "d['version'] == $DV + 4 and d['conditions'] == '新发布的条件'"
get "/v1/items/$D_ITEM/versions"
check "the published versions follow each other, the drafts left out" holds_block "
vs = d['versions']
assert [v['version'] for v in vs[:2]] == [$DV + 4, $DV + 1], vs
assert not vs[0].get('effectiveTo') and vs[1]['effectiveTo'] == vs[0]['effectiveFrom'], vs"
get "/v1/items/$D_ITEM?version=$((DV + 2))"
check "a superseded draft is never served" test "$S" = 404
draft -H "authorization: Bearer $MZ"
check "with no draft pending its department reads the version in effect" \
  holds "d['status'] == 'PUBLISHED' and d['version'] == $DV + 4"

# --- 10. an update that omits details or form keeps them
get "/v1/items/$ID_CARD"; cp "$B" "$E2E_TMP/keep.json"
check "the item has national fields and a form" holds "d['details']['halls'] and d['form']['fields']"
put "$GA" "$ID_CARD" "$(body "$E2E_TMP/keep.json" "del it['details']; del it['form']; it['conditions'] += '（只改条件）'")"
expect_status "an update without details and form is 200" 200
check "the answer keeps both" /usr/bin/python3 -c "
import json; a = json.load(open('$E2E_TMP/keep.json')); b = json.load(open('$B'))
assert a['details'] == b['details'] and a['form'] == b['form'], b"
get "/v1/items/$ID_CARD"
check "and so does the guide" /usr/bin/python3 -c "
import json; a = json.load(open('$E2E_TMP/keep.json')); b = json.load(open('$B'))
assert a['details'] == b['details'] and a['form'] == b['form'] and b['conditions'].endswith('（只改条件）'), b"
put "$GA" "$ID_CARD" "$(body "$E2E_TMP/keep.json" "it['form'] = {}")"
expect_status "an empty form removes it (200)" 200
check "the item has no form now" holds "'form' not in d"


finish
