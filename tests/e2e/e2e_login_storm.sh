#!/usr/bin/env bash
# e2e_login_storm.sh - a storm of bogus staff logins, with production password hashing
# (argon2id, 64 MiB each), does not stall yw-identity: hashes run in a few bounded slots
# (YW_IDENTITY_HASH_SLOTS) and never while holding a database connection, so a resident's
# call to the same service is still answered at once, and every login gets an answer (401,
# or 429 with retry-after when no slot came free in time), never a hang or a 5xx.
source "$(dirname "$0")/lib.sh"

e2e_database
export E2E_ARGON2_REAL=1 YW_IDENTITY_THREADS=8 YW_IDENTITY_HASH_SLOTS=2
e2e_start
B="$E2E_TMP/body"

PHONE=13800001234
curl -fsS -X POST "$GW/v1/auth/sms-codes" -H 'content-type: application/json' -d "{\"phone\":\"$PHONE\"}" >/dev/null
CODE="$(curl -fsS "$FAKES/sms/last?phone=$PHONE" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["params"]["code"])')"
TOKEN="$(curl -fsS -X POST "$GW/v1/auth/sessions" -H 'content-type: application/json' \
  -d "{\"phone\":\"$PHONE\",\"code\":\"$CODE\"}" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')"
check "a resident is logged in" test -n "$TOKEN"

# 32 bogus staff logins at once (unknown users: each still costs a full hash)
PIDS=()
for i in $(seq 32); do
  curl -sS -m 30 -o "$E2E_TMP/storm.$i.body" -D "$E2E_TMP/storm.$i.head" -w '%{http_code}\n' \
    -X POST "$GW/v1/auth/sessions" -H 'content-type: application/json' \
    -d "{\"username\":\"nobody$i\",\"password\":\"wrong password $i\"}" >"$E2E_TMP/storm.$i.code" 2>/dev/null &
  PIDS+=("$!")
done
sleep 0.3
# meanwhile, the same service answers a resident (its own handler, no hash)
T0="$(date +%s%3N)"
S="$(curl -sS -m 30 -o "$B" -w '%{http_code}' -H "authorization: Bearer $TOKEN" "$GW/v1/me")"
T1="$(date +%s%3N)"
check "during the storm GET /v1/me answers 200 ($S in $((T1 - T0)) ms)" test "$S" = 200
check "  within 3 s (not behind the hashes)" test $((T1 - T0)) -lt 3000
wait "${PIDS[@]}"
n401=0; n429=0; other=0; noretry=0
for i in $(seq 32); do
  case "$(cat "$E2E_TMP/storm.$i.code")" in
    401) n401=$((n401 + 1)) ;;
    429) n429=$((n429 + 1)); grep -qi '^retry-after: [0-9]' "$E2E_TMP/storm.$i.head" || noretry=$((noretry + 1)) ;;
    *) other=$((other + 1)) ;;
  esac
done
printf 'storm: %d x 401, %d x 429, %d other\n' "$n401" "$n429" "$other"
check "every bogus login got 401 or 429, none hung or failed ($other other)" test "$other" = 0
check "every 429 carries retry-after" test "$noretry" = 0
check "the identity service logged no internal error" bash -c "! grep -q 'rpc.internal' '$E2E_TMP/identity.log'"

finish
