#!/usr/bin/env bash
# e2e_identity_lockout.sh - staff lockouts that follow one another grow, through the real
# gateway: a lockout set within YW_LOCKOUT_MAX_S (a day) of the end of the previous one
# lasts twice as long, from YW_LOCKOUT_S (15 minutes) up to a day, so password and
# second-factor guesses are bounded per day; a full login, a day without a lockout, or an
# operator's --create-staff starts the lengths again. Each lockout is audited ("locked",
# its length). A locked account still answers as an unknown one. The end of a lockout is
# simulated by moving it into the past in the database, never by waiting.
export YW_LOCKOUT_FAILURES=5 YW_LOCKOUT_S=900 YW_LOCKOUT_MAX_S=86400
export YW_IDENTITY_HASH_SLOTS=4 YW_IDENTITY_THREADS=16 YW_IDENTITY_DB_POOL=16
source "$(dirname "$0")/lib.sh"
e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"
PW="$E2E_STAFF_PASSWORD"
login() { req POST /v1/auth/sessions "" "{\"username\":\"$1\",\"password\":\"$2\"${3:-}}"; }
sql() { "${PSQL[@]}" -c "$1"; }
guess5() { for _ in 1 2 3 4 5; do login "$1" "wrong guess"; done; }
# the lockout as stored: its length from now (seconds, rounded) and the streak
stored() { sql "SELECT round(extract(epoch FROM locked_until - now()) / 60) * 60 || ' ' || lock_streak FROM identity.staff WHERE username = '$1'"; }
# the audit records of lockouts of USER, oldest first
lockouts() { sql "SELECT string_agg(outcome, ' | ' ORDER BY id) FROM identity.audit_log WHERE action = 'locked' AND actor = '$1'"; }
expire() { # the lockout of USER ends now (and ended SECONDS ago, 1 by default)
  sql "UPDATE identity.staff SET locked_until = now() - ${2:-1} * interval '1 second',
         last_lock_end = now() - ${2:-1} * interval '1 second' WHERE username = '$1'" >/dev/null
}

e2e_staff esc.user 320700-GA dept_staff
# --- lockouts in a row double, up to a day
guess5 esc.user
check "5 failures lock the account for 15 minutes" test "$(stored esc.user)" = "900 1"
LOCKED0="$(sql "SELECT count(*) FROM identity.audit_log WHERE actor = 'esc.user' AND action = 'login_failed' AND outcome = 'locked'")"
login esc.user "$PW"; expect_status "locked: the right password is refused" 401
LOCKED="$S $(field "d['code'], d['message']")"
login no.such.user "$PW"; UNKNOWN="$S $(field "d['code'], d['message']")"
check "a locked account answers as an unknown one ($LOCKED | $UNKNOWN)" test "$LOCKED" = "$UNKNOWN"
WANT="for 900 s, lockout 1 in a row"
for n in 2 3 4 5 6 7 8 9; do
  expire esc.user
  guess5 esc.user
  len=$((900 * (1 << (n - 1)))); [ "$len" -le 86400 ] || len=86400
  WANT="$WANT | for $len s, lockout $n in a row"
  check "lockout $n in a row lasts $len s" test "$(stored esc.user)" = "$len $n"
done
check "each lockout is audited once, with its length" test "$(lockouts esc.user)" = "$WANT"
check "the attempt refused while locked is audited as such" \
  test "$(sql "SELECT count(*) FROM identity.audit_log WHERE actor = 'esc.user' AND action = 'login_failed' AND outcome = 'locked'")" = $((LOCKED0 + 1))

# --- a lockout long after the previous one ends starts at 15 minutes again
expire esc.user 86401
guess5 esc.user
check "a day after the last lockout ended, the next one lasts 15 minutes" test "$(stored esc.user)" = "900 1"

# --- a full login starts the lengths again
expire esc.user
guess5 esc.user
check "the next lockout is the second in a row (30 minutes)" test "$(stored esc.user)" = "1800 2"
expire esc.user
login esc.user "$PW"; expect_status "after it ends, the right password logs in" 200
check "and the streak is cleared" \
  test "$(sql "SELECT lock_streak || ' ' || failed_count || ' ' || (last_lock_end IS NULL) FROM identity.staff WHERE username = 'esc.user'")" = "0 0 true"
guess5 esc.user
check "the next lockout lasts 15 minutes again" test "$(stored esc.user)" = "900 1"
e2e_staff esc.user 320700-GA dept_staff
login esc.user "$PW"; expect_status "an operator's --create-staff (a new password) clears a lockout" 200

# --- a wrong second factor after the right password counts and locks the same way
e2e_staff aud.user "" auditor
TOKEN="$(e2e_staff_token aud.user)"
check "the auditor enrolled and logged in" test -n "$TOKEN"
for _ in 1 2 3 4 5; do login aud.user "$PW" ',"totpCode":"000000"'; done
expect_status "5 wrong TOTP codes with the right password are refused" 401
check "and lock the account for 15 minutes" test "$(stored aud.user)" = "900 1"
expire aud.user
for _ in 1 2 3 4 5; do login aud.user "$PW" ',"totpCode":"000000"'; done
check "the next lockout of TOTP guessing lasts 30 minutes" test "$(stored aud.user)" = "1800 2"
check "both are audited" \
  test "$(lockouts aud.user)" = "for 900 s, lockout 1 in a row | for 1800 s, lockout 2 in a row"
# the 5th attempt is an enrolment with the right password, refused (enrolled already)
expire aud.user
for _ in 1 2 3 4; do login aud.user "wrong guess"; done
req POST /v1/auth/totp-enrolments "" "{\"username\":\"aud.user\",\"password\":\"$PW\"}"
expect_status "an enrolment of an enrolled account is refused" 412
check "the lockout its attempt set stands and is audited" \
  bash -c "[ '$(stored aud.user)' = '3600 3' ] && [ '$(sql "SELECT outcome FROM identity.audit_log WHERE action = 'locked' AND actor = 'aud.user' ORDER BY id DESC LIMIT 1")' = 'for 3600 s, lockout 3 in a row' ]"

# --- parallel guesses set one lockout, audited once
e2e_staff par.user 320700-GA dept_staff
PIDS=()
for _ in $(seq 12); do
  curl -sS -o /dev/null -m 30 -X POST "$GW/v1/auth/sessions" -H 'content-type: application/json' \
    -d '{"username":"par.user","password":"parallel guess"}' &
  PIDS+=("$!")
done
wait "${PIDS[@]}"
check "12 parallel guesses are all counted and lock the account once" \
  test "$(sql "SELECT failed_count || ' ' || lock_streak FROM identity.staff WHERE username = 'par.user'")" = "12 1"
check "one lockout record" test "$(lockouts par.user)" = "for 900 s, lockout 1 in a row"

finish
