#!/usr/bin/env bash
# e2e_identity_realname.sh - the real-name upgrade (level 2) through the real gateway:
# a verified identity cannot be replaced by another person's.
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

finish
