#!/usr/bin/env bash
# e2e_identity_company.sh - binding a company checks the company register (企业登记,
# the stand-in in tools/fakes): only the legal representative, or a person the
# representative authorised (授权经办人, with scope and expiry), binds and acts for a
# company; the register's name is the company's name, whoever binds first; a change of
# representative in the register ends the former one's binding and their agents'.
source "$(dirname "$0")/lib.sh"
e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"

# people of the registry stand-in; companies of the register stand-in
ZHANG="$(verified_resident 13800000001 张三 320706199001011230)"  # represents ...Y43 and ...2G
LI="$(verified_resident 13800000002 李四 320722198512120020)"     # represents ...1D
WANG="$(verified_resident 13800000003 王小明 320703200002294566)" # represents nothing
ZHAO="$(verified_resident 13800000004 赵敏 320724197806300885)"   # represents ...3K
check "four verified residents" test -n "$ZHANG" -a -n "$LI" -a -n "$WANG" -a -n "$ZHAO"

# --- only the legal representative binds
req POST /v1/me/legal-persons "$LI" '{"creditCode":"91350100M000100Y43","name":"某某科技有限公司","legalRepresentative":"张三"}'
expect_status "a resident who is not the representative cannot bind the company (403)" 403
req GET /v1/me "$LI"
check "the refused binding leaves no trace on the account" holds "not d.get('legalPersons')"
req POST /v1/me/legal-persons "$ZHANG" '{"creditCode":"91350100M000100Y43"}'
expect_status "the representative binds by credit code alone" 200
check "the binding carries the register's name and says representative" \
  holds "any(b['creditCode']=='91350100M000100Y43' and b['name']=='某某科技有限公司' and b['role']=='representative' for b in d['legalPersons'])"

# --- the first binder does not fix the name for everyone
req POST /v1/me/legal-persons "$WANG" '{"creditCode":"91320700320000003K","name":"冒名顶替有限公司","legalRepresentative":"王小明"}'
expect_status "a stranger cannot bind another's company under a made-up name (412)" 412
req POST /v1/me/legal-persons "$WANG" '{"creditCode":"91320700320000003K"}'
expect_status "nor under the register's name (403)" 403
req POST /v1/me/legal-persons "$ZHAO" '{"creditCode":"91320700320000003K"}'
expect_status "the real representative binds it afterwards" 200
check "under the register's name" \
  holds "any(b['name']=='连云港示例物流有限公司' for b in d['legalPersons'])"
req POST /v1/me/legal-persons "$ZHAO" '{"creditCode":"91320700320000003K","name":"另一个名字有限公司"}'
expect_status "a name that differs from the register's is refused (412)" 412
check "no made-up name reached the table" test \
  "$("${PSQL[@]}" -c "SELECT count(*) FROM identity.legal_persons WHERE name IN ('冒名顶替有限公司','另一个名字有限公司')")" = 0

# --- the register's status and unknown companies
req POST /v1/me/legal-persons "$ZHANG" '{"creditCode":"91320700320000002G"}'
expect_status "a deregistered company cannot be bound (412)" 412
req POST /v1/me/legal-persons "$ZHANG" '{"creditCode":"91320700320000004N"}'
expect_status "a credit code the register does not know is 404" 404

# --- the representative authorises an agent (经办人), with scope and expiry
req POST /v1/me/legal-persons "$LI" '{"creditCode":"91320700320000001D"}'
expect_status "李四 binds the company he represents" 200
FUTURE="$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)"
req POST /v1/me/legal-persons/91320700320000001D/agents "$WANG" \
  "{\"name\":\"王小明\",\"idCardNumber\":\"320703200002294566\",\"scope\":[\"apply\"],\"expiresAt\":\"$FUTURE\"}"
expect_status "only the representative authorises agents (403 for anyone else)" 403
req POST /v1/me/legal-persons/91320700320000001D/agents "$LI" \
  "{\"name\":\"王小明\",\"idCardNumber\":\"320703200002294566\",\"scope\":[\"launder\"],\"expiresAt\":\"$FUTURE\"}"
expect_status "an unknown scope is 400" 400
req POST /v1/me/legal-persons/91320700320000001D/agents "$LI" \
  "{\"name\":\"王小明\",\"idCardNumber\":\"320703200002294566\",\"scope\":[\"apply\"],\"expiresAt\":\"2020-01-01T00:00:00Z\"}"
