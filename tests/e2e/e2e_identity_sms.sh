#!/usr/bin/env bash
# e2e_identity_sms.sh - SMS login codes through the real gateway: wrong tries count
# across resends (a resend does not give a fresh budget), and a phone has a daily cap
# of codes sent and of wrong tries (here 3 sends and 6 wrong tries a day).
E2E_SMS_PER_IP_HOUR=100
export YW_SMS_PER_PHONE_DAY=3 YW_OTP_TRIES_PER_PHONE_DAY=6 YW_OTP_MAX_TRIES=5
source "$(dirname "$0")/lib.sh"
e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"

P=13500000001
send() { # send PHONE: asks for a code at once (the resend wait cleared, as if it had passed)
  redis_cmd DEL "$E2E_DB:otp-wait:$(phone_key "$1")" >/dev/null
  req POST /v1/auth/sms-codes "" "{\"phone\":\"$1\"}"
}
wrong_of() { printf '%06d' $(( (10#$1 + 1) % 1000000 )); }
try() { req POST /v1/auth/sessions "" "{\"phone\":\"$1\",\"code\":\"$2\"}"; }

# --- a resend carries the tries of the code it replaces
send $P; expect_status "code 1 is sent" 200
C1="$(last_code $P)"
for n in 1 2 3 4; do try $P "$(wrong_of "$C1")"; done
expect_status "4 wrong tries of code 1 are refused" 401
send $P; expect_status "code 2 is sent (a resend)" 200
C2="$(last_code $P)"
try $P "$(wrong_of "$C2")"; expect_status "a 5th wrong try, on the resent code, is refused" 401
try $P "$C2"
expect_status "5 wrong tries across a resend end the code: even the right one is refused (401)" 401

# --- wrong tries per phone per day
send $P; expect_status "code 3 is sent" 200
C3="$(last_code $P)"
try $P "$(wrong_of "$C3")"; expect_status "a 6th wrong try of the day is refused" 401
try $P "$C3"
expect_status "after 6 wrong tries in a day the phone cannot log in by code, right or not (401)" 401
check "it says why" grep -q "today" "$B"

# --- codes sent per phone per day
send $P; expect_status "a 4th code in a day is refused (429)" 429
check "with a retry-after within a day" \
  bash -c "v=\$(grep -i '^retry-after:' '$H' | tr -dc 0-9); [ -n \"\$v\" ] && [ \"\$v\" -ge 1 ] && [ \"\$v\" -le 86400 ]"
check "the SMS gateway got 3 messages for the phone, not 4" test "$(last_code $P)" = "$C3"

# --- another phone is not affected
Q=13500000002
send $Q; expect_status "another phone gets a code" 200
try $Q "$(last_code $Q)"; expect_status "and logs in" 200

finish
