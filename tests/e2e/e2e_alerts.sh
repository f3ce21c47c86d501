#!/usr/bin/env bash
# e2e_alerts.sh - alerts to departments (督办提醒) through the real gateway with curl, every
# process on mutual TLS, the supervision job passing every second: an accepted
# application whose due date is put in the past turns red, and its department's clerk
# finds one alert for it (newest first), while a clerk of another department sees none
# and may not read this department's (403); the resident's feed (yw-feed) says the
# department is late without naming it; the clerk acknowledges it (who and when, one
# audit row), a second time changes nothing, another department's clerk cannot (403);
# a bad rating's case left unanswered past its due date gets one overdue alert; an
# auditor lists every department's red and overdue alerts; a resident is refused.
source "$(dirname "$0")/lib.sh"

export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
export YW_LOOKUP_KEY="${YW_LOOKUP_KEY:-$(openssl rand -hex 32)}"
export E2E_FEED_STREAMS="$E2E_DB:events:{applications}"
export YW_APPLICATIONS_SUPERVISE_S=1 YW_APPLICATIONS_CALENDAR_CHECK_MS=0
e2e_database
e2e_start
source "$YW_SOURCE_DIR/tests/e2e/identity_helpers.sh"

ITEM=GG00001000-320700-GA # 居民身份证首次申领, 320700-GA alone
e2e_staff ga.clerk 320700-GA dept_staff
e2e_staff mz.clerk 320700-MZ dept_staff
e2e_staff alerts.auditor "" auditor
GA="$(e2e_staff_token ga.clerk)"
MZ="$(e2e_staff_token mz.clerk)"
AUD="$(e2e_staff_token alerts.auditor)"
RES="$(verified_resident 13900000021 张三 320706199001011230)"

apply() { # apply -> prints the new application's number
  req POST /v1/applications "$RES" "{\"itemCode\":\"$ITEM\",\"form\":{\"name\":\"张三\"}}"
  [ "$S" = 200 ] || { echo "apply: $S $(cat "$B")" >&2; return 1; }
  field "d['application']['number']"
}
sql() { "${PSQL[@]}" -c "$1"; }
# wait_alerts TOKEN PATH PYTHON-CONDITION: polls (at most 20 s) until the list holds it
wait_alerts() {
  for _ in $(seq 100); do
    req GET "$2" "$1"
    [ "$S" = 200 ] && holds "$3" && return 0
    sleep 0.2
  done
  return 1
}

# --- an application turns red ----------------------------------------------------------
N="$(apply)"
req POST "/v1/departments/320700-GA/applications/$N:accept" "$GA" '{}'
expect_status "the department accepts the application (200)" 200
check "its due date is put a week in the past" \
  test "$(sql "UPDATE applications.applications SET due_date = (now() AT TIME ZONE 'Asia/Shanghai')::date - 7
    WHERE number = '$N' RETURNING status")" = accepted
wait_alerts "$GA" /v1/departments/320700-GA/alerts \
  "[a['applicationNumber'] for a in d.get('alerts', [])] == ['$N']"
check "the department's clerk finds one overdue alert for it" \
  holds "[(a['kind'], a['applicationNumber'], a.get('acknowledged', False), a['workingDays'] < 0) for a in d['alerts']] == [('ALERT_OVERDUE', '$N', False, True)]"
ALERT="$(field "d['alerts'][0]['id']")"
req GET /v1/departments/320700-MZ/alerts "$MZ"
expect_status "a clerk of another department lists their own (200)" 200
check "and sees none of this department's" holds "d.get('alerts', []) == []"
req GET /v1/departments/320700-GA/alerts "$MZ"
expect_status "nor may they list this department's (403)" 403
req GET /v1/departments/320700-GA/alerts "$RES"
check "a resident is refused (401/403)" bash -c "[ '$S' = 401 ] || [ '$S' = 403 ]"

