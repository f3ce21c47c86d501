#!/usr/bin/env bash
# e2e_ratings.sh - 好差评 ratings and rectification (整改) through the real gateway with curl,
# every process on mutual TLS: a resident rates an application only once it ended, once
# (the same Idempotency-Key answers the first rating again, another key is a 409), and
# another resident cannot (404); the bad rating opens a case the lead department lists,
# answers, and closes after the resident's revisit, out-of-order steps refused and a clerk
# of another department shut out (404); an auditor lists every case; a hall is rated once
# a day, its department and item checked against yw-catalog (unknown: 400 naming the
# field); the resident lists their own ratings with the case and the department's answer;
# the public summary counts the levels, the satisfaction rate and the rectified;
# yw-progress's statistics count the rated application (satisfaction).
source "$(dirname "$0")/lib.sh"

export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
export YW_LOOKUP_KEY="${YW_LOOKUP_KEY:-$(openssl rand -hex 32)}"
e2e_database
e2e_start
source "$YW_SOURCE_DIR/tests/e2e/identity_helpers.sh"

ITEM=GG00001000-320700-GA # 居民身份证首次申领, 320700-GA alone
e2e_staff ga.clerk 320700-GA dept_staff
e2e_staff mz.clerk 320700-MZ dept_staff
e2e_staff ratings.auditor "" auditor
GA="$(e2e_staff_token ga.clerk)"
MZ="$(e2e_staff_token mz.clerk)"
AUD="$(e2e_staff_token ratings.auditor)"
RES="$(verified_resident 13900000011 张三 320706199001011230)"
OTHER="$(login_resident 13900000012)"

apply() { # apply -> prints the new application's number
  req POST /v1/applications "$RES" "{\"itemCode\":\"$ITEM\",\"form\":{\"name\":\"张三\"}}"
  [ "$S" = 200 ] || { echo "apply: $S $(cat "$B")" >&2; return 1; }
  field "d['application']['number']"
}
rate() { # rate TOKEN NUMBER LEVEL [KEY] -> $S, $B
  local args=(-sS -o "$B" -D "$H" -w '%{http_code}' -X POST "$GW/v1/applications/$2/rating"
    -H "authorization: Bearer $1" -H 'content-type: application/json'
    --data-binary "{\"level\":\"$3\",\"text\":\"窗口等了两个小时\",\"tags\":[\"排队久\"]}")
  [ -n "${4:-}" ] && args+=(-H "idempotency-key: $4")
  S="$(curl "${args[@]}")"
}
count() { "${PSQL[@]}" -c "$1"; }

# --- rating an application -----------------------------------------------------------
RUNNING="$(apply)"
N="$(apply)"
rate "$RES" "$RUNNING" SATISFIED
check "an application still running cannot be rated (4xx FAILED_PRECONDITION)" \
  bash -c "[ '$S' = 412 ] || [ '$S' = 409 ]"
check "with the standard error body" holds "d['code'] == 'FAILED_PRECONDITION' and 'message' in d"
req POST "/v1/departments/320700-GA/applications/$N:reject" "$GA" '{"reason":"材料不全"}'
expect_status "the lead department rejects the other one at intake (200)" 200
rate "$OTHER" "$N" SATISFIED
expect_status "another resident cannot rate it (404)" 404
rate "$RES" "$N" GREAT
expect_status "a level that is not one of the five is refused (400)" 400
check "and nothing is stored" test "$(count "SELECT count(*) FROM applications.ratings")" = 0
rate "$RES" "$N" VERY_DISSATISFIED rate-1
expect_status "the applicant rates the ended application (200)" 200
check "the rating is kept with its level, channel and department, and opens a case" \
  holds "d['level'] == 'VERY_DISSATISFIED' and d['channel'] == 'APP' and d['department'] == '320700-GA' and d['applicationNumber'] == '$N' and d['rectificationId'] != ''"
RID="$(field "d['id']")"
CASE="$(field "d['rectificationId']")"
rate "$RES" "$N" VERY_DISSATISFIED rate-1
check "the same Idempotency-Key answers the first rating again" holds "d['id'] == '$RID'"
rate "$RES" "$N" SATISFIED rate-2
expect_status "a second rating is refused (409)" 409
check "with ALREADY_EXISTS" holds "d['code'] == 'ALREADY_EXISTS'"
req POST "/v1/applications/$N:rate" "$RES" '{"level":"SATISFIED"}'
expect_status "and through the issue's path :rate too (409)" 409
check "one rating, one application.rated and one rectification.opened are stored" \
  test "$(count "SELECT (SELECT count(*) FROM applications.ratings) || ',' ||
    (SELECT count(*) FROM applications.outbox WHERE type = 'application.rated') || ',' ||
    (SELECT count(*) FROM applications.outbox WHERE type = 'rectification.opened')")" = "1,1,1"

# --- the rectification case -------------------------------------------------------------
req GET "/v1/rectifications?department=320700-GA" "$GA"
expect_status "the lead department lists its cases (200)" 200
check "the case is there, open, with a due date" \
  holds "[(c['id'], c['status'], len(c['dueDate'])) for c in d['rectifications']] == [('$CASE', 'RECTIFICATION_OPEN', 10)]"
