#!/usr/bin/env bash
# e2e_company_access.sh - a company's applications are the company's: whoever filed one
# (the representative or an agent), only a person acting for the company with the scope
# the act needs reads, lists, changes or downloads it; a person acting for nobody (an
# agent who stopped acting, or was revoked) is told it does not exist (404); the
# representative acting for the company sees the applications its agents filed, reads
# and lists the company's license, rates its application, and reads and revisits the
# rectification case of the company's rating. An item only for natural persons is not
# filed for a company (412, alone or in a bundle): the person files it as himself, and it
# stays his. Revoking or narrowing an agent whose sessions cannot be updated is refused
# whole (503).
# The feed of a company's application is the company's: the person acting for it (scope
# read) reads it, listed and live; the agent who filed it, once revoked, hears nothing
# more of it.
source "$(dirname "$0")/lib.sh"
# yw-feed (started by e2e_start) fills feeds from the applications' stream
export E2E_FEED_STREAMS="$E2E_DB:events:{applications}"
e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"

CO=91320700320000001D
LI="$(verified_resident 13800000002 李四 320722198512120020)"     # represents $CO
WANG="$(verified_resident 13800000003 王小明 320703200002294566)" # represents nothing
check "two verified residents" test -n "$LI" -a -n "$WANG"
FUTURE="$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)"
req POST /v1/me/legal-persons "$LI" "{\"creditCode\":\"$CO\"}"
expect_status "the representative binds his company" 200
authorise() { # authorise SCOPE-JSON
  req POST "/v1/me/legal-persons/$CO/agents" "$LI" \
    "{\"name\":\"王小明\",\"idCardNumber\":\"320703200002294566\",\"scope\":$1,\"expiresAt\":\"$FUTURE\"}"
}
authorise '["apply","pay","read"]'
expect_status "he authorises an agent (apply, pay, read)" 200
AGENT_ID="$(field "d['id']")"
req POST /v1/me/legal-persons "$WANG" "{\"creditCode\":\"$CO\"}"
expect_status "the agent binds the company" 200
req POST /v1/me/acting-for "$WANG" "{\"creditCode\":\"$CO\"}"
expect_status "the agent acts for the company" 200
ITEM="$("${PSQL[@]}" -c "SELECT impl_code FROM catalog.items WHERE status='published' AND form IS NULL AND level='city' AND coalesce((details->>'minRealnameLevel')::int,0) <= 2 AND details->'audiences' ? 'LEGAL_PERSON' ORDER BY impl_code LIMIT 1")"
req POST /v1/applications "$WANG" "{\"itemCode\":\"$ITEM\"}"
expect_status "the agent files application 1 for the company" 200
APP1="$(field "d['application']['number']")"
MAT="$(field "(d['application'].get('missingMaterials') or d.get('missingMaterials') or ['营业执照'])[0]")"
req POST /v1/applications "$WANG" "{\"itemCode\":\"$ITEM\"}"
expect_status "and application 2" 200
APP2="$(field "d['application']['number']")"
printf '%%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%%%EOF\n' >"$E2E_TMP/m.pdf"
MSHA="$(sha256sum "$E2E_TMP/m.pdf" | cut -d' ' -f1)"
upload() { # upload TOKEN NUMBER
  S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/applications/$2/materials" \
    -H "authorization: Bearer $1" -F "material=$MAT" -F "files=@$E2E_TMP/m.pdf")"
}
download() { # download TOKEN NUMBER
  S="$(curl -sS -o "$B" -w '%{http_code}' "$GW/v1/applications/$2/materials/$MSHA" \
    -H "authorization: Bearer $1")"
}
upload "$WANG" "$APP2"
expect_status "the agent adds a material to application 2" 200
# application 3, for the company: the lead department rejects it, so it may be rated;
# application 4 of an item whose result is a license: completed, the company holds it
e2e_staff company.clerk 320700-GA dept_staff
GA="$(e2e_staff_token company.clerk)"
req POST /v1/applications "$WANG" "{\"itemCode\":\"$ITEM\"}"
expect_status "the agent files application 3 for the company" 200
APP3="$(field "d['application']['number']")"
req POST "/v1/departments/320700-GA/applications/$APP3:reject" "$GA" '{"reason":"材料不全"}'
expect_status "the lead department rejects application 3" 200
LIC_ITEM="$("${PSQL[@]}" -c "SELECT impl_code FROM catalog.items WHERE status='published' AND form IS NULL AND department_code = '320700-GA' AND coalesce((details->>'minRealnameLevel')::int,0) <= 2 AND details->'audiences' ? 'LEGAL_PERSON' AND details->'results' @> '[{\"type\":\"证照\"}]' AND NOT coalesce((details->>'onlinePayment')::boolean, false) ORDER BY impl_code LIMIT 1")"
check "an item of 320700-GA for companies issues a license ($LIC_ITEM)" test -n "$LIC_ITEM"
req POST /v1/applications "$WANG" "{\"itemCode\":\"$LIC_ITEM\"}"
expect_status "the agent files application 4 for the company" 200
APP4="$(field "d['application']['number']")"
for verb in accept start-review; do
  req POST "/v1/departments/320700-GA/applications/$APP4:$verb" "$GA" '{}'