expect_status "an expiry in the past is 400" 400
req POST /v1/me/legal-persons/91320700320000001D/agents "$LI" \
  "{\"name\":\"王小明\",\"idCardNumber\":\"320703200002294566\",\"scope\":[\"apply\",\"pay\",\"read\"],\"expiresAt\":\"$FUTURE\"}"
expect_status "the representative authorises 王小明" 200
AGENT_ID="$(field "d['id']")"
check "the authorisation answers masked data, its scope and expiry" \
  holds "d['idCardMasked']=='3207**********4566' and d['scope']==['apply','pay','read'] and d['expiresAt']"
req GET /v1/me/legal-persons/91320700320000001D/agents "$LI"
expect_status "the representative lists the agents" 200
check "the list holds the agent" holds "[a['id'] for a in d['agents']]==['$AGENT_ID']"
req POST /v1/me/legal-persons "$WANG" '{"creditCode":"91320700320000001D"}'
expect_status "the authorised agent binds the company" 200
check "as an agent, with the scope given" \
  holds "any(b['creditCode']=='91320700320000001D' and b['role']=='agent' and b['scope']==['apply','pay','read'] for b in d['legalPersons'])"
req POST /v1/me/acting-for "$WANG" '{"creditCode":"91320700320000001D"}'
expect_status "the agent acts for the company" 200
req GET /v1/company "$WANG"; expect_status "the agent reaches the legal-person routes" 200
check "the company is the register's" holds "d['name']=='连云港示例贸易有限公司' and d['role']=='agent'"
# the session acts for the company until the authorisation's expiry, not a moment longer
SESS=""
for k in $(redis_cmd --scan --pattern "$E2E_DB:sess:*"); do
  if [ "$(redis_cmd HGET "$k" org 2>/dev/null || true)" = 91320700320000001D ]; then SESS="$k"; fi
done
UNTIL="$(redis_cmd HGET "$SESS" org_until)"
check "the agent's session acts for the company until the authorisation's expiry" \
  test "$UNTIL" = "$(date -d "$FUTURE" +%s)"
redis_cmd HSET "$SESS" org_until "$(( $(date +%s) - 1 ))" >/dev/null
req GET /v1/company "$WANG"
expect_status "past it, the session no longer acts for the company (403)" 403
redis_cmd HSET "$SESS" org_until "$UNTIL" >/dev/null
req GET /v1/company "$WANG"; expect_status "(before it, it does)" 200

# --- the agent's scope holds wherever the session acts for the company
ITEM="$("${PSQL[@]}" -c "SELECT impl_code FROM catalog.items WHERE status='published' AND form IS NULL AND level='city' AND coalesce((details->>'minRealnameLevel')::int,0) <= 2 AND details->'audiences' ? 'LEGAL_PERSON' ORDER BY impl_code LIMIT 1")"
check "a published item for companies without a form" test -n "$ITEM"
req POST /v1/applications "$WANG" "{\"itemCode\":\"$ITEM\"}"
expect_status "an agent with the apply scope files an application for the company" 200
check "as the company" \
  holds "d['application']['applicantKind']=='company' and d['application']['applicantOrg']=='91320700320000001D'"
APP_1D="$(field "d['application']['number']")"
e2e_staff ga.cashier 320700-GA dept_staff
GA="$(e2e_staff_token ga.cashier)"
order() { # order TOKEN IDEMPOTENCY-KEY JSON -> $S, $B: POST /v1/payments/orders
  S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/payments/orders" -H "authorization: Bearer $1" \
    -H 'content-type: application/json' -H "idempotency-key: $2" --data-binary "$3")"
}
# neither_file_nor_pay TOKEN: filing and paying for the company are refused (403)
neither_file_nor_pay() {
  req POST /v1/applications "$1" "{\"itemCode\":\"$ITEM\"}"
  expect_status "without the apply scope an agent cannot file for the company (403)" 403
  check "and is told which scope is missing" holds "\"scope 'apply'\" in d['message']"
  req POST "/v1/payments/notices/$NOTICE:pay" "$1" '{"channel":"no-such-channel"}'
  expect_status "without the pay scope an agent cannot pay for the company (403)" 403
}
order "$GA" scope-notice-1 '{"itemCode":"FINE01","itemName":"交通违法罚款","amountFen":"1250","payerName":"连云港示例贸易有限公司"}'
expect_status "department staff issue a payment notice to the company" 200
NOTICE="$(field "d['noticeCode']")"
req POST "/v1/payments/notices/$NOTICE:pay" "$WANG" '{"channel":"no-such-channel"}'
expect_status "with the pay scope, paying goes on to the channel (400: no such channel)" 400
# the representative narrows the authorisation: the agent's open session follows at once
req POST /v1/me/legal-persons/91320700320000001D/agents "$LI" \
  "{\"name\":\"王小明\",\"idCardNumber\":\"320703200002294566\",\"scope\":[\"read\"],\"expiresAt\":\"$FUTURE\"}"
