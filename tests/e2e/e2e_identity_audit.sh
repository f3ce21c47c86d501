#!/usr/bin/env bash
# e2e_identity_audit.sh - audit records go with what they record, through the real
# gateway: a staff read of a resident's data (GetPerson) and an auditor's query fail
# closed when their audit record cannot be written, a login or acting for a company
# that cannot be recorded does not happen, and a refusal (a wrong code or password, a
# refused upgrade or binding) that cannot be recorded is answered 503, not its refusal, and
# a session never keeps a scope or company whose record did not commit (authorising an
# agent, acting for a company). A test-only trigger makes the
# audit insert of one action, or the COMMIT of a transaction holding one, fail at will.
source "$(dirname "$0")/lib.sh"
e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"
e2e_staff ga.clerk 320700-GA dept_staff
e2e_staff auditor "" auditor
CLERK="$(e2e_staff_token ga.clerk)"
AUD="$(e2e_staff_token auditor)"
RES="$(verified_resident 13400000001 张三 320706199001011230)"
req GET /v1/me "$RES"; SUB="$(field "d['subject']")"
req POST /v1/me/legal-persons "$RES" '{"creditCode":"91350100M000100Y43"}'
expect_status "the resident binds the company they represent" 200

"${PSQL[@]}" -c "CREATE FUNCTION public.audit_fails() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN RAISE EXCEPTION 'the audit log is full'; END \$\$" >/dev/null
fail_audit() { # fail_audit ACTION: from now on the audit record of ACTION cannot be written
  "${PSQL[@]}" -c "DROP TRIGGER IF EXISTS audit_fails ON identity.audit_log;
    CREATE TRIGGER audit_fails BEFORE INSERT ON identity.audit_log FOR EACH ROW
    WHEN (NEW.action = '$1') EXECUTE FUNCTION public.audit_fails()" >/dev/null
}

# --- privileged reads fail closed
fail_audit read_personal_data
req GET "/v1/persons/$SUB" "$CLERK"
expect_status "a staff read whose audit record cannot be written is refused (503)" 503
check "and answers none of the resident's data" bash -c "! grep -q -e phoneMasked -e '$SUB' '$B'"
fail_audit audit_query
req GET /v1/audit-records "$AUD"
expect_status "an audit query that cannot be recorded is refused (503)" 503
check "and lists no records" bash -c "! grep -q records '$B'"

# --- changes and their records commit together
fail_audit act_for
req POST /v1/me/acting-for "$RES" '{"creditCode":"91350100M000100Y43"}'
expect_status "acting for a company that cannot be recorded is refused (503)" 503
req GET /v1/company "$RES"; expect_status "and the session does not act for it" 403
fail_audit login
N0="$("${PSQL[@]}" -c "SELECT count(*) FROM identity.refresh_tokens")"
redis_cmd DEL "$E2E_DB:otp-wait:$(phone_key 13400000002)" >/dev/null
req POST /v1/auth/sms-codes "" '{"phone":"13400000002"}'
req POST /v1/auth/sessions "" "{\"phone\":\"13400000002\",\"code\":\"$(last_code 13400000002)\"}"
expect_status "a login that cannot be recorded is refused (503)" 503
check "and no session was made" test "$("${PSQL[@]}" -c "SELECT count(*) FROM identity.refresh_tokens")" = "$N0"

# --- refusals are answered only once recorded: an attempt that cannot be recorded is
# 503, whatever its outcome would have been, so no guess is answered unrecorded
fail_audit login_failed
redis_cmd DEL "$E2E_DB:otp-wait:$(phone_key 13400000003)" >/dev/null
req POST /v1/auth/sms-codes "" '{"phone":"13400000003"}'
req POST /v1/auth/sessions "" '{"phone":"13400000003","code":"000000"}'
expect_status "a wrong SMS code that cannot be recorded is 503, not 401" 503
req POST /v1/auth/sessions "" "{\"username\":\"ga.clerk\",\"password\":\"wrong horse\"}"
expect_status "a wrong staff password that cannot be recorded is 503" 503
WRONG="$(cat "$B")"
req POST /v1/auth/sessions "" "{\"username\":\"no.such.user\",\"password\":\"wrong horse\"}"
expect_status "an unknown username that cannot be recorded is 503 as well" 503
check "with the same answer as a known one (no usernames enumerated)" \
  /usr/bin/python3 -c "import json,sys; a=json.load(open('$B')); b=json.loads(sys.argv[1]); sys.exit(0 if a['message'] and (a['code'],a['message'])==(b['code'],b['message']) else 1)" "$WRONG"