done
req POST "/v1/departments/320700-GA/applications/$APP4:decide" "$GA" '{"decision":"APPROVE"}'
req POST "/v1/departments/320700-GA/applications/$APP4:complete" "$GA" '{}'
expect_status "the lead department completes application 4" 200
LIC="$("${PSQL[@]}" -c "SELECT number FROM applications.licenses WHERE application_number = '$APP4'")"
check "and the company holds its license" test -n "$LIC" -a \
  "$("${PSQL[@]}" -c "SELECT holder_kind || ':' || holder_org FROM applications.licenses WHERE number = '$LIC'")" = "company:$CO"
req GET "/v1/licenses/$LIC" "$WANG"
expect_status "the agent acting for the company reads it" 200
req GET /v1/me/licenses "$WANG"
check "and lists it" holds "'$LIC' in json.dumps(d)"
rate() { # rate TOKEN NUMBER
  S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/applications/$2/rating" \
    -H "authorization: Bearer $1" -H 'content-type: application/json' \
    --data-binary "{\"level\":\"${3:-SATISFIED}\",\"text\":\"办得快\"}")"
}
apps_of() { "${PSQL[@]}" -c "SELECT count(*) FROM applications.applications WHERE applicant_subject = '$1'"; }

# --- an item only for natural persons is not filed for the company
PITEM="$("${PSQL[@]}" -c "SELECT impl_code FROM catalog.items WHERE status='published' AND form IS NULL AND level='city' AND department_code='320700-GA' AND coalesce((details->>'minRealnameLevel')::int,0) <= 2 AND details->'audiences' = '[\"NATURAL_PERSON\"]'::jsonb ORDER BY impl_code LIMIT 1")"
check "an item of 320700-GA for natural persons only ($PITEM)" test -n "$PITEM"
WANG_SUBJ="$("${PSQL[@]}" -c "SELECT applicant_subject FROM applications.applications WHERE number = '$APP1'")"
FILED="$(apps_of "$WANG_SUBJ")"
req POST /v1/applications "$WANG" "{\"itemCode\":\"$PITEM\"}"
expect_status "acting for the company, the agent cannot file it for the company (412)" 412
check "FAILED_PRECONDITION: stop acting for the company to file it as yourself" \
  holds "d['code'] == 'FAILED_PRECONDITION' and 'stop acting for the company' in d['message']"
req POST /v1/bundles/newborn/applications "$WANG" '{"form":{"name":"张小宝"}}'
expect_status "nor the newborn bundle, whose members are for natural persons (412)" 412
check "with the same advice" \
  holds "d['code'] == 'FAILED_PRECONDITION' and 'stop acting for the company' in d['message']"
