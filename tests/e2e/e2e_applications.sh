#!/usr/bin/env bash
# e2e_applications.sh - applications (办件, yw-applications) through the real gateway with
# curl, every process on mutual TLS: a verified resident applies for a seeded item
# (yw-applications reads it from yw-catalog), gets a number and a query code, and the
# same Idempotency-Key gives the same application; a clerk of another department can
# neither read it (404) nor act on it (403); the lead department accepts, reviews and
# asks for a supplement, the resident resubmits; a joint item is APPROVED only once both
# departments approved, one DISAPPROVE decides another; completion; a withdrawal after
# the decision is refused and leaves the row as it was; the timeline lists every step in
# order; the resident's feed (yw-feed, from the service's feed.entry events) shows them.
# The working-day calendar: a platform administrator loads a year (JSON or CSV), a clerk
# is refused (403), a bad line is a 400 that changes nothing, anyone reads it; the
# supervision job (a pass every second here) colours an accepted application, and
# yw-progress shows the colour the work queue shows. A life-event bundle (一件事一次办) is
# filed once from one merged form, and followed without signing in by the filing's
# number and code: every member with its status, one accepted by its department.
source "$(dirname "$0")/lib.sh"

export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
export YW_LOOKUP_KEY="${YW_LOOKUP_KEY:-$(openssl rand -hex 32)}"
# yw-feed fills residents' feeds from the applications' stream
export E2E_FEED_STREAMS="$E2E_DB:events:{applications}"
# the supervision job passes every second, so its colours show within the test
export YW_APPLICATIONS_SUPERVISE_S=1 YW_APPLICATIONS_CALENDAR_CHECK_MS=0
e2e_database
e2e_start
source "$YW_SOURCE_DIR/tests/e2e/identity_helpers.sh"

ITEM=GG00001000-320700-GA        # 居民身份证首次申领, 320700-GA, real-name level 2
JOINT_ITEM=GG00005000-320700-GA  # 320700-GA with 320700-SW (联办)
e2e_staff ga.clerk 320700-GA dept_staff
e2e_staff sw.clerk 320700-SW dept_staff
e2e_staff mz.clerk 320700-MZ dept_staff
GA="$(e2e_staff_token ga.clerk)"
SW="$(e2e_staff_token sw.clerk)"
MZ="$(e2e_staff_token mz.clerk)"
RES="$(verified_resident 13900000001 张三 320706199001011230)"
LOW="$(login_resident 13900000002)"

row() { # row NUMBER -> the stored row as text (status, times, form, timeline length)
  "${PSQL[@]}" -c "SELECT status, updated_at, form_enc, (SELECT count(*)
    FROM applications.application_transitions t WHERE t.application_id = a.id)
    FROM applications.applications a WHERE number = '$1'"
}
apply() { # apply ITEM [KEY] -> $S, $B
  local args=(-sS -o "$B" -D "$H" -w '%{http_code}' -X POST "$GW/v1/applications"
    -H "authorization: Bearer $RES" -H 'content-type: application/json'
    --data-binary "{\"itemCode\":\"$1\",\"form\":{\"name\":\"张三\",\"children\":1}}")
  [ -n "${2:-}" ] && args+=(-H "idempotency-key: $2")
  S="$(curl "${args[@]}")"
}
step() { # step TOKEN DEPT NUMBER VERB [JSON]
  local body="${5:-}"
  [ -n "$body" ] || body='{}'
  req POST "/v1/departments/$2/applications/$3:$4" "$1" "$body"
}

# --- applying -------------------------------------------------------------------------
apply "$ITEM" apply-1
expect_status "a verified resident applies for a published item (200)" 200
N="$(field "d['application']['number']")"
check "the receipt has a 20-digit number of the item's region and today, and a query code" \
  holds "len(d['application']['number']) == 20 and d['application']['number'].startswith('320700') and len(d['queryCode']) == 6 and d['application']['status'] == 'SUBMITTED'"
