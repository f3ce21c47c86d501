#!/usr/bin/env bash
# e2e_identity_staff.sh - staff password logins through the real gateway: parallel
# guesses cannot all be checked (each attempt is counted before its hash), a lockout
# that has expired starts the count again, a locked account answers exactly as an
# unknown one (401), and an unknown username reaches the audit trail only as a keyed
# hash. Parallel guesses are lined up deterministically: a transaction holds the
# account's row until every guess waits for it in PostgreSQL (pg_locks).
# room for the 8 parallel guesses below: handler threads, connections and hash slots
# room for the 8 parallel guesses below: handler threads, connections and hash slots, and
# a deadline longer than the (bounded) wait for all of them to line up
export YW_IDENTITY_HASH_SLOTS=8 YW_IDENTITY_THREADS=16 YW_IDENTITY_DB_POOL=16 YW_LOCKOUT_FAILURES=5
export YW_GATEWAY_TIMEOUT_MS=60000
source "$(dirname "$0")/lib.sh"
e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"
PW="$E2E_STAFF_PASSWORD"
e2e_staff par.user 320700-GA dept_staff
e2e_staff exp.user 320700-GA dept_staff
e2e_staff lck.user 320700-GA dept_staff
login() { req POST /v1/auth/sessions "" "{\"username\":\"$1\",\"password\":\"$2\"}"; }
until_true() { # until_true COMMAND... (at most 60 s: a loaded machine)
  for _ in $(seq 600); do "$@" && return 0; sleep 0.1; done
  return 1
}
waiting() { "${PSQL[@]}" -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.datname = '$E2E_DB'"; }

# --- 8 guesses at once: at most 5 (the lockout's count) are checked
mkfifo "$E2E_TMP/pgin"
psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qtA <"$E2E_TMP/pgin" >"$E2E_TMP/pgout" 2>&1 &
E2E_PIDS+=("$!")
exec 7>"$E2E_TMP/pgin"
echo "BEGIN; SELECT 'held' FROM identity.staff WHERE username = 'par.user' FOR UPDATE;" >&7
check "the account's row is held" until_true grep -q held "$E2E_TMP/pgout"
GUESSES=()
for n in 1 2 3 4 5 6 7 8; do
  curl -sS -o /dev/null -w '%{http_code}' -X POST "$GW/v1/auth/sessions" -H 'content-type: application/json' \
    -d "{\"username\":\"par.user\",\"password\":\"guess number $n\"}" >"$E2E_TMP/guess.$n" &
  GUESSES+=("$!")
done
all_wait() { test "$(waiting)" -ge 8; } # asked again on every try of until_true
check "the 8 guesses wait for the row" until_true all_wait ||
  "${PSQL[@]}" -c "SELECT a.pid, a.state, a.wait_event_type, left(a.query, 60) FROM pg_stat_activity a WHERE a.datname = '$E2E_DB'"
echo "COMMIT;" >&7
exec 7>&-
for p in "${GUESSES[@]}"; do wait "$p" || true; done
CODES="$(cat "$E2E_TMP"/guess.* | tr '\n' ' ')"
check "every guess is 401 ($CODES)" test "$(cat "$E2E_TMP"/guess.* | tr -d '\n')" = 401401401401401401401401
check "no more than 5 guesses were checked against the password" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM identity.audit_log WHERE action = 'login_failed' AND target = 'par.user' AND outcome = 'wrong password'")" -le 5
login par.user "$PW"; expect_status "the account is locked now, even for the right password" 401

# --- an expired lockout starts the count again
for _ in 1 2 3 4 5; do login exp.user "wrong password"; done
login exp.user "$PW"; expect_status "5 failures lock the account" 401
"${PSQL[@]}" -c "UPDATE identity.staff SET locked_until = now() - interval '1 second' WHERE username = 'exp.user'" >/dev/null
login exp.user "wrong password"; expect_status "after the lockout, a wrong password is 401" 401
login exp.user "$PW"
expect_status "one wrong try after an expired lockout does not lock again: the right password logs in" 200

# --- locked and unknown answer alike
for _ in 1 2 3 4 5; do login lck.user "wrong password"; done
login lck.user "$PW"; LOCKED="$S $(field "d['code'], d['message']")"
login no.such.user "$PW"; UNKNOWN="$S $(field "d['code'], d['message']")"
check "a locked account answers as an unknown one ($LOCKED | $UNKNOWN)" test "$LOCKED" = "$UNKNOWN"

# --- an unknown username (perhaps a password typed in the wrong box) is never stored
login 'Hunter2-secret.pw' "$PW"; expect_status "an unknown username is 401" 401
check "the audit trail does not hold its text" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM identity.audit_log WHERE actor ILIKE '%hunter2%' OR target ILIKE '%hunter2%'")" = 0
KEYED="$(printf 'staff-username:%s' 'Hunter2-secret.pw' | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$YW_LOOKUP_KEY" | awk '{print $NF}')"
check "it holds the keyed hash instead" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM identity.audit_log WHERE action = 'login_failed' AND outcome = 'unknown user' AND actor = 'hmac:$KEYED'")" = 1

finish
