#!/usr/bin/env bash
# e2e_licenses.sh - electronic licenses (电子证照, yw-applications) through the real
# gateway with curl, every process on mutual TLS: a verified resident applies for an item
# whose result is a license, the lead department takes it to completion, and a license
# is issued; the holder lists and reads it, another resident and another department get
# 404; anyone fetches the public key of the issuing department's seal and checks the
# license offline with the openssl command line (not with the deployment's seal), online by number and printed code (no holder data in the
# answer) and by content and signature (a tampered copy is NOT_GENUINE); the license
# replaces a material in a later application; the issuer's administrator revokes it (a
# clerk may not), verification says REVOKED, and the revoked license is refused as a
# material (400 naming the path); the events are in the outbox.
source "$(dirname "$0")/lib.sh"

export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
export YW_LOOKUP_KEY="${YW_LOOKUP_KEY:-$(openssl rand -hex 32)}"
e2e_database
e2e_start
source "$YW_SOURCE_DIR/tests/e2e/identity_helpers.sh"

LIC_ITEM=XK00001000-320700-GA    # 普通护照签发: result 证照, 320700-GA alone
PLAIN_ITEM=GG00001000-320700-GA  # 居民户口簿 may be given as a license
e2e_staff lic.clerk 320700-GA dept_staff
e2e_staff lic.admin 320700-GA dept_admin
e2e_staff lic.sw 320700-SW dept_staff
GA="$(e2e_staff_token lic.clerk)"
ADMIN="$(e2e_staff_token lic.admin)"
SW="$(e2e_staff_token lic.sw)"
RES="$(verified_resident 13900000011 李四 320722198512120020)"
OTHER="$(verified_resident 13900000012 王小明 320703200002294566)"

json() { /usr/bin/python3 -c "import json,sys; print(json.dumps($1, ensure_ascii=False))"; }
step() { # step NUMBER VERB [JSON]: the lead department's clerk
  local body="${3:-}"
  [ -n "$body" ] || body='{}'
  req POST "/v1/departments/320700-GA/applications/$1:$2" "$GA" "$body"
}

# --- issuance on completion --------------------------------------------------------------
req POST /v1/applications "$RES" "{\"itemCode\":\"$LIC_ITEM\",\"form\":{\"name\":\"李四\"}}"
expect_status "the resident applies for an item whose result is a license (200)" 200
N="$(field "d['application']['number']")"
step "$N" accept
step "$N" start-review
step "$N" decide '{"decision":"APPROVE"}'
# the passport's fee is paid online before completion: recorded here as yw-payment's
# payment.order_paid records it (e2e_app_fee.sh pays it through yw-payment)
"${PSQL[@]}" -c "UPDATE applications.applications SET fee_paid_at = now(), fee_paid_fen = fee_fen,
  fee_order_id = '00000000-0000-4000-8000-000000000001' WHERE number = '$N'" >/dev/null
step "$N" complete
expect_status "the lead department completes it (200)" 200
check "and it is COMPLETED" holds "d['status'] == 'COMPLETED'"

req GET /v1/me/licenses "$RES"
expect_status "the holder lists their licenses (200)" 200
check "one license, of the application, sealed" holds "len(d['licenses']) == 1 and d['licenses'][0]['applicationNumber'] == '$N' and d['licenses'][0]['status'] == 'LICENSE_VALID' and d['licenses'][0]['signature'] != ''"
L="$(field "d['licenses'][0]['number']")"
CODE="$(field "d['licenses'][0]['verifyCode']")"
field "d['licenses'][0]['content']" | tr -d '\n' >"$E2E_TMP/license.json"
field "d['licenses'][0]['signature']" | base64 -d >"$E2E_TMP/license.sig"
SIG="$(field "d['licenses'][0]['signature']")"
check "its number is region, type, year and sequence" \
  holds "d['licenses'][0]['number'] == '320700XK00001000' + d['licenses'][0]['validFrom'][:4] + '000001'"
check "its content is the canonical JSON of its fields" \
  holds "d['licenses'][0]['content'] == json.dumps({'applicationNumber': '$N', 'format': 'yiwang.license.v1', 'holder': {'kind': 'person', 'org': '', 'subject': d['licenses'][0]['holderSubject']}, 'issuedAt': d['licenses'][0]['issuedAt'], 'issuer': '320700-GA', 'name': '普通护照签发许可决定书', 'number': '$L', 'type': 'XK00001000', 'validFrom': d['licenses'][0]['validFrom'], 'validUntil': d['licenses'][0]['validUntil']}, sort_keys=True, separators=(',', ':'), ensure_ascii=False)"

# --- who reads ---------------------------------------------------------------------------
req GET "/v1/licenses/$L" "$RES"
expect_status "the holder reads it (200)" 200
check "named by yw-identity at issue, masked (李四 -> *四), outside the signed content" \
  holds "d['holderName'] == '*四' and '四' not in d['content']"