check "the item's version is pinned and its name kept" \
  holds "d['application']['itemVersion'] >= 1 and d['application']['itemName'] == '居民身份证首次申领' and d['application']['leadDepartment'] == '320700-GA'"
apply "$ITEM" apply-1
check "the same Idempotency-Key gives the same application" \
  holds "d['application']['number'] == '$N'"
check "and it is stored once" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM applications.applications")" = 1
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/applications" -H "authorization: Bearer $LOW" \
  -H 'content-type: application/json' --data-binary "{\"itemCode\":\"$ITEM\"}")"
expect_status "a resident below the item's real-name level is refused (403)" 403
apply "no such item!"
expect_status "a malformed item code is refused (400)" 400
check "with the standard error body" holds "'code' in d and 'message' in d"
check "and nothing more is stored" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM applications.applications")" = 1

# --- materials: uploaded as mini-programs and browsers send files ---------------------
req GET "/v1/applications/$N" "$RES"
MATERIAL="$(field "d['missingMaterials'][0]")"
MISSING="$(field "len(d['missingMaterials'])")"
check "the item's required materials are listed as missing" test "$MISSING" -ge 1
printf '%%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%%%EOF\n' >"$E2E_TMP/id.pdf"
printf '\x89PNG\r\n\x1a\n0000IHDR fake image body' >"$E2E_TMP/id.png"
upload() { # upload TOKEN NUMBER MATERIAL FILE... -> $S, $B
  local tok="$1" num="$2" mat="$3"
  shift 3
  local args=(-sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/applications/$num/materials"
    -H "authorization: Bearer $tok" -F "material=$mat")
  for f in "$@"; do args+=(-F "files=@$f"); done
  S="$(curl "${args[@]}")"
}
upload "$RES" "$N" "$MATERIAL" "$E2E_TMP/id.pdf" "$E2E_TMP/id.png"
expect_status "the resident uploads two files for a material (200)" 200
check "kept as an uploaded material with both files, sniffed and hashed" \
  holds "d['material']['source'] == 'UPLOAD' and sorted(f['contentType'] for f in d['material']['files']) == ['application/pdf', 'image/png'] and all(len(f['sha256']) == 64 for f in d['material']['files'])"
check "and it is no longer missing" holds "'$MATERIAL' not in d.get('missingMaterials', [])"
SHA="$(/usr/bin/python3 -c "import hashlib; print(hashlib.sha256(open('$E2E_TMP/id.pdf','rb').read()).hexdigest())")"
check "the file is named by its SHA-256" holds "'$SHA' in [f['sha256'] for f in d['material']['files']]"
curl -sS -o "$E2E_TMP/back.pdf" -w '%{http_code}' "$GW/v1/applications/$N/materials/$SHA" \
  -H "authorization: Bearer $RES" >"$E2E_TMP/code"
check "the resident downloads it, byte for byte" \
  bash -c "[ \"\$(cat '$E2E_TMP/code')\" = 200 ] && cmp -s '$E2E_TMP/id.pdf' '$E2E_TMP/back.pdf'"
S="$(curl -sS -o "$B" -w '%{http_code}' "$GW/v1/applications/$N/materials/$SHA" -H "authorization: Bearer $GA")"
expect_status "the lead department's clerk reads it (200)" 200
check "and that read is audited" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM applications.material_reads WHERE actor_department = '320700-GA'")" = 1
S="$(curl -sS -o "$B" -w '%{http_code}' "$GW/v1/applications/$N/materials/$SHA" -H "authorization: Bearer $MZ")"
expect_status "a clerk of another department cannot (404)" 404
printf '<html><script>alert(1)</script></html>' >"$E2E_TMP/page.html"
upload "$RES" "$N" "$MATERIAL" "$E2E_TMP/page.html"
expect_status "a file of a type not allowed is refused (415)" 415
upload "$RES" "$N" "不在清单上的材料" "$E2E_TMP/id.pdf"
expect_status "a material the item does not list is refused (400)" 400
check "naming the field" holds "'material' in d['message']"
upload "$LOW" "$N" "$MATERIAL" "$E2E_TMP/id.pdf"
expect_status "another resident cannot add to it (404)" 404
check "and nothing more is kept" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM applications.material_files")" = 2

