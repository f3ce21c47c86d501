#!/usr/bin/env bash
# e2e_paysim.sh - the channel simulator as tests/e2e/lib.sh starts it for other e2e tests
# (e2e_start_paysim), driven by hand with curl and openssl the way payment/README.md
# shows: a signed prepay, the payer's payment, the order's view, a signed query and the
# day's statement; unsigned calls refused. (The adapter's own test is test_paysim.)
. "$(dirname "$0")/lib.sh"

e2e_start_paysim

# The merchant's Authorization header: HMAC-SHA256 under the API key (hex) over
# METHOD \n PATH_AND_QUERY \n TIMESTAMP \n NONCE \n BODY \n
auth() { # auth METHOD PATH BODY MCHID KEY
  local ts nonce sig
  ts="$(date +%s)"; nonce="$(openssl rand -hex 16)"
  sig="$(printf '%s\n%s\n%s\n%s\n%s\n' "$1" "$2" "$ts" "$nonce" "$3" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$5" -r | cut -d' ' -f1)"
  printf 'Authorization: YWPAY mchid="%s",nonce_str="%s",timestamp="%s",signature="%s"' \
    "$4" "$nonce" "$ts" "$sig"
}

check "public keys written for yw-payment" \
  test -s "$E2E_TMP/paysim/sim.pub.pem" -a -s "$E2E_TMP/paysim/sim-sm2.pub.pem"
check "the RSA channel's key is RSA 2048" \
  bash -c "openssl pkey -pubin -in '$E2E_TMP/paysim/sim.pub.pem' -text -noout | grep -q '2048 bit'"
check "the SM2 channel's key is SM2" \
  bash -c "openssl pkey -pubin -in '$E2E_TMP/paysim/sim-sm2.pub.pem' -text -noout | grep -qi 'SM2'"

NO="e2e$$x$RANDOM"
BODY="{\"mchid\":\"$PAYSIM_MCHID_SM2\",\"out_trade_no\":\"$NO\",\"description\":\"fee\",\"amount\":{\"total\":1250,\"currency\":\"CNY\"},\"notify_url\":\"http://127.0.0.1:9/none\"}"
P=/sim-sm2/v3/pay/transactions/native
ans="$(curl -sS -H "$(auth POST "$P" "$BODY" "$PAYSIM_MCHID_SM2" "$PAYSIM_KEY_SM2")" \
  -H 'Content-Type: application/json' -d "$BODY" "$PAYSIM$P")"
check "a signed prepay answers a prepay_id" grep -q '"prepay_id"' <<<"$ans"
code="$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$BODY" "$PAYSIM$P")"
check "an unsigned prepay is 401" test "$code" = 401
code="$(curl -sS -o /dev/null -w '%{http_code}' -H "$(auth POST "$P" "$BODY" "$PAYSIM_MCHID_SM2" "$PAYSIM_KEY_SIM")" \
  -H 'Content-Type: application/json' -d "$BODY" "$PAYSIM$P")"
check "a prepay signed with another key is 401" test "$code" = 401

ans="$(curl -sS -d "{\"out_trade_no\":\"$NO\",\"notify\":\"none\"}" "$PAYSIM/sim-sm2/sim/pay")"
check "the payer pays" grep -q '"transaction_id"' <<<"$ans"
check "the simulator's view says SUCCESS" \
  bash -c "curl -sS '$PAYSIM/sim-sm2/sim/orders/$NO' | grep -q '\"trade_state\":\"SUCCESS\"'"
Q="/sim-sm2/v3/pay/transactions/out-trade-no/$NO?mchid=$PAYSIM_MCHID_SM2"
ans="$(curl -sS -H "$(auth GET "$Q" "" "$PAYSIM_MCHID_SM2" "$PAYSIM_KEY_SM2")" "$PAYSIM$Q")"
check "a signed query answers SUCCESS and the amount" \
  grep -q '"trade_state":"SUCCESS".*"total":1250' <<<"$ans"
DAY="$(TZ=Asia/Shanghai date +%F)"
B="/sim-sm2/v3/bill/tradebill?bill_date=$DAY"
curl -sS -H "$(auth GET "$B" "" "$PAYSIM_MCHID_SM2" "$PAYSIM_KEY_SM2")" "$PAYSIM$B" >"$E2E_TMP/bill.csv"
check "today's statement has the order's row" grep -q "\`$NO,.*\`SUCCESS,\`12.50,\`,\`0.00,\`0.08," "$E2E_TMP/bill.csv"
check "and a summary row" grep -q '^`1,`12.50,`0.00,`0.08' "$E2E_TMP/bill.csv"
finish