req GET "/v1/rectifications/$CASE?department=320700-MZ" "$MZ"
expect_status "a clerk of another department cannot read it (404)" 404
req POST "/v1/rectifications/$CASE:answer" "$MZ" '{"department":"320700-MZ","verification":"COMPLAINT_VALID","measures":"x"}'
expect_status "nor answer it (404)" 404
req POST "/v1/rectifications/$CASE:close" "$GA" '{"department":"320700-GA"}'
check "closing an open case is refused (4xx)" bash -c "[ '$S' = 412 ] || [ '$S' = 409 ]"
req POST "/v1/rectifications/$CASE:answer" "$GA" '{"department":"320700-GA","verification":"COMPLAINT_VALID","measures":"增开窗口，高峰期预约分流"}'
expect_status "the department answers it (200)" 200
check "answered, the complaint found valid, the measures kept" \
  holds "d['status'] == 'RECTIFICATION_ANSWERED' and d['verification'] == 'COMPLAINT_VALID' and d['ratingText'] == '窗口等了两个小时'"
req POST "/v1/rectifications/$CASE:revisit" "$OTHER" '{"satisfied":true}'
expect_status "another resident cannot revisit it (404)" 404
req POST "/v1/rectifications/$CASE:revisit" "$RES" '{"satisfied":true,"note":"已改进"}'
expect_status "the resident's revisit (200)" 200
check "revisited by the applicant, satisfied" \
  holds "d['status'] == 'RECTIFICATION_REVISITED' and d['revisitBy'] == 'applicant' and d['revisitSatisfied'] == True"
req POST "/v1/rectifications/$CASE:close" "$GA" '{"department":"320700-GA","note":"办结"}'
expect_status "the department closes it (200)" 200
check "closed, with four steps in its timeline" \
  holds "d['status'] == 'RECTIFICATION_CLOSED' and [s['toStatus'] for s in d['timeline']] == ['RECTIFICATION_OPEN', 'RECTIFICATION_ANSWERED', 'RECTIFICATION_REVISITED', 'RECTIFICATION_CLOSED']"
check "the clerk's two steps are audited" \
  test "$(count "SELECT count(*) FROM applications.rectification_audit WHERE target = '$CASE'")" = 2
req GET "/v1/rectifications" "$AUD"
expect_status "an auditor lists every department's cases (200)" 200
check "the case among them" holds "'$CASE' in [c['id'] for c in d['rectifications']]"
req GET "/v1/rectifications" "$MZ"
expect_status "a clerk must name their own department (400)" 400

# --- a hall, and the public summary -----------------------------------------------------
HALL='{"channel":"HALL","hallCode":"HALL-01","departmentCode":"320700-GA","level":"SATISFIED"}'
req POST /v1/ratings "$RES" "$HALL"
expect_status "the resident rates a hall's service (200)" 200
req POST /v1/ratings "$RES" "$HALL"
expect_status "once a day (409)" 409
req POST /v1/ratings "$RES" '{"channel":"HALL","departmentCode":"320700-GA","level":"SATISFIED"}'
expect_status "a hall's rating names the hall (400)" 400
req POST /v1/ratings "$RES" '{"channel":"WEB","departmentCode":"320700-NONE","level":"SATISFIED"}'
expect_status "a department the catalog does not have is refused (400)" 400
check "naming the field" holds "d['code'] == 'INVALID_ARGUMENT' and 'departmentCode' in d['message']"
req POST /v1/ratings "$RES" '{"channel":"WEB","departmentCode":"320700-MZ","itemCode":"'"$ITEM"'","level":"SATISFIED"}'
expect_status "an item of another department is refused (400)" 400
check "naming the item" holds "'itemCode' in d['message']"
req GET "/v1/me/ratings?pageSize=1" "$RES"
expect_status "the resident lists their own ratings (200)" 200
check "newest first, one a page: the hall's" holds "[r['hallCode'] for r in d['ratings']] == ['HALL-01'] and d['nextPageToken'] != ''"
req GET "/v1/me/ratings?pageSize=1&pageToken=$(field "d['nextPageToken']")" "$RES"
check "then the application's, its case closed with the department's measures" \
  holds "[(r['applicationNumber'], r['rectificationStatus'], r['measures']) for r in d['ratings']] == [('$N', 'RECTIFICATION_CLOSED', '增开窗口，高峰期预约分流')]"
req GET "/v1/me/ratings" "$OTHER"
check "another resident's list is empty" holds "d.get('ratings', []) == []"
req GET "/v1/ratings/summary?department=320700-GA"
expect_status "anyone reads a department's summary (200)" 200
check "two ratings: one satisfied, one very dissatisfied and rectified, half satisfied" \
  holds "d['total'] == '2' and d['satisfied'] == '1' and d['veryDissatisfied'] == '1' and d['bad'] == '1' and d['rectified'] == '1' and abs(d['satisfactionRate'] - 0.5) < 1e-9"
req GET "/v1/ratings/summary?item=$ITEM"
check "the item's summary counts the application's rating" holds "d['total'] == '1' and d['veryDissatisfied'] == '1'"
req GET "/v1/ratings/summary"
expect_status "a summary of nothing is refused (400)" 400

# --- satisfaction in yw-progress's statistics (from application.rated on the stream) --
TODAY="$(TZ=Asia/Shanghai date +%F)"
for _ in $(seq 100); do
  req GET "/v1/statistics?departmentCode=320700-GA&fromDate=$TODAY&toDate=$TODAY" "$GA"
  [ "$S" = 200 ] && holds "d['total'].get('rated', 0) == 1" && break
  sleep 0.2
done
check "yw-progress counts the rated application, none of it satisfied" \
  holds "d['total'].get('rated', 0) == 1 and d['total'].get('ratedSatisfied', 0) == 0 and d['total'].get('satisfactionRate', 0) == 0 and d['total']['received'] == 2"

finish
