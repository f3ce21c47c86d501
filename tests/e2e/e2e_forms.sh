#!/usr/bin/env bash
# e2e_forms.sh - application forms through the real gateway with curl: an item's guide
# carries its form definition; a resident's bad form is a 400 with the standard error
# body and every invalid field in "fieldViolations" by path, and files nothing; a good
# one is filed with the prefilled fields from yw-identity (the verified name and masked
# ID number, not the ones sent) and the application shows the definition it was filled
# against (GetVerifiedIdentity itself has no route); the
# department's malformed definition is a 400 naming item.form.<path> and writes no
# version; a valid change makes a new version and leaves the filed application's
# definition as it was.
source "$(dirname "$0")/lib.sh"

export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
export YW_LOOKUP_KEY="${YW_LOOKUP_KEY:-$(openssl rand -hex 32)}"
e2e_database
e2e_start
source "$YW_SOURCE_DIR/tests/e2e/identity_helpers.sh"

ITEM=GG00002000-320700-GA # 居民身份证换领, 320700-GA, a seeded form
e2e_staff ga.admin 320700-GA dept_admin
ADMIN="$(e2e_staff_token ga.admin)"
RES="$(verified_resident 13900000021 张三 320706199001011230)"
count() { "${PSQL[@]}" -c "SELECT count(*) FROM applications.applications"; }

# --- the guide carries the form ------------------------------------------------------
req GET "/v1/items/$ITEM"
expect_status "the guide of an item with a form (200)" 200
check "carries its definition: title and fields" \
  holds "d['form']['title'] == '居民身份证换领申请' and [f['name'] for f in d['form']['fields']][:3] == ['applicantName', 'idNumber', 'phone']"
cp "$B" "$E2E_TMP/item.json"

# --- a bad form: 400 with every path -------------------------------------------------
req POST /v1/applications "$RES" "{\"itemCode\":\"$ITEM\",\"form\":{\"phone\":\"23912345678\",
  \"reason\":\"登记项目变更\",\"delivery\":\"邮政寄递\",\"address\":{\"district\":\"鼓楼区\",\"detail\":\"路\"},
  \"nickname\":\"小王\"}}"
expect_status "a form that breaks its definition is refused (400)" 400
cat "$B"; echo
check "with the standard error body" \
  holds "d['code'] == 'INVALID_ARGUMENT' and d['requestId'] and d['message'].startswith('the form has 5 invalid fields')"
check "naming every invalid field by its path and reason" \
  holds "d['fieldViolations'] == [{'field': 'form.phone', 'reason': 'BAD_PHONE'}, {'field': 'form.changeNote', 'reason': 'REQUIRED'}, {'field': 'form.address.district', 'reason': 'NOT_AN_OPTION'}, {'field': 'form.address.detail', 'reason': 'TOO_SHORT'}, {'field': 'form.nickname', 'reason': 'UNKNOWN_FIELD'}]"
check "and nothing is filed" test "$(count)" = 0

# --- a good form ----------------------------------------------------------------------
# the client names someone else: the prefilled fields take the verified identity's
req POST /v1/applications "$RES" "{\"itemCode\":\"$ITEM\",\"form\":{\"phone\":\"13912345678\",
  \"applicantName\":\"李四\",\"idNumber\":\"110101199003070000\",
  \"reason\":\"有效期满\",\"delivery\":\"窗口领取\"}}"
expect_status "a form that satisfies its definition is filed (200)" 200
N="$(field "d['application']['number']")"
req GET "/v1/applications/$N" "$RES"
check "the application shows the definition it was filled against, with the verified name and masked ID number from yw-identity" \
  holds "d['formDefinition']['title'] == '居民身份证换领申请' and d['form'] == {'applicantName': '张三', 'idNumber': '3207**********1230', 'phone': '13912345678', 'reason': '有效期满', 'delivery': '窗口领取'}"
check "the row keeps the form encrypted: no phone, name or ID number in clear" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM applications.applications a WHERE a::text LIKE '%13912345678%'
    OR a::text LIKE '%张三%' OR a::text LIKE '%1230%' AND form_enc IS NULL")" = 0
# yw-identity answers the verified identity to services only: not through the gateway
req POST /yiwang.identity.v1.IdentityService/GetVerifiedIdentity "$RES" '{}'
check "GetVerifiedIdentity has no gateway route (404)" test "$S" = 404

# --- the department's definitions ------------------------------------------------------
body() { /usr/bin/python3 -c "
import json; it = json.load(open('$E2E_TMP/item.json'))
$1
print(json.dumps({'item': it}, ensure_ascii=False))"; }
V="$("${PSQL[@]}" -c "SELECT version FROM catalog.items WHERE impl_code = '$ITEM'")"
req PUT "/v1/items/$ITEM" "$ADMIN" "$(body "it['form']['fields'][2]['type'] = 'mobile'")"
expect_status "a malformed definition is refused (400)" 400
cat "$B"; echo
check "naming item.form and the path inside it" \
  holds "d['code'] == 'INVALID_ARGUMENT' and d['message'].startswith('item.form.fields[2]: type must be') and d['fieldViolations'] == [{'field': 'item.form.fields[2]', 'reason': 'INVALID_DEFINITION'}]"
check "and writes no version" \
  test "$("${PSQL[@]}" -c "SELECT version FROM catalog.items WHERE impl_code = '$ITEM'")" = "$V"
req PUT "/v1/items/$ITEM" "$ADMIN" "$(body "it['form']['title'] = '居民身份证换领申请（新）'")"
expect_status "a valid change of the form is saved (200)" 200
check "as a new version" holds "d['version'] == $V + 1 and d['form']['title'] == '居民身份证换领申请（新）'"
req GET "/v1/applications/$N" "$RES"
check "the filed application keeps the definition it was filled against" \
  holds "d['formDefinition']['title'] == '居民身份证换领申请'"
finish
