#!/usr/bin/env bash
# e2e_identity_totp.sh - the second factor of staff with platform_admin, finance or
# auditor roles, through the real gateway: a password alone does not log them in; they
# enrol (otpauth:// URI, QR code, recovery codes) and confirm with a code; a login then
# needs a TOTP code (RFC 6238: HMAC-SHA1, 30 s steps, +-1 step) whose step has not been
# used before, or a recovery code, each usable once. Codes are computed here from the
# enrolled secret; the +-1 step window makes the checks independent of a step ending
# between computing a code and the service checking it.
source "$(dirname "$0")/lib.sh"
e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"
PW="$E2E_STAFF_PASSWORD"
e2e_staff aud.two "" auditor
e2e_staff fin.two "" finance
e2e_staff plat.two "" platform_admin
e2e_staff ga.one 320700-GA dept_staff
login() { req POST /v1/auth/sessions "" "{\"username\":\"$1\",\"password\":\"$2\"${3:+,$3}}"; }
totp() { # totp BASE32_SECRET STEP_OFFSET -> the 6-digit code of the step now + offset
  /usr/bin/python3 - "$1" "$2" <<'PY'
import base64, hashlib, hmac, struct, sys, time
key = base64.b32decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 8))
step = int(time.time()) // 30 + int(sys.argv[2])
h = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
o = h[-1] & 15
print("%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000))
PY
}

# --- roles without a second factor log in as before
login ga.one "$PW"; expect_status "a department clerk logs in with a password" 200

# --- a password alone does not log in the roles that need a second factor
login aud.two "$PW"; expect_status "an auditor's password alone is refused (401)" 401
login fin.two "$PW"; expect_status "a finance officer's password alone is refused (401)" 401
login plat.two "$PW"; expect_status "a platform administrator's password alone is refused (401)" 401
check "the answer says how to enrol" grep -q "totp-enrolments" "$B"

# --- enrolment
req POST /v1/auth/totp-enrolments "" '{"username":"aud.two","password":"wrong password"}'
expect_status "enrolling needs the password (401)" 401
req POST /v1/auth/totp-enrolments "" "{\"username\":\"aud.two\",\"password\":\"$PW\"}"
expect_status "the auditor starts enrolment" 200
SECRET="$(field "d['secret']")"
check "an otpauth URI with the secret, SHA1, 6 digits, 30 s" holds \
  "d['otpauthUri'].startswith('otpauth://totp/yiwang:aud.two?') and 'secret=$SECRET' in d['otpauthUri'] and 'algorithm=SHA1' in d['otpauthUri'] and 'digits=6' in d['otpauthUri'] and 'period=30' in d['otpauthUri']"
check "a QR code as SVG" holds "d['qrSvg'].startswith('<svg') and d['qrSvg'].count('<rect') > 50"
check "10 distinct recovery codes" holds "len(set(d['recoveryCodes'])) == 10"
RC1="$(field "d['recoveryCodes'][0]")"; RC2="$(field "d['recoveryCodes'][1]")"
check "the secret is stored encrypted, the recovery codes hashed" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM identity.staff s LEFT JOIN identity.staff_recovery_codes c ON c.staff_id = s.id
   WHERE s.totp_secret_enc LIKE '%$SECRET%' OR s.totp_pending_enc LIKE '%$SECRET%' OR c.code_hash = '$RC1'")" = 0
login aud.two "$PW" "\"totpCode\":\"$(totp "$SECRET" 0)\""
expect_status "before confirming, the new secret does not log in" 401
req POST /v1/auth/totp-enrolments:confirm "" \
  "{\"username\":\"aud.two\",\"password\":\"$PW\",\"totpCode\":\"$(totp "$SECRET" 5)\"}"
expect_status "a confirmation with a code outside +-1 step is refused (401)" 401
req POST /v1/auth/totp-enrolments:confirm "" \
  "{\"username\":\"aud.two\",\"password\":\"$PW\",\"totpCode\":\"$(totp "$SECRET" 0)\"}"
expect_status "the enrolment is confirmed with the current code" 200
req POST /v1/auth/totp-enrolments "" "{\"username\":\"aud.two\",\"password\":\"$PW\"}"
expect_status "an enrolled secret cannot be replaced with the password alone (412)" 412

# --- login with the second factor
login aud.two "$PW"; expect_status "the enrolled auditor still needs the code" 401
NEXT="$(totp "$SECRET" 1)"
login aud.two "$PW" "\"totpCode\":\"$NEXT\""; expect_status "password and TOTP code log in" 200
AUD="$(field "d['accessToken']")"
req GET /v1/audit-records "$AUD"; expect_status "and the auditor reads the audit trail" 200
login aud.two "$PW" "\"totpCode\":\"$NEXT\""; expect_status "the same step is not accepted twice" 401
login aud.two "$PW" "\"totpCode\":\"$(totp "$SECRET" -1)\""; expect_status "nor an earlier step" 401
login aud.two "$PW" "\"totpCode\":\"000000\""; expect_status "nor a made-up code" 401
login aud.two "wrong password" "\"totpCode\":\"$(totp "$SECRET" 2)\""; expect_status "a code does not replace the password" 401

# --- recovery codes, one use each
login aud.two "$PW" "\"recoveryCode\":\"$RC1\""; expect_status "a recovery code logs in" 200
login aud.two "$PW" "\"recoveryCode\":\"$RC1\""; expect_status "once" 401
login aud.two "$PW" "\"recoveryCode\":\"$RC2\""; expect_status "another one logs in again" 200

# --- a lost authenticator: an operator resets it, and the account enrols again
YW_ARGON2_FAST=1 "$YW_BUILD_DIR/services/identity/yw-identity" --reset-totp aud.two >/dev/null
login aud.two "$PW" "\"totpCode\":\"$(totp "$SECRET" 1)\""
expect_status "after a reset the old secret no longer logs in" 401
check "the answer says to enrol" grep -q "totp-enrolments" "$B"
req POST /v1/auth/totp-enrolments "" "{\"username\":\"aud.two\",\"password\":\"$PW\"}"
expect_status "and enrolling works again" 200
check "the reset is audited" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM identity.audit_log WHERE action = 'totp_reset' AND target = 'aud.two'")" = 1

finish