expect_status "the representative narrows 王小明's authorisation to read" 200
req GET /v1/company "$WANG"
expect_status "the agent's session still reads the company" 200
neither_file_nor_pay "$WANG"
check "nothing was filed for the company" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM applications.applications WHERE applicant_org = '91320700320000001D'")" = 1
req POST "/v1/applications/$APP_1D:withdraw" "$WANG" '{"reason":"不办了"}'
expect_status "nor withdraw the company's application (403)" 403
req GET "/v1/applications/$APP_1D" "$WANG"
expect_status "but reads it (read scope)" 200
order "$WANG" scope-fee-1 "{\"applicationNumber\":\"$APP_1D\"}"
expect_status "nor ask for the order of the company's fee (403)" 403
# the representative has every scope
req POST /v1/me/acting-for "$LI" '{"creditCode":"91320700320000001D"}'
expect_status "the representative acts for the company" 200
req GET /v1/company "$LI"; expect_status "reads it" 200
req POST /v1/applications "$LI" "{\"itemCode\":\"$ITEM\"}"
expect_status "and files for it" 200
check "as the company" holds "d['application']['applicantKind']=='company'"
req POST "/v1/payments/notices/$NOTICE:pay" "$LI" '{"channel":"no-such-channel"}'
expect_status "and pays for it (on to the channel: 400)" 400
req POST /v1/me/acting-for "$LI" '{"creditCode":""}'
expect_status "the representative stops acting for the company" 200

# --- revocation ends the agent's power at once
req DELETE "/v1/me/legal-persons/91320700320000001D/agents/$AGENT_ID" "$ZHAO"
expect_status "another company's representative cannot revoke (403)" 403
req DELETE "/v1/me/legal-persons/91320700320000001D/agents/$AGENT_ID" "$LI"
expect_status "the representative revokes the authorisation" 200
req GET /v1/company "$WANG"; expect_status "the revoked agent's session no longer acts for the company" 403
req POST /v1/me/acting-for "$WANG" '{"creditCode":"91320700320000001D"}'
expect_status "nor can it act for it again" 403
req GET /v1/me "$WANG"
check "and the binding is gone from the agent's account" \
  holds "not any(b['creditCode']=='91320700320000001D' for b in d.get('legalPersons', []))"
req POST /v1/me/legal-persons "$WANG" '{"creditCode":"91320700320000001D"}'
expect_status "nor bind it again" 403

# --- an expired authorisation is no authorisation
req POST /v1/me/legal-persons/91320700320000001D/agents "$LI" \
  "{\"name\":\"张三\",\"idCardNumber\":\"320706199001011230\",\"scope\":[\"read\"],\"expiresAt\":\"$FUTURE\"}"
expect_status "the representative authorises 张三" 200
req POST /v1/me/legal-persons "$ZHANG" '{"creditCode":"91320700320000001D"}'
expect_status "张三 binds as agent" 200
req POST /v1/me/acting-for "$ZHANG" '{"creditCode":"91320700320000001D"}'
expect_status "the read-only agent acts for the company" 200
req GET /v1/company "$ZHANG"; expect_status "and reads it" 200
neither_file_nor_pay "$ZHANG" # a read-only agent from the start
"${PSQL[@]}" -c "UPDATE identity.company_agents SET expires_at = now() - interval '1 second' WHERE credit_code = '91320700320000001D' AND revoked_at IS NULL" >/dev/null
req POST /v1/me/acting-for "$ZHANG" '{"creditCode":"91320700320000001D"}'
expect_status "after the expiry the agent cannot act for the company" 403