# --- departments ----------------------------------------------------------------------
req GET "/v1/applications/$N" "$MZ"
expect_status "a clerk of another department cannot see it (404)" 404
step "$MZ" 320700-MZ "$N" accept
expect_status "nor act on it (403)" 403
step "$MZ" 320700-GA "$N" accept
expect_status "nor act in the lead department's name (403)" 403
req GET "/v1/departments/320700-GA/applications" "$GA"
check "the lead department's queue lists it" holds "[a['number'] for a in d['applications']] == ['$N']"
BEFORE="$(row "$N")"
step "$GA" 320700-GA "$N" start-review
expect_status "a step out of order is refused (412)" 412
check "and leaves the row as it was" test "$(row "$N")" = "$BEFORE"
step "$GA" 320700-GA "$N" accept
expect_status "the lead department accepts (200)" 200
check "with a due date" holds "d['status'] == 'ACCEPTED' and len(d['dueDate']) == 10"
step "$GA" 320700-GA "$N" start-review
expect_status "starts the review" 200
step "$GA" 320700-GA "$N" request-supplement '{"reason":"请补充户口簿首页"}'
check "and asks for a supplement" holds "d['status'] == 'SUPPLEMENT_REQUESTED'"
req POST "/v1/applications/$N:resubmit" "$RES" '{"form":{"name":"张三","hukou":"已补充"}}'
expect_status "the resident resubmits the form" 200
check "which is kept" holds "d['status'] == 'RESUBMITTED' and d['form']['hukou'] == '已补充'"
step "$GA" 320700-GA "$N" start-review
step "$GA" 320700-GA "$N" decide '{"decision":"APPROVE"}'
check "a department with the application alone approves it" holds "d['status'] == 'APPROVED'"
step "$GA" 320700-GA "$N" complete
check "and completes it" holds "d['status'] == 'COMPLETED'"
BEFORE="$(row "$N")"
req POST "/v1/applications/$N:withdraw" "$RES" '{"reason":"不要了"}'
check "a withdrawal after the decision is refused (412)" test "$S" = 412
check "and leaves the row as it was" test "$(row "$N")" = "$BEFORE"
req GET "/v1/applications/$N" "$RES"
check "the timeline lists every step in order" \
  holds "[t['toStatus'] for t in d['timeline']] == ['SUBMITTED', 'ACCEPTED', 'IN_REVIEW', 'SUPPLEMENT_REQUESTED', 'RESUBMITTED', 'IN_REVIEW', 'APPROVED', 'COMPLETED'] and d['timeline'][3]['reason'] == '请补充户口簿首页' and d['timeline'][3]['actorDepartment'] == '320700-GA'"

# --- joint approval (并联审批) ---------------------------------------------------------
apply "$JOINT_ITEM" joint-1
J="$(field "d['application']['number']")"
check "a joint item names both departments" holds "d['application']['jointDepartments'] == ['320700-SW']"
req GET "/v1/applications/$J" "$SW"
expect_status "the joint department sees it" 200
step "$SW" 320700-SW "$J" accept
expect_status "but intake is the lead department's (403)" 403
step "$GA" 320700-GA "$J" accept
step "$GA" 320700-GA "$J" start-review
step "$GA" 320700-GA "$J" decide '{"decision":"APPROVE"}'
check "one approval of two leaves it in review" holds "d['status'] == 'IN_REVIEW' and len(d['opinions']) == 1"
step "$MZ" 320700-MZ "$J" decide '{"decision":"APPROVE"}'
expect_status "a department not on it cannot decide (403)" 403
step "$SW" 320700-SW "$J" decide '{"decision":"APPROVE"}'
check "the second approval makes it APPROVED" holds "d['status'] == 'APPROVED'"
apply "$JOINT_ITEM" joint-2
K="$(field "d['application']['number']")"
step "$GA" 320700-GA "$K" accept
step "$GA" 320700-GA "$K" start-review
step "$SW" 320700-SW "$K" decide '{"decision":"DISAPPROVE","reason":"不符合条件"}'
check "one DISAPPROVE decides another" holds "d['status'] == 'DISAPPROVED'"
step "$GA" 320700-GA "$K" decide '{"decision":"APPROVE"}'
expect_status "and a later approval is refused (412)" 412