req POST /v1/auth/sessions "" "{\"username\":\"auditor\",\"password\":\"$E2E_STAFF_PASSWORD\",\"totpCode\":\"000000\"}"
expect_status "a wrong second factor that cannot be recorded is 503" 503
NEW="$(login_resident 13400000004)"
fail_audit realname_upgrade
req POST /v1/me/realname "$NEW" '{"name":"李四","idCardNumber":"320706199001011230"}'
expect_status "a refused real-name upgrade that cannot be recorded is 503, not 412" 503
fail_audit bind_legal_person
OTHER="$(verified_resident 13400000005 王小明 320703200002294566)"
req POST /v1/me/legal-persons "$OTHER" '{"creditCode":"91350100M000100Y43"}'
expect_status "a refused binding that cannot be recorded is 503, not 403" 503
check "and binds nothing" bash -c "! grep -q legalPersons '$B'"

# --- with the audit log writable again, all of it works and is recorded
"${PSQL[@]}" -c "DROP TRIGGER audit_fails ON identity.audit_log" >/dev/null
req POST /v1/auth/sessions "" "{\"username\":\"ga.clerk\",\"password\":\"wrong horse\"}"
expect_status "a wrong password is 401 again once it can be recorded" 401
req POST /v1/me/realname "$NEW" '{"name":"李四","idCardNumber":"320706199001011230"}'
expect_status "and a refused upgrade 412" 412
req POST /v1/me/legal-persons "$OTHER" '{"creditCode":"91350100M000100Y43"}'
expect_status "and a refused binding 403" 403
check "each refusal left its record" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM identity.audit_log WHERE (action = 'login_failed' AND target = 'ga.clerk')
     OR (action = 'realname_upgrade' AND outcome = 'registry mismatch')
     OR (action = 'bind_legal_person' AND outcome LIKE 'refused%')")" = 3
req GET "/v1/persons/$SUB" "$CLERK"; expect_status "the staff read answers again" 200
req POST /v1/me/acting-for "$RES" '{"creditCode":"91350100M000100Y43"}'; expect_status "acting for works" 200
req GET /v1/company "$RES"; expect_status "and the session acts for the company" 200
check "each of them left its record" test "$("${PSQL[@]}" -c \
  "SELECT count(DISTINCT action) FROM identity.audit_log WHERE action IN ('read_personal_data','act_for') AND outcome = 'ok'")" = 2

# --- a session never keeps a scope or company its record did not commit
FUTURE="$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)"
authorize() { # authorize SCOPE...: the representative authorises 王小明 with that scope
  local scope; scope="$(printf '"%s",' "$@")"
  req POST /v1/me/legal-persons/91350100M000100Y43/agents "$RES" \
    "{\"name\":\"王小明\",\"idCardNumber\":\"320703200002294566\",\"scope\":[${scope%,}],\"expiresAt\":\"$FUTURE\"}"
}
authorize read; expect_status "the representative authorises 王小明 to read" 200
req POST /v1/me/legal-persons "$OTHER" '{"creditCode":"91350100M000100Y43"}'
expect_status "who binds the company as agent" 200
req POST /v1/me/acting-for "$OTHER" '{"creditCode":"91350100M000100Y43"}'
expect_status "and acts for it" 200
SESS=""
for k in $(redis_cmd --scan --pattern "$E2E_DB:sess:*"); do
  if [ "$(redis_cmd HGET "$k" org 2>/dev/null || true)" = 91350100M000100Y43 ] &&
    [ "$(redis_cmd HGET "$k" org_scope)" = read ]; then SESS="$k"; fi
done
check "the agent's session acts for the company with the read scope" test -n "$SESS"
fail_audit authorize_agent
authorize apply pay read
expect_status "a wider authorisation that cannot be recorded is refused (503)" 503
check "and the agent's session keeps the scope its record holds" \
  test "$(redis_cmd HGET "$SESS" org_scope)" = read
# a record that fails only at COMMIT: a deferred trigger refuses it then
fail_commit() { # fail_commit ACTION: from now on a transaction recording ACTION cannot commit
  "${PSQL[@]}" -c "DROP TRIGGER IF EXISTS audit_fails ON identity.audit_log;
    CREATE CONSTRAINT TRIGGER audit_fails AFTER INSERT ON identity.audit_log
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.action = '$1') EXECUTE FUNCTION public.audit_fails()" >/dev/null
}
fail_commit authorize_agent
authorize apply pay read
check "a wider authorisation that cannot commit is refused" test "$S" != 200
check "and the agent's session stops acting for the company rather than keep its scope" \
  test -z "$(redis_cmd HGET "$SESS" org_scope)"
req GET /v1/company "$OTHER"; expect_status "(it no longer reaches the company, 403)" 403
fail_commit act_for
req POST /v1/me/acting-for "$OTHER" '{"creditCode":"91350100M000100Y43"}'
check "acting for a company whose record cannot commit is refused" test "$S" != 200
req GET /v1/company "$OTHER"; expect_status "and the session does not act for it (403)" 403
"${PSQL[@]}" -c "DROP TRIGGER audit_fails ON identity.audit_log" >/dev/null
req POST /v1/me/acting-for "$OTHER" '{"creditCode":"91350100M000100Y43"}'
expect_status "once it can commit, the agent acts for the company again" 200
check "with the scope its record holds" test "$(redis_cmd HGET "$SESS" org_scope)" = read

finish