check "nothing was filed" test "$(apps_of "$WANG_SUBJ")" = "$FILED"
req POST /v1/me/acting-for "$WANG" '{"creditCode":""}'
expect_status "the agent stops acting for the company" 200
req POST /v1/applications "$WANG" "{\"itemCode\":\"$PITEM\"}"
expect_status "and files the item as himself" 200
check "as a person's application" holds "d['application']['applicantKind'] == 'person'"
PAPP="$(field "d['application']['number']")"
req POST /v1/me/acting-for "$WANG" "{\"creditCode\":\"$CO\"}"
expect_status "the agent acts for the company again" 200

# --- the rectification case of the company's rating is the company's
req POST /v1/applications "$WANG" "{\"itemCode\":\"$ITEM\"}"
expect_status "the agent files application 5 for the company" 200
APP5="$(field "d['application']['number']")"
req POST "/v1/departments/320700-GA/applications/$APP5:reject" "$GA" '{"reason":"材料不全"}'
expect_status "the lead department rejects application 5" 200
rate "$WANG" "$APP5" VERY_DISSATISFIED
expect_status "the agent rates it very dissatisfied" 200
CASE="$(field "d['rectificationId']")"
check "which opens a rectification case" test -n "$CASE"
req GET "/v1/rectifications/$CASE" "$WANG"
expect_status "the agent acting for the company reads the case" 200
req POST "/v1/rectifications/$CASE:answer" "$GA" '{"department":"320700-GA","verification":"COMPLAINT_VALID","measures":"增开窗口"}'
expect_status "the department answers it" 200

feed_has() { # feed_has TOKEN PYTHON-CONDITION-ON-ENTRIES: polls the feed, at most 30 s
  for _ in $(seq 60); do
    req GET "/v1/me/feed/entries?pageSize=100" "$1"
    [ "$S" = 200 ] && holds "$2" 2>/dev/null && return 0
    sleep 0.5
  done
  return 1
}
links() { echo "[e['link'] for e in d.get('entries', [])]"; }

# --- the feed of the company's applications is the company's
check "the agent acting for the company (read) reads its feed: application 4's license" \
  feed_has "$WANG" "'applications/$APP1' in $(links) and 'licenses/$LIC' in $(links)"
check "which holds no entry in the agent's own name" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM feed.entries WHERE link IN ('applications/$APP1', 'licenses/$LIC') AND subject <> 'org:$CO'")" = 0

# --- the representative acting for the company sees what its agent filed
req GET "/v1/applications/$APP1" "$LI"
expect_status "the representative acting for nobody: the company's application is 404" 404
req POST /v1/me/acting-for "$LI" "{\"creditCode\":\"$CO\"}"
expect_status "the representative acts for the company" 200
req GET /v1/me/applications "$LI"
check "acting for the company, his list holds the agent's filings" \
  holds "{a['number'] for a in d.get('applications', [])} >= {'$APP1', '$APP2'}"
req GET "/v1/applications/$APP2" "$LI"
expect_status "and he reads the agent's application" 200
download "$LI" "$APP2"
expect_status "and downloads its material" 200
# yw-progress follows the events asynchronously: polled, at most 30 s
for _ in $(seq 60); do
  req GET /v1/me/progress "$LI"
  holds "'$APP1' in json.dumps(d) and '$APP2' in json.dumps(d)" 2>/dev/null && break
  sleep 0.5
done
check "his progress list holds the company's applications" holds "'$APP1' in json.dumps(d) and '$APP2' in json.dumps(d)"
req GET /v1/me/progress "$WANG"
check "so does the agent's while he acts for it" holds "'$APP1' in json.dumps(d)"

# --- scope apply only: no reads
authorise '["apply"]'
expect_status "the representative narrows the agent to apply" 200
req GET "/v1/applications/$APP1" "$WANG"
expect_status "without read, reading the application is 403" 403
download "$WANG" "$APP2"
expect_status "without read, downloading its material is 403" 403
req GET /v1/me/progress "$WANG"
expect_status "without read, the progress list is 403" 403
req GET /v1/me/feed/entries "$WANG"
expect_status "without read, the company's feed is 403" 403
req GET /v1/me/applications "$WANG"
expect_status "without read, the application list is 403" 403
req GET "/v1/rectifications/$CASE" "$WANG"
expect_status "without read, the company's rectification case is 403" 403

