#!/usr/bin/env bash
# e2e_identity_refresh.sh - refresh tokens through the real gateway: a retry of the same
# refresh within the grace period (30 s) gets the same new pair instead of ending the
# login; reuse after it still revokes the whole family; and a refresh that commits while
# "log out everywhere" runs does not survive the logout. The race is made deterministic
# by holding a lock in the database that stops the refresh half-way (after it has taken
# its token), starting the logout, and releasing the lock only once both wait in
# PostgreSQL (pg_locks), with every wait bounded.
# the held requests' deadline outlasts the (bounded) wait for them to line up
export YW_GATEWAY_TIMEOUT_MS=60000
source "$(dirname "$0")/lib.sh"
e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"

token_hash() { printf '%s' "$1" | sha256sum | cut -c1-64; }
refresh() { req POST /v1/auth/sessions:refresh "" "{\"refreshToken\":\"$1\"}"; }

# --- a retry within the grace period gets the same pair
login_resident 13600000001 >/dev/null
A0="$(field "d['accessToken']")"; R0="$(field "d['refreshToken']")"
refresh "$R0"; expect_status "a refresh rotates the pair" 200
A1="$(field "d['accessToken']")"; R1="$(field "d['refreshToken']")"
refresh "$R0"; expect_status "the same refresh again at once (a retry after a lost answer) is 200" 200
check "and answers the same new pair" holds "d['accessToken']=='$A1' and d['refreshToken']=='$R1'"
req GET /v1/me "$A1"; expect_status "the login goes on: the new access token works" 200
req GET /v1/me "$A0"; expect_status "the rotated access token stays ended" 401
check "the new pair is not stored in clear" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM identity.refresh_tokens WHERE next_enc LIKE '%$A1%' OR next_enc LIKE '%$R1%'")" = 0

# --- reuse after the grace period ends the login
refresh "$R1"; expect_status "the new refresh token rotates in turn" 200
A2="$(field "d['accessToken']")"; R2="$(field "d['refreshToken']")"
"${PSQL[@]}" -c "UPDATE identity.refresh_tokens SET used_at = now() - interval '31 seconds' WHERE token_hash = '$(token_hash "$R1")'" >/dev/null
refresh "$R1"; expect_status "a used refresh token after the grace period is refused (401)" 401
req GET /v1/me "$A2"; expect_status "and the reuse ends the whole login" 401
refresh "$R2"; expect_status "its newest refresh token included" 401
refresh "$R0"; expect_status "and a retry of an older one is no way back in" 401

# --- a refresh racing logout-everywhere does not survive it
login_resident 13600000002 >/dev/null
B0="$(field "d['accessToken']")"; RB="$(field "d['refreshToken']")"
mkfifo "$E2E_TMP/pgin"
psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qtA <"$E2E_TMP/pgin" >"$E2E_TMP/pgout" 2>&1 &
HOLDER=$!
E2E_PIDS+=("$HOLDER")
exec 7>"$E2E_TMP/pgin"
# the refresh reads the account's companies after taking its token: stop it there
echo "BEGIN; LOCK TABLE identity.legal_persons IN ACCESS EXCLUSIVE MODE; SELECT 'held';" >&7
waiting() { "${PSQL[@]}" -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.datname = '$E2E_DB'"; }
until_true() { # until_true COMMAND... (at most 10 s)
  for _ in $(seq 100); do "$@" && return 0; sleep 0.1; done
  return 1
}
check "the lock is held" until_true grep -q held "$E2E_TMP/pgout"
curl -sS -o "$E2E_TMP/refresh.json" -w '%{http_code}' -X POST "$GW/v1/auth/sessions:refresh" \
  -H 'content-type: application/json' -d "{\"refreshToken\":\"$RB\"}" >"$E2E_TMP/refresh.status" &
RPID=$!
waiting_at_least() { test "$(waiting)" -ge "$1"; } # asked again on every try of until_true
check "the refresh waits in the database" until_true waiting_at_least 1
curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$GW/v1/auth/sessions" \
  -H "authorization: Bearer $B0" >"$E2E_TMP/logout.status" &
LPID=$!
check "the logout waits too" until_true waiting_at_least 2
echo "COMMIT;" >&7
exec 7>&-
wait "$RPID" || true
wait "$LPID" || true
check "logout everywhere answered 200" test "$(cat "$E2E_TMP/logout.status")" = 200
RS="$(cat "$E2E_TMP/refresh.status")"
if [ "$RS" = 200 ]; then
  B1="$(/usr/bin/python3 -c "import json; print(json.load(open('$E2E_TMP/refresh.json'))['accessToken'])")"
  RB1="$(/usr/bin/python3 -c "import json; print(json.load(open('$E2E_TMP/refresh.json'))['refreshToken'])")"
  req GET /v1/me "$B1"; expect_status "the access token of the racing refresh is ended by the logout" 401
  refresh "$RB1"; expect_status "and so is its refresh token" 401
else
  check "the racing refresh was refused ($RS)" test "$RS" = 401
fi
check "no refresh token of the account is left in force" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM identity.refresh_tokens t JOIN identity.persons p ON p.subject = t.subject
   WHERE t.revoked_at IS NULL AND p.phone_hash = '$(phone_key 13600000002)'")" = 0

finish
