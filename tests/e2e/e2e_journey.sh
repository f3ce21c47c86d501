#!/usr/bin/env bash
# e2e_journey.sh - the whole journey of an application (办件) through the real gateway
# with curl, in the order README.md tells it, every process on mutual TLS: search the
# catalog for an item, sign in with the SMS code and verify the real name, apply for an
# item of two departments whose result is a license (XK00002000-320700-GA, 320700-GA
# with 320700-SW), upload a material as multipart, the lead department accepts, reviews
# and asks for a supplement, the resident resubmits, both departments approve, the lead
# department completes and a license sealed with its SM2 key is issued (checked offline
# with openssl and online by its printed code), the resident rates it. After each step
# anyone holding the number and the query code sees that step in the public progress
# lookup (yw-progress, fed asynchronously from the events: polled with a bound) with the
# supervision colour the step gives; the department's statistics for today count the
# application and add up (received = completed + refused + withdrawn + open).
source "$(dirname "$0")/lib.sh"

export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
export YW_LOOKUP_KEY="${YW_LOOKUP_KEY:-$(openssl rand -hex 32)}"
# the supervision job passes every second, so a limit that runs again is coloured again
export YW_APPLICATIONS_SUPERVISE_S=1 YW_APPLICATIONS_CALENDAR_CHECK_MS=0
e2e_database
e2e_start_paysim
e2e_start
source "$YW_SOURCE_DIR/tests/e2e/identity_helpers.sh"
# the item charges a fee paid online (README "Pay"): yw-payment with the channels'
# notifications through the gateway and yw-applications to ask for the fee
check "yw-payment runs with the simulator and yw-applications" e2e_payment_restart "$E2E_PKI/ca.crt"

ITEM=XK00002000-320700-GA # 往来港澳通行证和签注签发: 320700-GA with 320700-SW, result 证照
PHONE=13900000031
e2e_staff ga.clerk 320700-GA dept_staff
e2e_staff sw.clerk 320700-SW dept_staff
GA="$(e2e_staff_token ga.clerk)"
SW="$(e2e_staff_token sw.clerk)"
D="/v1/departments/320700-GA/applications"

# --- search an item (README "Try it") ----------------------------------------------------
req GET "/v1/items?q=$(/usr/bin/python3 -c 'import urllib.parse; print(urllib.parse.quote("港澳通行证"))')&pageSize=5"
expect_status "anyone searches the catalog (200)" 200
check "the item is found by its keywords" holds "'$ITEM' in [i['implCode'] for i in d['items']]"
req GET "/v1/items/$ITEM"
expect_status "and reads its guide (200)" 200
check "two departments take part, and its result is a license" \
  holds "d['departmentCode'] == '320700-GA' and d['details']['jointDepartments'] == ['320700-SW'] and '证照' in [r['type'] for r in d['details']['results']]"

# --- sign in (README "Log in once") ------------------------------------------------------
req POST /v1/auth/sms-codes "" "{\"phone\":\"$PHONE\"}"
expect_status "the resident asks for an SMS code (200)" 200
req POST /v1/auth/sessions "" "{\"phone\":\"$PHONE\",\"code\":\"$(last_code "$PHONE")\"}"
expect_status "and signs in with it (200)" 200
check "getting a bearer access token and a refresh token" \
  holds "d['tokenType'] == 'Bearer' and len(d['accessToken']) > 20 and len(d['refreshToken']) > 20"
T="$(field "d['accessToken']")"
req POST /v1/me/realname "$T" '{"name":"张三","idCardNumber":"320706199001011230"}'
expect_status "the resident verifies the real name (200)" 200
req GET /v1/me "$T"
check "and is at level 2, the item's" holds "d['realnameLevel'] == 2"