# --- the resident is told the department is late ---------------------------------------
for _ in $(seq 100); do
  req GET "/v1/me/feed/entries?pageSize=50" "$RES"
  [ "$S" = 200 ] && holds "any(e['type'] == 'application.overdue' for e in d.get('entries', []))" && break
  sleep 0.2
done
check "the resident's feed says the application is past its time limit, naming no department" \
  holds "[(e['link'], '承办部门未能在承诺时限内办结' in e['body'], '320700' in e['body']) for e in d['entries'] if e['type'] == 'application.overdue'] == [('applications/$N', True, False)]"

# --- acknowledging ------------------------------------------------------------------------
req POST "/v1/departments/320700-GA/alerts/$ALERT:acknowledge" "$MZ" '{}'
expect_status "a clerk of another department cannot acknowledge it (403)" 403
req POST "/v1/departments/320700-GA/alerts/abc:acknowledge" "$GA" '{}'
expect_status "a bad id is refused (400)" 400
check "with the standard error body" holds "d['code'] == 'INVALID_ARGUMENT' and 'message' in d"
req POST "/v1/departments/320700-GA/alerts/$ALERT:acknowledge" "$GA" '{}'
expect_status "the clerk acknowledges it (200)" 200
check "acknowledged, by whom and when" \
  holds "d['acknowledged'] == True and d['acknowledgedBy'] != '' and len(d['acknowledgedAt']) == 25"
AT="$(field "d['acknowledgedAt']")"
req POST "/v1/departments/320700-GA/alerts/$ALERT:acknowledge" "$GA" '{}'
expect_status "a second time is harmless (200)" 200
check "and changes nothing" holds "d['acknowledgedAt'] == '$AT'"
check "one audit row" \
  test "$(sql "SELECT count(*) FROM applications.alert_audit WHERE target = '$ALERT' AND action = 'alert_acknowledge'")" = 1
req GET /v1/departments/320700-GA/alerts "$GA"
check "the open list no longer shows it" holds "d.get('alerts', []) == []"
req GET "/v1/departments/320700-GA/alerts?includeAcknowledged=true" "$GA"
check "the list with acknowledged ones does" holds "[a['id'] for a in d['alerts']] == ['$ALERT']"

# --- a rectification case past its deadline ------------------------------------------------
R="$(apply)"
req POST "/v1/departments/320700-GA/applications/$R:reject" "$GA" '{"reason":"材料不全"}'
expect_status "another application is rejected at intake (200)" 200
req POST "/v1/applications/$R/rating" "$RES" '{"level":"VERY_DISSATISFIED"}'
expect_status "the resident rates it very dissatisfied (200)" 200
CASE="$(field "d['rectificationId']")"
check "its case's due date is put in the past, unanswered" \
  test "$(sql "UPDATE applications.rectifications SET due_date = (now() AT TIME ZONE 'Asia/Shanghai')::date - 1
    WHERE id = $CASE RETURNING status")" = open
wait_alerts "$GA" /v1/departments/320700-GA/alerts \
  "[a.get('rectificationId') for a in d.get('alerts', [])] == ['$CASE']"
check "the department gets one alert for the overdue case" \
  holds "[(a['kind'], a['rectificationId']) for a in d['alerts']] == [('ALERT_RECTIFICATION_OVERDUE', '$CASE')]"
check "the later passes added no second alert for the application, still red" \
  test "$(sql "SELECT count(*) FROM applications.alerts WHERE application_number = '$N'")" = 1

# --- supervisors ------------------------------------------------------------------------------
req GET "/v1/alerts?includeAcknowledged=true" "$AUD"
expect_status "an auditor lists every department's alerts (200)" 200
check "the overdue case and the red application, newest first" \
  holds "[(a['kind'], a['department']) for a in d['alerts']] == [('ALERT_RECTIFICATION_OVERDUE', '320700-GA'), ('ALERT_OVERDUE', '320700-GA')]"
req GET /v1/alerts "$GA"
expect_status "a clerk may not list every department's (403)" 403

finish