# --- the resident's lists and feed ------------------------------------------------------
req GET "/v1/me/applications" "$RES"
check "my applications, newest first" holds "[a['number'] for a in d['applications']] == ['$K', '$J', '$N']"
for _ in $(seq 100); do
  req GET "/v1/me/feed/entries?pageSize=50" "$RES"
  [ "$S" = 200 ] && holds "len([e for e in d.get('entries', []) if e['link'] == 'applications/$N']) >= 8" && break
  sleep 0.2
done
check "the resident's feed shows each change of the first application, newest first" \
  holds "[e['type'] for e in d['entries'] if e['link'] == 'applications/$N'] == ['application.status_changed'] * 7 + ['application.submitted'] and '已办结' in [e['title'] for e in d['entries'] if e['link'] == 'applications/$N'][0]"

# --- the working-day calendar and supervision (电子监察) -------------------------------
e2e_staff platform.admin "" platform_admin
PLAT="$(e2e_staff_token platform.admin)"
cal_rows() { "${PSQL[@]}" -c "SELECT version || ':' || (SELECT count(*) FROM applications.calendar_days)
  || ':' || (SELECT count(*) FROM applications.calendar_loads) FROM applications.calendar_state"; }
BEFORE="$(cal_rows)"
req PUT "/v1/calendar/2030" "$GA" '{"days":[{"date":"2030-10-01","kind":"HOLIDAY","name":"测试"}]}'
expect_status "a clerk may not load the calendar (403)" 403
check "and nothing changed" test "$(cal_rows)" = "$BEFORE"
req PUT "/v1/calendar/2030" "$PLAT" '{"days":[{"date":"2030-10-01","kind":"HOLIDAY","name":"测试"},{"date":"2030-10-12","kind":"WORKDAY","name":"测试调休"}]}'
expect_status "a platform administrator loads a year (200)" 200
check "which holds its days" holds "d['year'] == 2030 and [x['date'] for x in d['days']] == ['2030-10-01', '2030-10-12']"
req PUT "/v1/calendar/2030" "$PLAT" '{"csv":"2030-10-01,holiday,测试\n2030-10-02,holliday,测试\n"}'
expect_status "a malformed CSV line is refused (400)" 400
check "naming the line" holds "'line 2' in d['message'] and 'code' in d"
req PUT "/v1/calendar/2030" "$PLAT" '{"csv":"2030-10-01,holiday,测试\n2030-10-02,holiday,测试\n2030-10-03,holiday,测试\n"}'
expect_status "the CSV form replaces the year (200)" 200
req GET "/v1/calendar/2030"
expect_status "anyone reads it, signed in or not (200)" 200
check "the year as last loaded" holds "[x['date'] for x in d['days']] == ['2030-10-01', '2030-10-02', '2030-10-03'] and d['days'][0]['kind'] == 'HOLIDAY'"
check "each load audited with who, the year and how many days" \
  test "$("${PSQL[@]}" -c "SELECT string_agg(year || ':' || days, ',' ORDER BY id) FROM applications.calendar_loads
    WHERE actor <> ''")" = "2030:2,2030:3"

apply "$ITEM" supervised-1
V="$(field "d['application']['number']")"
VCODE="$(field "d['queryCode']")"
step "$GA" 320700-GA "$V" accept
expect_status "an application is accepted (its limit runs)" 200
req GET "/v1/departments/320700-GA/applications?urgentFirst=true" "$GA"
COLOUR="$(field "[a.get('supervision', '') for a in d['applications'] if a['number'] == '$V'][0]" 2>/dev/null || true)"
check "the acceptance colours it in the work queue at once (no pass awaited)" bash -c "case '$COLOUR' in GREEN|YELLOW|RED) exit 0;; esac; exit 1"
req GET "/v1/departments/320700-GA/applications?supervision=$COLOUR" "$GA"
check "the queue filters by that colour" holds "'$V' in [a['number'] for a in d['applications']] and all(a['supervision'] == '$COLOUR' for a in d['applications'])"
case "$COLOUR" in GREEN) WANT=ON_TIME ;; YELLOW) WANT=DUE_SOON ;; *) WANT=OVERDUE ;; esac
for _ in $(seq 100); do
  req GET "/v1/progress/$V?queryCode=$VCODE"
  [ "$S" = 200 ] && holds "d.get('supervision') == '$WANT'" && break
  sleep 0.2