# --- scope read: no changes, acting for the company or not
authorise '["read"]'
expect_status "the representative narrows the agent to read" 200
req POST "/v1/applications/$APP1:withdraw" "$WANG" '{"reason":"x"}'
expect_status "acting for the company without apply, withdrawing is 403" 403
req POST /v1/me/acting-for "$WANG" '{"creditCode":""}'
expect_status "the agent stops acting for the company" 200
req POST "/v1/applications/$APP1:withdraw" "$WANG" '{"reason":"x"}'
expect_status "acting for nobody, he cannot withdraw the company's application (404)" 404
req GET "/v1/applications/$APP1" "$WANG"
expect_status "nor read it (404)" 404
download "$WANG" "$APP2"
expect_status "nor download its material (404)" 404
req GET /v1/me/applications "$WANG"
check "nor find it in his own list" holds "$S == 200 and '$APP1' not in json.dumps(d) and '$APP2' not in json.dumps(d)"
req GET /v1/me/progress "$WANG"
check "nor in his own progress list" holds "$S == 200 and '$APP1' not in json.dumps(d)"
req GET "/v1/me/feed/entries?pageSize=100" "$WANG"
check "nor in his own feed" holds "$S == 200 and not any(l.endswith(('$APP1', '$APP2', '$APP3', '$APP5', '$LIC')) for l in $(links))"
check "application 1 is still submitted" test \
  "$("${PSQL[@]}" -c "SELECT status FROM applications.applications WHERE number = '$APP1'")" = submitted

# --- revoked: nothing of the company's, whichever way he asks
req POST /v1/me/acting-for "$WANG" "{\"creditCode\":\"$CO\"}"
expect_status "the agent acts for the company again" 200
# first, the agent's sessions cannot all be updated (Redis refuses the command on one of
# them, a key of another type): a new scope or a revocation is refused whole (503) and
# the authorisation stays as it was
redis_cmd SET "$E2E_DB:sess:unwritable" x >/dev/null
redis_cmd SADD "$E2E_DB:subj:$WANG_SUBJ" unwritable >/dev/null
scope_now() {
  "${PSQL[@]}" -c "SELECT array_to_string(scope, ',') FROM identity.company_agents WHERE id = $AGENT_ID AND revoked_at IS NULL"
}
authorise '["apply","pay","read"]'
expect_status "widening the scope while the sessions cannot be updated is 503" 503
check "and the authorisation keeps its scope (read)" test "$(scope_now)" = read
req GET "/v1/applications/$APP1" "$WANG"
check "no session of the agent holds the wider scope (read: 200, or 404 once dropped)" \
  test "$S" = 200 -o "$S" = 404
req POST "/v1/applications/$APP1:withdraw" "$WANG" '{"reason":"x"}'
check "nor withdraws (got $S)" test "$S" = 403 -o "$S" = 404
req DELETE "/v1/me/legal-persons/$CO/agents/$AGENT_ID" "$LI"
expect_status "revoking while the sessions cannot be updated is 503" 503
check "and the authorisation is still in force" test "$(scope_now)" = read
redis_cmd SREM "$E2E_DB:subj:$WANG_SUBJ" unwritable >/dev/null
redis_cmd DEL "$E2E_DB:sess:unwritable" >/dev/null
req POST /v1/me/acting-for "$WANG" "{\"creditCode\":\"$CO\"}"
expect_status "the agent acts for the company (read) once more" 200
req DELETE "/v1/me/legal-persons/$CO/agents/$AGENT_ID" "$LI"
expect_status "the representative revokes the agent" 200
req GET "/v1/applications/$APP2" "$WANG"
expect_status "revoked, he cannot read the company's application (404)" 404
req GET /v1/me/applications "$WANG"
check "revoked, his list does not hold it" holds "$S == 200 and '$APP2' not in json.dumps(d)"
upload "$WANG" "$APP2"
expect_status "revoked, he cannot add a material (404)" 404
req POST "/v1/applications/$APP2:withdraw" "$WANG" '{"reason":"x"}'
expect_status "revoked, he cannot withdraw it (404)" 404
check "both applications are still submitted" test \
  "$("${PSQL[@]}" -c "SELECT string_agg(status, ',' ORDER BY number) FROM applications.applications WHERE number IN ('$APP1', '$APP2')")" = submitted,submitted