# --- progress: after each step the public lookup shows it ------------------------------
# until_holds PATH TOKEN CONDITION: GET PATH until it answers 200 and CONDITION holds;
# polls at most 30 s (yw-progress follows the events asynchronously)
until_holds() {
  for _ in $(seq 150); do
    req GET "$1" "$2"
    [ "$S" = 200 ] && holds "$3" && return 0
    sleep 0.2
  done
  echo "GET $1 answered $S: $(head -c 600 "$B")" >&2
  return 1
}
# progress_shows STATUSES COLOUR: the lookup by number and query code, without signing
# in, shows the timeline (its statuses, oldest first) and the supervision colour
progress_shows() {
  until_holds "/v1/progress/$N?queryCode=$QCODE" "" \
    "d['timeline'] and [s['status'] for s in d['timeline']] == $1 and d['supervision'] == '$2'"
}
STEPS=()
steps() { /usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "${STEPS[@]}"; }
after() { # after NAME STATUS COLOUR: the step NAME reached STATUS; progress shows it
  STEPS+=("$2")
  check "progress shows the $1 ($2, $3)" progress_shows "$(steps)" "$3"
}

# --- apply with a material (README "Apply") ----------------------------------------------
apply() {
  S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/applications" \
    -H "authorization: Bearer $T" -H 'content-type: application/json' \
    -H 'idempotency-key: journey-apply-1' \
    --data-binary "{\"itemCode\":\"$ITEM\",\"form\":{\"name\":\"张三\",\"reason\":\"赴港探亲\"}}")"
}
apply
expect_status "the resident applies (200)" 200
check "a receipt: a number of the item's region, SUBMITTED, both departments, a query code" \
  holds "len(d['application']['number']) == 20 and d['application']['number'].startswith('320700') and d['application']['status'] == 'SUBMITTED' and d['application']['leadDepartment'] == '320700-GA' and d['application']['jointDepartments'] == ['320700-SW'] and len(d['queryCode']) == 6"
N="$(field "d['application']['number']")"
QCODE="$(field "d['queryCode']")"
apply
check "the same Idempotency-Key gives the same receipt" \
  holds "d['application']['number'] == '$N' and d['queryCode'] == '$QCODE'"
after "submission, before any limit runs" SUBMITTED SUPERVISION_NONE

req GET "/v1/applications/$N" "$T"
check "its required materials are listed as missing" holds "'出入境证件数字相片' in d['missingMaterials']"
printf '\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00journey photo\xff\xd9' \
  >"$E2E_TMP/photo.jpg"
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/applications/$N/materials" \
  -H "authorization: Bearer $T" -F 'material=出入境证件数字相片' -F "files=@$E2E_TMP/photo.jpg")"
expect_status "the resident uploads the photo as multipart (200)" 200
SHA="$(sha256sum "$E2E_TMP/photo.jpg" | cut -d' ' -f1)"
check "kept as uploaded, sniffed as JPEG, named by its SHA-256, no longer missing" \
  holds "d['material']['source'] == 'UPLOAD' and [(f['sha256'], f['contentType'], f['name']) for f in d['material']['files']] == [('$SHA', 'image/jpeg', 'photo.jpg')] and '出入境证件数字相片' not in d.get('missingMaterials', [])"
S="$(curl -sS -o "$E2E_TMP/back.jpg" -w '%{http_code}' "$GW/v1/applications/$N/materials/$SHA" \
  -H "authorization: Bearer $GA")"
check "the lead department's clerk reads it back, byte for byte" \
  bash -c "[ '$S' = 200 ] && cmp -s '$E2E_TMP/photo.jpg' '$E2E_TMP/back.jpg'"

# --- the departments and the resident take it to completion ------------------------------
req GET "$D?status=SUBMITTED" "$GA"
check "the lead department's queue lists it" holds "'$N' in [a['number'] for a in d['applications']]"
req POST "$D/$N:accept" "$GA" '{}'
check "the lead department accepts it, with a due date" \
  holds "d['status'] == 'ACCEPTED' and len(d['dueDate']) == 10"
DUE="$(field "d['dueDate']")"
after acceptance ACCEPTED ON_TIME
req GET "/v1/progress/$N?queryCode=$QCODE"
check "with its due date and both departments, the lead's step named" \
  holds "d['dueDate'] == '$DUE' and d['departments'] == ['320700-GA', '320700-SW'] and d['timeline'][1]['departmentCode'] == '320700-GA'"