done
check "yw-progress shows the same colour ($WANT) from the acceptance's event" holds "d.get('supervision') == '$WANT'"

# --- operations ---------------------------------------------------------------------
for _ in $(seq 100); do
  curl -fsS "http://$APPLICATIONS_METRICS/metrics" >"$E2E_TMP/metrics" 2>/dev/null &&
    grep -q '^yw_events_outbox_backlog 0$' "$E2E_TMP/metrics" && break
  sleep 0.2
done
check "/metrics shows the relay published every event and the outbox empty" \
  bash -c "grep -q '^yw_events_outbox_backlog 0$' '$E2E_TMP/metrics' &&
    [ \$(awk '/^yw_events_relay_published_total /{print \$2}' '$E2E_TMP/metrics') -ge 30 ]"
check "/metrics shows the supervision job's passes, what it marked and the uncovered due dates" \
  bash -c "[ \$(awk '/^yw_supervision_passes_total /{print \$2}' '$E2E_TMP/metrics') -ge 1 ] &&
    grep -q '^yw_supervision_marked_total [0-9]' '$E2E_TMP/metrics' &&
    grep -q '^yw_calendar_uncovered_total [0-9]' '$E2E_TMP/metrics'"

# --- 一件事一次办: a life-event bundle filed once ----------------------------------------
req GET /v1/bundles
expect_status "anyone lists the bundles (200)" 200
check "with their members and the materials they share" \
  holds "[b['code'] for b in d['bundles']] == ['company-start', 'newborn'] and d['bundles'][1]['sharedMaterials'] == ['父母双方居民身份证', '出生医学证明']"
BEFORE="$("${PSQL[@]}" -c "SELECT count(*) FROM applications.applications")"
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/bundles/newborn/applications" \
  -H "authorization: Bearer $RES" -H 'content-type: application/json' \
  --data-binary '{"form":{"name":"张小宝"}}')"
expect_status "a merged form missing what 出生登记 asks for is refused (400)" 400
check "every invalid field by its path, in the standard body" \
  holds "d['code'] == 'INVALID_ARGUMENT' and 'form.relation' in d['message'] and {'field': 'form.relation', 'reason': 'REQUIRED'} in d['fieldViolations'] and {'field': 'form.phone', 'reason': 'REQUIRED'} in d['fieldViolations']"
NEWBORN='{"form":{"name":"张小宝","relation":"父亲","phone":"13900000021","followParent":"随父",
  "children":[{"name":"张小宝","sex":"男","birthDate":"2026-11-28","birthCertificateNo":"P320000123"}],
  "fatherIdNumber":"320706198803031239","motherIdNumber":"320706199004042243"}}'
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/bundles/newborn/applications" \
  -H "authorization: Bearer $RES" -H 'content-type: application/json' -H 'idempotency-key: bundle-1' \
  --data-binary "$NEWBORN")"
