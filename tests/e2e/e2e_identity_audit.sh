#!/usr/bin/env bash
# e2e_identity_audit.sh - audit records go with what they record, through the real
# gateway: a staff read of a resident's data (GetPerson) and an auditor's query fail
# closed when their audit record cannot be written, and a login or acting for a
# company that cannot be recorded does not happen. A test-only trigger makes the
# audit insert of one action fail at will.
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

# --- with the audit log writable again, all of it works and is recorded
"${PSQL[@]}" -c "DROP TRIGGER audit_fails ON identity.audit_log" >/dev/null
req GET "/v1/persons/$SUB" "$CLERK"; expect_status "the staff read answers again" 200
req POST /v1/me/acting-for "$RES" '{"creditCode":"91350100M000100Y43"}'; expect_status "acting for works" 200
req GET /v1/company "$RES"; expect_status "and the session acts for the company" 200
check "each of them left its record" test "$("${PSQL[@]}" -c \
  "SELECT count(DISTINCT action) FROM identity.audit_log WHERE action IN ('read_personal_data','act_for') AND outcome = 'ok'")" = 2

finish