req POST "$D/$N:start-review" "$GA" '{}'
check "starts the review" holds "d['status'] == 'IN_REVIEW'"
after review IN_REVIEW ON_TIME
req POST "$D/$N:request-supplement" "$GA" '{"reason":"请补充户口簿首页"}'
check "asks for a supplement" holds "d['status'] == 'SUPPLEMENT_REQUESTED'"
after "supplement request (the clock paused)" SUPPLEMENT_REQUESTED SUPERVISION_NONE
req GET "/v1/progress/$N?queryCode=$QCODE"
check "with its reason" holds "d['timeline'][3]['reason'] == '请补充户口簿首页'"
req POST "/v1/applications/$N:resubmit" "$T" '{"form":{"name":"张三","reason":"赴港探亲","hukou":"已补充"}}'
check "the resident resubmits" holds "d['status'] == 'RESUBMITTED' and d['form']['hukou'] == '已补充'"
after "resubmission (the clock runs again)" RESUBMITTED ON_TIME
req POST "$D/$N:start-review" "$GA" '{}'
check "the review starts again" holds "d['status'] == 'IN_REVIEW'"
after "second review" IN_REVIEW ON_TIME
req POST "$D/$N:decide" "$GA" '{"decision":"APPROVE"}'
check "the lead department approves: one opinion of two, still in review" \
  holds "d['status'] == 'IN_REVIEW' and len(d['opinions']) == 1"
req POST "/v1/departments/320700-SW/applications/$N:decide" "$SW" '{"decision":"APPROVE"}'
check "the joint department approves: APPROVED" holds "d['status'] == 'APPROVED' and len(d['opinions']) == 2"
after "joint approval" APPROVED SUPERVISION_NONE
req POST "$D/$N:complete" "$GA" '{}'
expect_status "the fee is due: no completion before it is paid (412)" 412

# --- pay the fee (README "Pay") ------------------------------------------------------------
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/payments/orders" -H "authorization: Bearer $T" \
  -H 'content-type: application/json' -H "idempotency-key: journey-fee-$N" \
  --data-binary "{\"applicationNumber\":\"$N\"}")"
expect_status "the resident asks for the order of the fee (200)" 200
check "the application's fee, payable to the lead department" \
  holds "d['source'] == 'ORDER_SOURCE_APPLICATION' and d['applicationNumber'] == '$N' and int(d['amountFen']) > 0 and d['payeeDepartment'] == '320700-GA'"
ORDER="$(field "d['id']")"
req POST "/v1/payments/orders/$ORDER:pay" "$T" '{"channel":"sim"}'
expect_status "and pays it on channel sim (200)" 200
NO="$(field "d['outTradeNo']")"
check "the payer pays in the simulated wallet" \
  curl -fsS -o /dev/null "$PAYSIM/sim/sim/pay" -d "{\"out_trade_no\":\"$NO\",\"payer\":\"o_journey\",\"notify\":\"normal\"}"
fee_paid() {
  local _
  for _ in $(seq 300); do
    req GET "/v1/applications/$N" "$T"
    holds "d['fee'].get('paid') == True" && return 0
    sleep 0.1
  done
  return 1
}
check "the channel's signed notification is booked and the application records the payment" fee_paid
after "payment, a step of its own (已缴费)" APPROVED SUPERVISION_NONE
req POST "$D/$N:complete" "$GA" '{}'
check "the lead department completes it" holds "d['status'] == 'COMPLETED'"
after completion COMPLETED SUPERVISION_NONE
check "the payment is a step of its own (已缴费)" holds "[s.get('reason') for s in d['timeline']].count('已缴费') == 1"
check "every step names the department that took it (the resident's none)" \
  holds "[s.get('departmentCode', '') for s in d['timeline'] if s.get('reason') != '已缴费'] == ['', '320700-GA', '320700-GA', '320700-GA', '', '320700-GA', '320700-SW', '320700-GA']"