req GET "/v1/licenses/$L" "$GA"
expect_status "staff of the issuing department read it (200)" 200
check "with the holder's masked name" holds "d['holderName'] == '*四'"
check "the row keeps the name encrypted" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM applications.licenses l WHERE l::text LIKE '%*四%'")" = 0
req GET "/v1/licenses/$L" "$OTHER"
expect_status "another resident gets 404" 404
req GET "/v1/licenses/$L" "$SW"
expect_status "another department gets 404" 404
req GET "/v1/licenses/$L"
expect_status "nobody signed in gets 401" 401

# --- verification ------------------------------------------------------------------------
req GET "/v1/licenses:public-key?department=320700-GA"
expect_status "anyone fetches the public key of the issuer's seal (200)" 200
check "320700-GA's own" holds "d['department'] == '320700-GA' and d['algorithm'] == 'SM2'"
field "d['pem']" >"$E2E_TMP/seal.pub"
check "openssl verifies the license offline with it" \
  openssl pkeyutl -verify -pubin -inkey "$E2E_TMP/seal.pub" -rawin -digest sm3 \
    -pkeyopt distid:1234567812345678 -in "$E2E_TMP/license.json" -sigfile "$E2E_TMP/license.sig"
req GET /v1/licenses:public-key
field "d['pem']" >"$E2E_TMP/deployment.pub"
check "and not with the deployment's seal" \
  bash -c "! openssl pkeyutl -verify -pubin -inkey '$E2E_TMP/deployment.pub' -rawin -digest sm3 \
    -pkeyopt distid:1234567812345678 -in '$E2E_TMP/license.json' -sigfile '$E2E_TMP/license.sig' >/dev/null 2>&1"
req GET "/v1/licenses/$L:verify?code=$CODE"
expect_status "anyone verifies it by number and printed code (200)" 200
check "valid, and the answer names no holder" \
  holds "d['status'] == 'LICENSE_VALID' and d['number'] == '$L' and 'holderSubject' not in d and 'holderName' not in d and '四' not in json.dumps(d, ensure_ascii=False)"
req GET "/v1/licenses/$L:verify?code=0000000000000000"
expect_status "a wrong code gets 404" 404
req POST /v1/licenses:verify "" "$(json "{'content': open('$E2E_TMP/license.json').read(), 'signature': '$SIG'}")"
check "the content and signature as presented verify (VALID)" holds "d['status'] == 'LICENSE_VALID'"
req POST /v1/licenses:verify "" "$(json "{'content': open('$E2E_TMP/license.json').read().replace('\"validUntil\":\"2', '\"validUntil\":\"9'), 'signature': '$SIG'}")"
check "a tampered copy is NOT_GENUINE" holds "d['status'] == 'LICENSE_NOT_GENUINE'"

# --- in place of a material --------------------------------------------------------------
req POST /v1/applications "$RES" "{\"itemCode\":\"$PLAIN_ITEM\",\"materialLicenses\":[{\"material\":\"居民户口簿\",\"licenseNumber\":\"$L\"}]}"
expect_status "the license replaces a material in a later application (200)" 200
M="$(field "d['application']['number']")"
req GET "/v1/applications/$M" "$RES"
check "the application records it" \
  holds "d['materials'] == [{'seq': 2, 'name': '居民户口簿', 'source': 'LICENSE', 'licenseNumber': '$L'}]"

# --- revocation --------------------------------------------------------------------------
req POST "/v1/departments/320700-GA/licenses/$L:revoke" "$GA" '{"reason":"信息有误"}'
expect_status "a clerk may not revoke (403)" 403
req POST "/v1/departments/320700-GA/licenses/$L:revoke" "$ADMIN" '{}'
expect_status "a revocation needs a reason (400)" 400
req POST "/v1/departments/320700-GA/licenses/$L:revoke" "$ADMIN" '{"reason":"信息有误"}'
expect_status "the issuer's administrator revokes it (200)" 200
check "and it is REVOKED" holds "d['status'] == 'LICENSE_REVOKED' and d['revokeReason'] == '信息有误'"
req GET "/v1/licenses/$L:verify?code=$CODE"
check "verification says REVOKED" holds "d['status'] == 'LICENSE_REVOKED' and d['revokedAt'] != ''"
BEFORE="$("${PSQL[@]}" -c "SELECT count(*) FROM applications.applications")"
req POST /v1/applications "$RES" "{\"itemCode\":\"$PLAIN_ITEM\",\"materialLicenses\":[{\"material\":\"居民户口簿\",\"licenseNumber\":\"$L\"}]}"
expect_status "the revoked license is refused as a material (400)" 400
check "naming the material's path" holds "'materialLicenses[0].licenseNumber' in d['message'] and d['code'] == 'INVALID_ARGUMENT'"
check "and nothing was filed" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM applications.applications")" = "$BEFORE"
check "the audit has the revocation" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM applications.license_audit WHERE target = '$L' AND action = 'license_revoke'")" = 1
check "license.issued and license.revoked are in the outbox under the application's key" \
  test "$("${PSQL[@]}" -c "SELECT string_agg(type, ',' ORDER BY id) FROM applications.outbox WHERE aggregate_key = '$N' AND type LIKE 'license.%'")" = "license.issued,license.revoked"

finish