req GET "/v1/licenses/$LIC" "$WANG"
expect_status "revoked, he cannot read the company's license (404)" 404
req GET /v1/me/licenses "$WANG"
check "nor list it" holds "$S == 200 and '$LIC' not in json.dumps(d)"
rate "$WANG" "$APP3"
expect_status "revoked, he cannot rate the company's application (404)" 404
req GET "/v1/licenses/$LIC" "$LI"
expect_status "the representative acting for the company reads the license" 200
req GET /v1/me/licenses "$LI"
check "and lists it" holds "'$LIC' in json.dumps(d)"
rate "$LI" "$APP3"
expect_status "and rates the application the agent filed" 200
req GET "/v1/rectifications/$CASE" "$WANG"
expect_status "revoked, he cannot read the company's rectification case (404)" 404
req POST "/v1/rectifications/$CASE:revisit" "$WANG" '{"satisfied":true}'
expect_status "nor revisit it (404)" 404
req GET "/v1/rectifications/$CASE" "$LI"
expect_status "the representative acting for the company reads the case the agent opened" 200
req POST "/v1/rectifications/$CASE:revisit" "$LI" '{"satisfied":true,"note":"已改进"}'
expect_status "and revisits it" 200
req GET "/v1/applications/$PAPP" "$LI"
expect_status "the agent's own application is not the company's: the representative gets 404" 404
req GET "/v1/applications/$PAPP" "$WANG"
expect_status "revoked, the agent still reads his own application" 200

# --- the department rejects the revoked agent's filing: the company hears of it, he does not
req GET "/v1/me/feed/entries?pageSize=1" "$LI"
LAST_ENTRY="$(field "d['entries'][0]['id']")"
/usr/bin/python3 "$YW_SOURCE_DIR/tests/e2e/sse_read.py" "$GW/v1/me/feed" "$LI" \
  "text:applications/$APP1" "$LAST_ENTRY" >"$E2E_TMP/company.sse" 2>&1 &
SSE_PID=$!
for _ in $(seq 120); do grep -q '^retry:' "$E2E_TMP/company.sse" && break; sleep 0.25; done
check "the representative's live feed, acting for the company, is open" grep -q '^retry:' "$E2E_TMP/company.sse"
req POST "/v1/departments/320700-GA/applications/$APP1:reject" "$GA" '{"reason":"法定代表人身份证件与营业执照不符"}'
expect_status "the department rejects application 1, filed by the revoked agent" 200
check "the representative acting for the company reads it in the company's feed" \
  feed_has "$LI" "any(e['link'] == 'applications/$APP1' and '营业执照' in e['body'] for e in d.get('entries', []))"
check "and it comes on his live feed" wait "$SSE_PID"
req GET "/v1/me/feed/entries?pageSize=100" "$WANG"
check "the revoked agent's feed holds nothing of the company's applications" \
  holds "$S == 200 and not any(l.endswith(('$APP1', '$APP2', '$APP3', '$APP5', '$LIC')) for l in $(links))"
check "and still his own application's" holds "'applications/$PAPP' in $(links)"

# --- the representative changes the agent's filing for the company
req POST "/v1/applications/$APP2:withdraw" "$LI" '{"reason":"不再办理"}'
expect_status "the representative acting for the company withdraws the agent's application" 200
finish