req GET "/v1/progress/$N?queryCode=$QCODE"
check "the public answer carries no form data and no name" \
  bash -c "! grep -q -e '张三' -e '已补充' '$B'"

# --- the signed license (README "Licenses") ----------------------------------------------
req GET /v1/me/licenses "$T"
expect_status "the resident lists their licenses (200)" 200
check "one license, of this application, issued by the lead department and valid" \
  holds "len(d['licenses']) == 1 and d['licenses'][0]['applicationNumber'] == '$N' and d['licenses'][0]['issuer'] == '320700-GA' and d['licenses'][0]['type'] == 'XK00002000' and d['licenses'][0]['status'] == 'LICENSE_VALID'"
L="$(field "d['licenses'][0]['number']")"
LCODE="$(field "d['licenses'][0]['verifyCode']")"
field "d['licenses'][0]['content']" | tr -d '\n' >"$E2E_TMP/license.json"
field "d['licenses'][0]['signature']" | base64 -d >"$E2E_TMP/license.sig"
req GET "/v1/licenses:public-key?department=320700-GA"
field "d['pem']" >"$E2E_TMP/seal.pub"
check "openssl verifies its SM2 signature with the department's published key" \
  openssl pkeyutl -verify -pubin -inkey "$E2E_TMP/seal.pub" -rawin -digest sm3 \
    -pkeyopt distid:1234567812345678 -in "$E2E_TMP/license.json" -sigfile "$E2E_TMP/license.sig"
printf '%s' "$(sed 's/"validUntil":"2/"validUntil":"3/' "$E2E_TMP/license.json")" >"$E2E_TMP/forged.json"
check "and refuses a copy changed in one byte" \
  bash -c "! openssl pkeyutl -verify -pubin -inkey '$E2E_TMP/seal.pub' -rawin -digest sm3 \
    -pkeyopt distid:1234567812345678 -in '$E2E_TMP/forged.json' -sigfile '$E2E_TMP/license.sig' >/dev/null 2>&1"
req GET "/v1/licenses/$L:verify?code=$LCODE"
check "anyone verifies it online by number and printed code" \
  holds "d['status'] == 'LICENSE_VALID' and d['number'] == '$L'"

# --- rate it (README "Ratings") ----------------------------------------------------------
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/applications/$N/rating" \
  -H "authorization: Bearer $T" -H 'content-type: application/json' -H 'idempotency-key: journey-rate-1' \
  --data-binary '{"level":"VERY_SATISFIED","text":"一次办好"}')"
expect_status "the resident rates the completed application (200)" 200
check "once, for the lead department, opening no case" \
  holds "d['level'] == 'VERY_SATISFIED' and d['applicationNumber'] == '$N' and d['department'] == '320700-GA' and d.get('rectificationId', '') == ''"
req POST "/v1/applications/$N:rate" "$T" '{"level":"SATISFIED"}'
expect_status "a second rating is refused (409)" 409
req GET "/v1/ratings/summary?item=$ITEM"
check "the public summary counts it" holds "int(d['total']) == 1 and int(d.get('verySatisfied', 0)) == 1"

# --- the department's statistics for today --------------------------------------------
TODAY="$(TZ=Asia/Shanghai date +%F)"
check "the lead department's statistics take the rating in" \
  until_holds "/v1/statistics?departmentCode=320700-GA&fromDate=$TODAY&toDate=$TODAY" "$GA" \
    "d['total'].get('rated', 0) == 1"
check "they count the application once, completed on time, rated satisfied" \
  holds "[(r['implCode'], r['received'], r.get('completed', 0), r.get('completedOnTime', 0), r.get('ratedSatisfied', 0)) for r in d['rows']] == [('$ITEM', 1, 1, 1, 1)]"
check "and add up: received = completed + refused + withdrawn + open" \
  holds "all(r['received'] == r.get('completed', 0) + r.get('refused', 0) + r.get('withdrawn', 0) + r.get('open', 0) for r in d['rows'] + [d['total']]) and d['total']['received'] == sum(r['received'] for r in d['rows'])"

finish