expect_status "a resident files the newborn bundle once (200)" 200
check "one application per member, in order, and a query code" \
  holds "[a['itemCode'] for a in d['filing']['applications']] == ['GG00050000-320700-WJ', 'QR00001000-320700-GA', 'GG00032000-320700-YB'] and len(d['queryCode']) == 6 and d['filing']['status'] == 'IN_PROGRESS'"
BN="$(field "d['filing']['number']")"
BCODE="$(field "d['queryCode']")"
REG="$(field "d['filing']['applications'][1]['number']")"
MEMBERS="$(field "[a['number'] for a in d['filing']['applications']]")"
check "all filed together" \
  test "$("${PSQL[@]}" -c "SELECT count(*) FROM applications.applications")" = "$((BEFORE + 3))"
upload "$RES" "$REG" "出生医学证明" "$E2E_TMP/id.pdf"
expect_status "a material shared by two members is uploaded once (200)" 200
req GET "/v1/me/bundle-filings/$BN" "$RES"
expect_status "the resident follows the bundle as one (200)" 200
check "both members that list it have it" \
  holds "[len([m for m in a.get('materials', []) if m['name'] == '出生医学证明']) for a in d['applications']] == [0, 1, 1]"
req GET "/v1/me/bundle-filings/$BN" "$LOW"
expect_status "another resident cannot see it (404)" 404
S="$(curl -sS -o "$B" -w '%{http_code}' -X POST "$GW/v1/bundles/company-start/applications" \
  -H "authorization: Bearer $RES" -H 'content-type: application/json' --data-binary '{}')"
expect_status "a company's bundle needs a company to act for (412)" 412

# the combined progress, public like one application's: by the filing's number and code
bundle_progress_until() { # bundle_progress_until CONDITION: polls (at most 20 s) -> $S, $B
  for _ in $(seq 100); do
    req GET "/v1/progress/bundles/$BN?queryCode=$BCODE"
    [ "$S" = 200 ] && holds "$1" && return 0
    sleep 0.2
  done
}
bundle_progress_until "len(d.get('members', [])) == 3"
expect_status "anyone with the filing's number and code follows the bundle without signing in (200)" 200
check "the bundle, its status and every member in order, with item and department" \
  holds "d['bundleCode'] == 'newborn' and d['bundleName'] == '新生儿出生一件事' and d['status'] == 'IN_PROGRESS' and [m['number'] for m in d['members']] == $MEMBERS and [m['departmentCode'] for m in d['members']] == ['320700-WJ', '320700-GA', '320700-YB'] and d['members'][1]['itemName'] == '出生登记' and all(m['status'] == 'SUBMITTED' for m in d['members'])"
check "and no form data, names or account ids" \
  bash -c "! grep -q -e '张小宝' -e 'form' -e 'applicant' -e 'timeline' '$B'"
step "$GA" 320700-GA "$REG" accept
expect_status "the registration's department accepts its member (200)" 200
bundle_progress_until "d['members'][1]['status'] == 'ACCEPTED'"
check "the combined progress shows it accepted with its due date, the others submitted" \
  holds "[m['status'] for m in d['members']] == ['SUBMITTED', 'ACCEPTED', 'SUBMITTED'] and len(d['members'][1]['dueDate']) == 10 and d['status'] == 'IN_PROGRESS'"
req GET "/v1/progress/bundles/$BN?queryCode=000000"
expect_status "a wrong code is refused (404)" 404
WRONG="$(field "[d['code'], d['message']]")"
req GET "/v1/progress/bundles/${BN%?}$(( (${BN: -1} + 5) % 10 ))?queryCode=$BCODE"
expect_status "an unknown number too (404)" 404
check "with the same answer" test "$(field "[d['code'], d['message']]")" = "$WRONG"
req GET "/v1/progress/bundles/$REG?queryCode=$BCODE"
expect_status "a member's number is no filing's (404)" 404
req GET "/v1/progress/$REG?queryCode=$BCODE"
expect_status "each member is still followed on its own with the filing's code (200)" 200

finish
