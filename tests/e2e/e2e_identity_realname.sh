#!/usr/bin/env bash
# e2e_identity_realname.sh - the real-name upgrade (level 2) through the real gateway:
# a verified identity cannot be replaced by another person's, and the population
# registry cannot be used as an oracle: real-name checks are capped per account and per
# ID number per day (here 3 and 4).
E2E_SMS_PER_IP_HOUR=100
export YW_REALNAME_PER_ACCOUNT_DAY=3 YW_REALNAME_PER_ID_DAY=4
source "$(dirname "$0")/lib.sh"
e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"

# --- a verified identity stays the person's
ZHANG="$(verified_resident 13700000001 张三 320706199001011230)"
check "a resident verifies as 张三" test -n "$ZHANG"
req POST /v1/me/realname "$ZHANG" '{"name":"李四","idCardNumber":"320722198512120020"}'
expect_status "upgrading again as another (registered) person is refused (412)" 412
req GET /v1/me "$ZHANG"
check "the account still holds the first identity" \
  holds "d['idCardMasked']=='3207**********1230' and d['nameMasked']=='*三' and d['realnameLevel']==2"
check "the other person's ID number is bound to nobody" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM identity.persons WHERE id_card_hash IS NOT NULL")" = 1
req POST /v1/me/realname "$ZHANG" '{"name":"张三","idCardNumber":"320706199001011230"}'
expect_status "verifying the same identity again is harmless (200)" 200
check "and changes nothing" holds "d['idCardMasked']=='3207**********1230' and d['realnameLevel']==2"
LI="$(verified_resident 13700000002 李四 320722198512120020)"
check "the other person can still verify on their own account" test -n "$LI"

# --- one account cannot try name + ID pairs without end
PROBE="$(login_resident 13700000010)"
for n in 1 2 3; do
  req POST /v1/me/realname "$PROBE" "{\"name\":\"猜测$n\",\"idCardNumber\":\"320724197806300885\"}"
  expect_status "guess $n of an account is checked (412)" 412
done
req POST /v1/me/realname "$PROBE" '{"name":"赵敏","idCardNumber":"320724197806300885"}'
expect_status "the account's 4th check of the day is refused (429), even a right one" 429
check "with a retry-after within a day" \
  bash -c "grep -qiE '^retry-after: ([1-9][0-9]{0,4})' '$H' && [ \"\$(grep -i '^retry-after' '$H' | tr -dc 0-9)\" -le 86400 ]"
req GET /v1/me "$PROBE"; check "the capped account is still level 1" holds "d['realnameLevel']==1"

# --- one ID number cannot be probed from many accounts
for n in 1 2 3; do
  T="$(login_resident 1370000002$n)"
  req POST /v1/me/realname "$T" "{\"name\":\"猜测$n\",\"idCardNumber\":\"320703200002294566\"}"
  expect_status "account $n guesses a name for one ID number (412)" 412
done
T="$(login_resident 13700000024)"
req POST /v1/me/realname "$T" '{"name":"王小明","idCardNumber":"320703200002294566"}'
expect_status "the 4th check of the ID number (a right one) still passes" 200
T="$(login_resident 13700000025)"
req POST /v1/me/realname "$T" '{"name":"猜测5","idCardNumber":"320703200002294566"}'
expect_status "the ID number's 5th check of the day is refused (429) from a fresh account" 429
check "the refusals are in the audit trail" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM identity.audit_log WHERE action = 'realname_upgrade' AND outcome LIKE 'refused: daily limit%'")" = 2

finish
