#!/usr/bin/env bash
# e2e_progress.sh - progress lookup (yw-progress) through the real gateway, fed by the
# real yw-applications' events over the outbox, the relay and a Redis stream, every
# process on mutual TLS: a resident applies and anyone holding the number and the query
# code follows it without signing in (status, departments, timeline, due date and its
# supervision colour); a wrong code and an unknown number answer the same 404; past the
# wrong tries allowed on one number even the right code gets 429 with retry-after; the
# resident's own list and batch; and the lookup goes on while Redis is stopped.
source "$(dirname "$0")/lib.sh"

export YW_CALLER_KEY="${YW_CALLER_KEY:-$(openssl rand -hex 32)}"
# the applications' supervision job passes once at start only: the colour below comes from
# the acceptance's own transaction, never from a pass
export YW_APPLICATIONS_SUPERVISE_S=3600
e2e_private_redis # stopped below
e2e_database
e2e_start
source "$YW_SOURCE_DIR/tests/e2e/identity_helpers.sh"

ITEM=GG00001000-320700-GA # 居民身份证首次申领, 320700-GA, real-name level 2
e2e_staff ga.clerk 320700-GA dept_staff
GA="$(e2e_staff_token ga.clerk)"
RES="$(verified_resident 13900000011 张三 320706199001011230)"
apply() { # apply -> $NUMBER $QCODE
  req POST /v1/applications "$RES" "{\"itemCode\":\"$ITEM\",\"form\":{\"name\":\"张三\"}}"
  [ "$S" = 200 ] || { fail "apply: $S $(cat "$B")"; return 1; }
  NUMBER="$(field "d['application']['number']")"
  QCODE="$(field "d['queryCode']")"
}
# lookup NUMBER CODE -> $S, $B
lookup() { req GET "/v1/progress/$1?queryCode=$2"; }
# until_holds NUMBER CODE EXPR: the projection catches up (events are asynchronous)
until_holds() {
  for _ in $(seq 100); do
    lookup "$1" "$2"
    [ "$S" = 200 ] && holds "$3" && return 0
    sleep 0.1
  done
  return 1
}
until_status() { until_holds "$1" "$2" "d['status'] == '$3'"; }

apply
check "the new application shows in progress without signing in" until_status "$NUMBER" "$QCODE" SUBMITTED
check "with its item, lead department and a one-step timeline" \
  holds "d['itemName'] == '居民身份证首次申领' and d['departmentCode'] == '320700-GA' and [s['status'] for s in d['timeline']] == ['SUBMITTED'] and d['supervision'] == 'SUPERVISION_NONE'"
lookup "$NUMBER" 000000
expect_status "a wrong query code: 404" 404
WRONG="$(cat "$B")"
check "with the standard error body" holds "d['code'] == 'NOT_FOUND' and 'requestId' in d"
lookup 32070020990101999999 "$QCODE"
expect_status "an unknown number: 404" 404
check "answered exactly as a wrong code" test "$(field "d['message']")" = "$(/usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['message'])" "$WRONG")"
lookup "$NUMBER" 12ab56
expect_status "a malformed query code: 400" 400

req POST "/v1/departments/320700-GA/applications/$NUMBER:accept" "$GA" '{}'
expect_status "the department accepts" 200
# the acceptance colours it in its transaction; progress follows its events (bounded)
check "progress follows: ACCEPTED, on time" until_holds "$NUMBER" "$QCODE" \
  "d['status'] == 'ACCEPTED' and d['supervision'] == 'ON_TIME'"
check "with the due date and a running limit (on time, coloured by the acceptance)" \
  holds "len(d['dueDate']) == 10 and d['supervision'] == 'ON_TIME' and [s['status'] for s in d['timeline']] == ['SUBMITTED', 'ACCEPTED'] and d['timeline'][1]['departmentCode'] == '320700-GA'"

req GET /v1/me/progress "$RES"
expect_status "the resident's own list" 200
check "holds the application" holds "[a['number'] for a in d['applications']] == ['$NUMBER']"
req POST /v1/me/progress:batchGet "$RES" "{\"numbers\":[\"$NUMBER\",\"32070020990101999999\"]}"
check "the batch answers what is theirs only" holds "[a['number'] for a in d['applications']] == ['$NUMBER']"
req GET /v1/me/progress
expect_status "the list needs a session (401)" 401

# --- supervision statistics: the department's own, adding up
TODAY="$(TZ=Asia/Shanghai date +%F)"
req GET "/v1/statistics?departmentCode=320700-GA&fromDate=$TODAY&toDate=$TODAY" "$GA"
expect_status "the department's statistics (200)" 200
check "count the application, open and accepted, and add up" \
  holds "(lambda t: t['received'] == 1 and t['open'] == 1 and t['received'] == t.get('completed', 0) + t.get('refused', 0) + t.get('withdrawn', 0) + t['open'])(d['total']) and d['rows'][0]['implCode'] == '$ITEM'"
req GET "/v1/statistics?departmentCode=320700-MZ&fromDate=$TODAY&toDate=$TODAY" "$GA"
expect_status "another department's are refused (403)" 403
req GET "/v1/statistics?departmentCode=320700-GA&fromDate=$TODAY&toDate=$TODAY" "$RES"
expect_status "and a resident has none (403)" 403

# --- rebuilding the projection from the event stream (platform administrators)
e2e_staff platform.admin "" platform_admin
ADMIN="$(e2e_staff_token platform.admin)"
req POST /v1/admin/progress:replay "$GA" '{}'
expect_status "a clerk may not replay the stream (403)" 403
pq() { psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qAtX -c "$1"; }
pq "DELETE FROM progress.steps WHERE number = '$NUMBER'; DELETE FROM progress.applications WHERE number = '$NUMBER'"
check "the application's rows are lost" test "$(pq "SELECT count(*) FROM progress.steps WHERE number = '$NUMBER'")" = 0
req POST /v1/admin/progress:replay "$ADMIN" '{"maxEvents":1000}'
expect_status "an administrator replays the stream (200)" 200
check "to its end" holds "d['done'] and d['replayed'] >= 2 and d.get('stopped', '') == ''"
check "and its rows are back as the events made them" \
  test "$(pq "SELECT status || ':' || (SELECT count(*) FROM progress.steps WHERE number = '$NUMBER') FROM progress.applications WHERE number = '$NUMBER'")" = "ACCEPTED:2"
check "the call is recorded" test "$(pq "SELECT count(*) FROM progress.replays WHERE done")" = 1
req POST /v1/admin/progress:replay "$ADMIN" '{"afterEntryId":"x","clear":true}'
expect_status "a bad entry id is refused (400)" 400

# --- guessing: the number locks after its wrong tries, the right code included
apply
SECOND="$NUMBER"; SECOND_CODE="$QCODE"
until_status "$SECOND" "$SECOND_CODE" SUBMITTED
for i in $(seq 10); do lookup "$SECOND" "$(printf '%06d' "$i")"; done
lookup "$SECOND" "$SECOND_CODE"
expect_status "after 10 wrong codes on a number even the right one is refused (429)" 429
check "with retry-after" grep -qi '^retry-after: [0-9]' "$H"

# --- Redis stopped: lookups answer from PostgreSQL
kill -STOP "$REDIS_PID"
lookup "$NUMBER" "$QCODE"
kill -CONT "$REDIS_PID"
check "with Redis stopped the lookup still answers ($S)" bash -c "[ '$S' = 200 ]"
finish