# --- acting for a company is checked against the register again
req POST /v1/me/acting-for "$ZHAO" '{"creditCode":"91320700320000003K"}'
expect_status "the representative acts for the company" 200
req POST /v1/me/legal-persons/91320700320000003K/agents "$ZHAO" \
  "{\"name\":\"王小明\",\"idCardNumber\":\"320703200002294566\",\"scope\":[\"apply\"],\"expiresAt\":\"$FUTURE\"}"
expect_status "the representative authorises 王小明 for it" 200
req POST /v1/me/legal-persons "$WANG" '{"creditCode":"91320700320000003K"}'
expect_status "who binds it as agent" 200
req POST /v1/me/acting-for "$WANG" '{"creditCode":"91320700320000003K"}'
expect_status "and acts for it" 200
curl -fsS -X POST "$FAKES/companies/update" -d '{"creditCode":"91320700320000003K","status":"revoked"}' >/dev/null
req POST /v1/me/acting-for "$ZHAO" '{"creditCode":"91320700320000003K"}'
expect_status "once the register revokes the company, acting for it is refused (412)" 412
curl -fsS -X POST "$FAKES/companies/update" -d '{"creditCode":"91320700320000003K","status":"active","legalRepresentativeIdSha256":"0e547a71a359c847206517ec3ded73064c5529650de7a2f64fdd18061b940255"}' >/dev/null
req POST /v1/me/acting-for "$ZHAO" '{"creditCode":"91320700320000003K"}'
expect_status "a former representative cannot act for the company (403)" 403
# identity saw the change: the open sessions of the former representative and of their
# agents stop acting for the company at once, not when their access tokens end
# acts_no_more TOKEN WHO: the session no longer reads the company, and files for the person
acts_no_more() {
  req GET /v1/company "$1"
  expect_status "$2's open session no longer acts for the company (403)" 403
  req POST /v1/applications "$1" "{\"itemCode\":\"$ITEM\"}"
  check "$2's open session files only for the person now" \
    holds "d['application']['applicantKind']=='person' and not d['application'].get('applicantOrg')"
}
acts_no_more "$ZHAO" "the former representative"
acts_no_more "$WANG" "their agent"
check "nothing was filed for the company after the change" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM applications.applications WHERE applicant_org = '91320700320000003K'")" = 0
req GET /v1/me "$ZHAO"
check "and the binding is gone from their account" \
  holds "not any(b['creditCode']=='91320700320000003K' for b in d.get('legalPersons', []))"
req POST /v1/me/legal-persons "$LI" '{"creditCode":"91320700320000003K"}'
expect_status "the new representative binds it" 200
req GET /v1/company "$WANG"
expect_status "the former representative's agent no longer acts for it (403)" 403
req POST /v1/me/acting-for "$WANG" '{"creditCode":"91320700320000003K"}'
expect_status "nor can start to again" 403
req GET /v1/me "$WANG"
check "and the binding is gone from the agent's account" \
  holds "not any(b['creditCode']=='91320700320000003K' for b in d.get('legalPersons', []))"
req POST /v1/me/legal-persons "$WANG" '{"creditCode":"91320700320000003K"}'
expect_status "nor can the agent bind it again on the old authorisation" 403

# --- a new representative binding the company is identity seeing the change too
req POST /v1/me/acting-for "$ZHANG" '{"creditCode":"91350100M000100Y43"}'
expect_status "张三 acts for the company he represents" 200
req GET /v1/company "$ZHANG"; expect_status "and reads it" 200
curl -fsS -X POST "$FAKES/companies/update" -d '{"creditCode":"91350100M000100Y43","legalRepresentativeIdSha256":"0e547a71a359c847206517ec3ded73064c5529650de7a2f64fdd18061b940255"}' >/dev/null
req POST /v1/me/legal-persons "$LI" '{"creditCode":"91350100M000100Y43"}'
expect_status "the register's new representative binds it" 200
acts_no_more "$ZHANG" "the former representative (a new one bound)"

# --- everything is in the audit trail
check "bindings and authorisations are audited" test "$("${PSQL[@]}" -c \
  "SELECT count(DISTINCT action) FROM identity.audit_log WHERE action IN ('bind_legal_person','authorize_agent','revoke_agent') AND outcome = 'ok'")" = 3

finish
