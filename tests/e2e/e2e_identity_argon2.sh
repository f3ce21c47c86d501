#!/usr/bin/env bash
# e2e_identity_argon2.sh - staff logins with the production password hashing (argon2id,
# 64 MiB, t=3) through the real gateway: yw-identity runs without YW_ARGON2_FAST
# (E2E_ARGON2_REAL=1) and the account's hash is made without it too. The other suites
# weaken hashing for speed, which only the tests' build (YW_TEST_HASHING) allows;
# test_identity_argon2 shows the default build ignores it.
E2E_ARGON2_REAL=1
source "$(dirname "$0")/lib.sh"
e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"
PW="$E2E_STAFF_PASSWORD"
env -u YW_ARGON2_FAST YW_STAFF_PASSWORD="$PW" \
  "$YW_BUILD_DIR/services/identity/yw-identity" --create-staff real.clerk 320700-GA dept_staff >/dev/null
check "the account's hash has the production parameters" test "$("${PSQL[@]}" -c \
  "SELECT password_hash LIKE '\$argon2id\$v=19\$m=65536,t=3,p=1\$%' FROM identity.staff WHERE username = 'real.clerk'")" = t
check "yw-identity runs without YW_ARGON2_FAST" \
  bash -c "! tr '\0' '\n' </proc/$IDENTITY_PID/environ | grep -q '^YW_ARGON2_FAST='"
req POST /v1/auth/sessions "" "{\"username\":\"real.clerk\",\"password\":\"$PW\"}"
expect_status "a staff login with production hashing succeeds" 200
T="$(field "d['accessToken']")"
req GET /v1/me "$T"; expect_status "and its session works" 200
check "as that account" holds "d['username']=='real.clerk'"
req POST /v1/auth/sessions "" '{"username":"real.clerk","password":"wrong password"}'
expect_status "a wrong password is 401" 401
req POST /v1/auth/sessions "" "{\"username\":\"no.such.clerk\",\"password\":\"$PW\"}"
expect_status "an unknown user is 401 (the dummy hash, production parameters too)" 401

# --- a hash made with weaker parameters (a test build's YW_ARGON2_FAST, or an older
# deployment's) is made again with the current ones at the account's next right login
e2e_staff weak.clerk 320700-GA dept_staff
check "the weak account's hash has the test parameters" test "$("${PSQL[@]}" -c \
  "SELECT password_hash LIKE '\$argon2id\$v=19\$m=1024,%' FROM identity.staff WHERE username = 'weak.clerk'")" = t
req POST /v1/auth/sessions "" '{"username":"weak.clerk","password":"wrong password"}'
expect_status "a wrong password does not touch it" 401
check "the hash is unchanged" test "$("${PSQL[@]}" -c \
  "SELECT password_hash LIKE '\$argon2id\$v=19\$m=1024,%' FROM identity.staff WHERE username = 'weak.clerk'")" = t
req POST /v1/auth/sessions "" "{\"username\":\"weak.clerk\",\"password\":\"$PW\"}"
expect_status "the right password logs in" 200
check "and the hash now has the production parameters" test "$("${PSQL[@]}" -c \
  "SELECT password_hash LIKE '\$argon2id\$v=19\$m=65536,t=3,p=1\$%' FROM identity.staff WHERE username = 'weak.clerk'")" = t
req POST /v1/auth/sessions "" "{\"username\":\"weak.clerk\",\"password\":\"$PW\"}"
expect_status "which the next login verifies" 200

finish
