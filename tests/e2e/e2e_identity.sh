#!/usr/bin/env bash
# e2e_identity.sh - one login for residents and staff, through the real gateway: SMS
# codes (read from the SMS stand-in), real-name upgrade against the registry stand-in,
# staff passwords and lockout, the authorization matrix of every route class, refresh
# rotation and reuse detection, logout and logout everywhere, the data tracker, the
# audit trail, rate limits, and the attacks: forged metadata, bad tokens, brute force.
E2E_SMS_PER_IP_HOUR=14
source "$(dirname "$0")/lib.sh"

e2e_database
e2e_start
source "$(dirname "$0")/identity_helpers.sh"
PW="$E2E_STAFF_PASSWORD"

staff() { e2e_staff "$@"; } # staff USERNAME DEPARTMENT ROLES
staff ga.admin 320700-GA dept_admin,dept_staff
staff ga.clerk 320700-GA dept_staff
staff mz.admin 320700-MZ dept_admin
staff platform.admin "" platform_admin
staff auditor "" auditor
staff locky 320700-GA dept_staff

login_resident_once() {
  req POST /v1/auth/sms-codes "" "{\"phone\":\"$1\"}"
  req POST /v1/auth/sessions "" "{\"phone\":\"$1\",\"code\":\"$(last_code "$1")\"}"
  field "d['accessToken']"
}

# --- resident login by SMS code
PHONE=13812345678
req POST /v1/auth/sms-codes "" '{"phone":"12345"}'; expect_status "a malformed phone is 400" 400
req POST /v1/auth/sms-codes "" "{\"phone\":\"$PHONE\"}"; expect_status "an SMS code is sent" 200
CODE="$(last_code $PHONE)"
check "the SMS stand-in received a 6-digit code" test "${#CODE}" = 6
req POST /v1/auth/sms-codes "" "{\"phone\":\"$PHONE\"}"; expect_status "a second code at once is throttled (429)" 429
WRONG=$(printf '%06d' $(( (10#$CODE + 1) % 1000000 )))
req POST /v1/auth/sessions "" "{\"phone\":\"$PHONE\",\"code\":\"$WRONG\"}"
expect_status "a wrong code is 401" 401
req POST /v1/auth/sessions "" "{\"phone\":\"$PHONE\",\"code\":\"$CODE\"}"
expect_status "the right code logs in" 200
RES="$(field "d['accessToken']")"; RES_REFRESH="$(field "d['refreshToken']")"
RES_SUB="$(field "d['me']['subject']")"
check "the session carries a masked phone, never the number" \
  test "$(field "d['me']['phoneMasked']")" = "138****5678"
check "expiresIn is a 64-bit string" test "$(field "type(d['expiresIn']).__name__")" = str
req POST /v1/auth/sessions "" "{\"phone\":\"$PHONE\",\"code\":\"$CODE\"}"
expect_status "a code works once" 401

# --- brute force on a code: 5 tries, then the code is gone
PHONE2=13900001111
req POST /v1/auth/sms-codes "" "{\"phone\":\"$PHONE2\"}"
C2="$(last_code $PHONE2)"; W2=$(printf '%06d' $(( (10#$C2 + 7) % 1000000 )))
for _ in 1 2 3 4 5; do req POST /v1/auth/sessions "" "{\"phone\":\"$PHONE2\",\"code\":\"$W2\"}"; done
req POST /v1/auth/sessions "" "{\"phone\":\"$PHONE2\",\"code\":\"$C2\"}"
expect_status "after 5 wrong tries even the right code is refused" 401

# --- the SMS gateway down: 503, and nothing is left behind (no code, no throttle)
curl -fsS -X POST "$FAKES/sms/fail" -d '{"fail":true}' >/dev/null
req POST /v1/auth/sms-codes "" '{"phone":"13911112222"}'; expect_status "an SMS gateway failure is 503" 503
curl -fsS -X POST "$FAKES/sms/fail" -d '{"fail":false}' >/dev/null
req POST /v1/auth/sms-codes "" '{"phone":"13911112222"}'
expect_status "after the failure a code can be asked again at once" 200

# --- bad tokens
req GET /v1/me; expect_status "no token on an account route is 401" 401
req GET /v1/me "not-a-real-token-but-long-enough"; expect_status "an unknown token is 401" 401
S="$(curl -sS -o "$B" -w '%{http_code}' -H 'authorization: Basic YWxhZGRpbjpvcGVu' "$GW/v1/me")"
expect_status "a non-bearer authorization is 401" 401
req GET "/v1/items?pageSize=1" "not-a-real-token-but-long-enough"
expect_status "an invalid token on a public route is 401, not ignored" 401
req GET /v1/me "$RES"; expect_status "the resident reads their account" 200
check "a new resident is real-name level 1" test "$(field "d['realnameLevel']")" = 1

# --- real-name upgrade against the registry
req POST /v1/me/legal-persons "$RES" '{"creditCode":"91350100M000100Y43","name":"某某科技有限公司","legalRepresentative":"张三"}'
expect_status "binding a company at level 1 is 403" 403
req POST /v1/me/realname "$RES" '{"name":"张三","idCardNumber":"320706199001011231"}'
expect_status "an ID number with a wrong check digit is 400" 400
req POST /v1/me/realname "$RES" '{"name":"李四","idCardNumber":"320706199001011230"}'
expect_status "a name that does not match the registry is 412" 412
req GET /v1/me "$RES"
check "a refused upgrade leaves the account as it was (level 1, no name)" \
  holds "d['realnameLevel']==1 and 'nameMasked' not in d and 'idCardMasked' not in d"
req POST /v1/me/realname "$RES" '{"name":"张三","idCardNumber":"320706199001011230"}'
expect_status "a matching name and ID number upgrade to level 2" 200
check "the upgrade answers level 2" test "$(field "d['realnameLevel']")" = 2
check "the ID number comes back masked" test "$(field "d['idCardMasked']")" = "3207**********1230"
check "the name comes back masked" test "$(field "d['nameMasked']")" = "*三"
req POST /v1/me/legal-persons "$RES" '{"creditCode":"91350100M000100Y44","name":"某某科技有限公司","legalRepresentative":"张三"}'
expect_status "a credit code with a wrong check character is 400" 400
req POST /v1/me/legal-persons "$RES" '{"creditCode":"91350100M000100Y43","name":"某某科技有限公司","legalRepresentative":"张三"}'
expect_status "a level-2 resident binds a company" 200
check "the binding is listed" test "$(field "d['legalPersons'][0]['creditCode']")" = 91350100M000100Y43

# --- acting for the company (legal-person routes)
req GET /v1/company "$RES"; expect_status "a legal-person route before acting for a company is 403" 403
req POST /v1/me/acting-for "$RES" '{"creditCode":"91110000600037341L"}'
expect_status "acting for a company that is not bound is 403" 403
req POST /v1/me/acting-for "$RES" '{"creditCode":"91350100M000100Y43"}'
expect_status "a resident acts for their bound company" 200
check "the account says whom it acts for" test "$(field "d['actingFor']")" = 91350100M000100Y43
req GET /v1/company "$RES"; expect_status "the legal-person route now answers" 200
check "it names the company and masks the representative" \
  holds "d['name']=='某某科技有限公司' and d['legalRepresentativeMasked']=='*三'"

# --- staff login and lockout
req POST /v1/auth/sessions "" '{"username":"ga.admin","password":"wrong password"}'
expect_status "a wrong staff password is 401" 401
req POST /v1/auth/sessions "" "{\"username\":\"admin' OR '1'='1\",\"password\":\"x' OR '1'='1\"}"
expect_status "SQL-looking credentials are just wrong credentials (401)" 401
for _ in 1 2 3 4 5; do req POST /v1/auth/sessions "" '{"username":"locky","password":"nope nope nope"}'; done
req POST /v1/auth/sessions "" "{\"username\":\"locky\",\"password\":\"$PW\"}"
expect_status "after 5 failures the account is locked even with the right password (401, as unknown)" 401
login() { req POST /v1/auth/sessions "" "{\"username\":\"$1\",\"password\":\"$PW\"}"; field "d['accessToken']"; }
ADMIN="$(login ga.admin)"; CLERK="$(login ga.clerk)"; MZ="$(login mz.admin)"
# (their second factor: e2e_staff_token enrols it; e2e_identity_totp.sh tests it)
PLAT="$(e2e_staff_token platform.admin)"; AUD="$(e2e_staff_token auditor)"
check "staff log in with passwords" test -n "$ADMIN" -a -n "$CLERK" -a -n "$AUD" -a -n "$PLAT"

# --- the authorization matrix: each route class x each kind of caller
ITEM="$(curl -sS "$GW/v1/items?department=320700-GA&pageSize=1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["implCode"])')"
curl -sS "$GW/v1/items/$ITEM" >"$E2E_TMP/item.json"
ITEM_BODY="$(/usr/bin/python3 -c "import json; print(json.dumps({'item': json.load(open('$E2E_TMP/item.json'))}, ensure_ascii=False))")"
matrix() { # matrix NAME METHOD PATH BODY anon resident clerk admin mz platform auditor
  local name="$1" m="$2" p="$3" d="$4"; shift 4
  local want=("$@")
  local who=("" "$RES" "$CLERK" "$ADMIN" "$MZ" "$PLAT" "$AUD")
  local names=(anonymous resident dept_staff dept_admin other_dept_admin platform_admin auditor)
  local got=() ok=1
  for i in "${!who[@]}"; do
    req "$m" "$p" "${who[$i]}" "$d"
    got+=("${names[$i]}=$S")
    [ "$S" = "${want[$i]}" ] || ok=0
  done
  if [ $ok = 1 ]; then pass "matrix: $name"; else fail "matrix: $name (${got[*]}; want $*)"; fi
}
matrix "public catalog read" GET "/v1/items?pageSize=1" "" 200 200 200 200 200 200 200
matrix "own account" GET /v1/me "" 401 200 200 200 200 200 200
matrix "resident data tracker" GET /v1/me/data-access-log "" 401 200 403 403 403 403 403
matrix "staff read of a resident" GET "/v1/persons/$RES_SUB" "" 401 403 200 200 200 200 403
matrix "audit trail" GET /v1/audit-records "" 401 403 403 403 403 403 200
matrix "legal person (resident acting for a company)" GET /v1/company "" 401 200 403 403 403 403 403
matrix "catalog write" PUT "/v1/items/$ITEM" "$ITEM_BODY" 401 403 403 200 403 200 403

# --- the data tracker shows the staff reads
req GET /v1/me/data-access-log "$RES"
check "the resident sees who in which department read their data" \
  holds "any(e['actor']=='ga.clerk' and e['department']=='320700-GA' and e['action']=='read_personal_data' for e in d['entries'])"
req GET "/v1/audit-records?action=login_failed" "$AUD"
check "the audit trail records failed logins, masked" \
  holds "any(r['target']=='139****1111' for r in d['records']) and not any('13900001111' in json.dumps(r) for r in d['records'])"

# --- the audit log cannot be rewritten, even with direct database access
ROWS="$("${PSQL[@]}" -c 'SELECT count(*) FROM identity.audit_log')"
if "${PSQL[@]}" -c "UPDATE identity.audit_log SET outcome = 'x'" 2>/dev/null ||
  "${PSQL[@]}" -c "DELETE FROM identity.audit_log" 2>/dev/null ||
  "${PSQL[@]}" -c "TRUNCATE identity.audit_log" 2>/dev/null; then
  fail "the audit log refuses updates, deletes and truncation"
else
  check "the audit log refuses updates, deletes and truncation" \
    test "$("${PSQL[@]}" -c 'SELECT count(*) FROM identity.audit_log')" = "$ROWS"
fi
check "no personal data in clear in the identity tables" test "$("${PSQL[@]}" -c \
  "SELECT count(*) FROM identity.persons WHERE phone_enc LIKE '%13812345678%' OR id_card_enc LIKE '%320706%'")" = 0
check "no phone number in any log line" bash -c "! grep -h -e 13812345678 -e 320706199001011230 '$E2E_TMP'/*.log"

# --- refresh rotation and reuse detection
req POST /v1/auth/sessions:refresh "" "{\"refreshToken\":\"$RES_REFRESH\"}"
expect_status "a refresh token gives a new session" 200
RES2="$(field "d['accessToken']")"; RES2_REFRESH="$(field "d['refreshToken']")"
req GET /v1/me "$RES"; expect_status "the rotated session's access token is revoked" 401
req GET /v1/me "$RES2"; expect_status "the new access token works" 200
# (a retry within the grace period gets the same pair: e2e_identity_refresh.sh; past it,
# a second use is reuse)
"${PSQL[@]}" -c "UPDATE identity.refresh_tokens SET used_at = now() - interval '1 minute'
  WHERE token_hash = '$(printf '%s' "$RES_REFRESH" | sha256sum | cut -c1-64)'" >/dev/null
req POST /v1/auth/sessions:refresh "" "{\"refreshToken\":\"$RES_REFRESH\"}"
expect_status "a refresh token used twice is refused" 401
req GET /v1/me "$RES2"; expect_status "reuse ends the whole login at once" 401
req POST /v1/auth/sessions:refresh "" "{\"refreshToken\":\"$RES2_REFRESH\"}"
expect_status "and its newest refresh token too" 401

# --- an expired session (its Redis entry timed out) is 401
E1="$(login_resident_once 13922223333)"
redis_cmd DEL "$E2E_DB:sess:$(printf '%s' "$E1" | sha256sum | cut -c1-64)" >/dev/null
req GET /v1/me "$E1"; expect_status "an expired access token is 401" 401

# --- logout, logout everywhere
A1="$(login_resident $PHONE)"; A2="$(login_resident $PHONE)"
req DELETE /v1/auth/sessions/current "$A1"; expect_status "logout answers 200" 200
req GET /v1/me "$A1"; expect_status "a token replayed after logout is 401" 401
req GET /v1/me "$A2"; expect_status "logout ends only that session" 200
A3="$(login_resident $PHONE)"
req DELETE /v1/auth/sessions "$A3"; expect_status "logout everywhere answers 200" 200
req GET /v1/me "$A2"; expect_status "logout everywhere ends the other sessions" 401
req GET /v1/me "$A3"; expect_status "and the current one" 401

# --- oversized and malformed input
BIG="$(head -c 5000 /dev/zero | tr '\0' '1')"
req POST /v1/auth/sessions "" "{\"phone\":\"$BIG\",\"code\":\"123456\"}"; expect_status "an oversized phone is 400" 400
req POST /v1/auth/sessions "" '{"phone":"13812345678","code":"12345a"}'; expect_status "a non-digit code is 400" 400
req POST /v1/auth/sessions "" '{"phone":"13812345678","code":"123456","extra":1}'; expect_status "an unknown field is 400" 400

# --- forged caller metadata straight to the services
mkdir -p "$E2E_TMP/py"
# every contract, so that the ones these import come along
protoc --proto_path="$YW_SOURCE_DIR/proto" --python_out="$E2E_TMP/py" \
  $(cd "$YW_SOURCE_DIR/proto" && find yiwang -name '*.proto' | sed "s|^|$YW_SOURCE_DIR/proto/|")
if PYTHONPATH="$E2E_TMP/py" /usr/bin/python3 - "$IDENTITY_ADDR" "$CATALOG_ADDR" "$RES_SUB" <<'PY'
import os, sys, time, hmac, hashlib, grpc
from yiwang.identity.v1 import identity_pb2 as ipb
from yiwang.catalog.v1 import catalog_pb2 as cpb
ident, cat, sub = sys.argv[1:4]
caller = "v1;sub=%s;kind=staff;roles=platform_admin;dept=;level=0;sid=x;ip=127.0.0.1;ts=%d" % (sub, time.time())
forged = hmac.new(b"k" * 32, caller.encode(), hashlib.sha256).hexdigest()
ok = True
for target, method, msg, out in [(ident, "/yiwang.identity.v1.IdentityService/GetMe", ipb.GetMeRequest(), ipb.Me),
                                 (ident, "/yiwang.identity.v1.IdentityService/ListAuditRecords", ipb.ListAuditRecordsRequest(), ipb.ListAuditRecordsResponse),
                                 (cat, "/yiwang.catalog.v1.CatalogService/UpsertItem", cpb.UpsertItemRequest(), cpb.Item)]:
    # under mutual TLS with the gateway's own certificate (lib.sh exports it): still refused
    tls = [open(os.environ[k], "rb").read() for k in ("YW_TLS_CA", "YW_TLS_KEY", "YW_TLS_CERT")] if os.environ.get("YW_TLS_CA") else None
    ch = grpc.secure_channel(target, grpc.ssl_channel_credentials(*tls)) if tls else grpc.insecure_channel(target)
    rpc = ch.unary_unary(method, request_serializer=type(msg).SerializeToString, response_deserializer=out.FromString)
    for md in ([], [("x-yw-caller", caller), ("x-yw-caller-sig", forged)]):
        try:
            rpc(msg, timeout=5, metadata=md)
            print("FAIL accepted", method, bool(md)); ok = False
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAUTHENTICATED:
                print("FAIL", method, e.code()); ok = False
sys.exit(0 if ok else 1)
PY
then pass "services refuse calls without or with forged caller metadata"; else fail "services refuse calls without or with forged caller metadata"; fi
S="$(curl -sS -o "$B" -w '%{http_code}' -H "authorization: Bearer $ADMIN" -H 'x-yw-caller: v1;sub=x;kind=staff;roles=auditor;ts=1' -H 'x-yw-caller-sig: 00' "$GW/v1/audit-records")"
expect_status "client-sent x-yw-caller headers change nothing (403 for dept_admin)" 403

# --- codes per address: the identity here allows 14 an hour
CODES=""
for n in $(seq 10 19); do req POST /v1/auth/sms-codes "" "{\"phone\":\"136000000$n\"}"; CODES="$CODES $S"; done
check "one address cannot ask for unlimited codes ($CODES)" grep -q 429 <<<"$CODES"

# --- rate limits: a second gateway with a small per-account budget
GW_MAIN="$GW"
RL_PORT="$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$RL_PORT" YW_GATEWAY_TLS_LISTEN="" YW_UPSTREAM_CATALOG="$CATALOG_ADDR" \
  YW_UPSTREAM_IDENTITY="$IDENTITY_ADDR" YW_REDIS_PREFIX="$E2E_DB" YW_GATEWAY_RATE_SUBJECT=1 \
  YW_GATEWAY_BURST_SUBJECT=3 YW_GATEWAY_RATE_IP=100000 YW_GATEWAY_BURST_IP=100000 \
  YW_GATEWAY_METRICS_FROM=10.1.2.0/24 YW_GATEWAY_TRUSTED_PROXIES=127.0.0.1 \
  "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/gateway-rl.log" 2>&1 &
E2E_PIDS+=("$!")
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$RL_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
GW="http://127.0.0.1:$RL_PORT"
CODES=""
for _ in $(seq 12); do req GET /v1/me "$PLAT"; CODES="$CODES $S"; done
check "an account over its budget gets 429 ($CODES)" grep -q 429 <<<"$CODES"
check "429 says when to retry" grep -qi '^retry-after: [0-9]' "$H"
req GET /metrics; expect_status "metrics are refused outside the operators' addresses" 403

# --- the client's address: believed from X-Forwarded-For only behind our own proxies
xff_login() { # xff_login GATEWAY -> the source_ip the audit log recorded
  curl -sS -o /dev/null -X POST "$1/v1/auth/sessions" -H 'content-type: application/json' \
    -H 'x-forwarded-for: 203.0.113.9' -H "x-request-id: xff-$2" \
    -d '{"username":"nobody.here","password":"wrong password"}'
  "${PSQL[@]}" -c "SELECT source_ip FROM identity.audit_log WHERE request_id = 'xff-$2'"
}
check "behind a trusted proxy the forwarded address counts" test "$(xff_login "$GW" a)" = 203.0.113.9
check "a client cannot claim an address with X-Forwarded-For" test "$(xff_login "$GW_MAIN" b)" = 127.0.0.1
GW="$GW_MAIN"

# --- Redis unreachable: public routes go on with local limits, protected ones say 503
NR_PORT="$(free_port)"; DEAD_REDIS="127.0.0.1:$(free_port)"
YW_GATEWAY_LISTEN="127.0.0.1:$NR_PORT" YW_GATEWAY_TLS_LISTEN="" YW_UPSTREAM_CATALOG="$CATALOG_ADDR" \
  YW_UPSTREAM_IDENTITY="$IDENTITY_ADDR" YW_REDIS_ADDR="$DEAD_REDIS" YW_GATEWAY_RATE_IP=1 \
  YW_GATEWAY_BURST_IP=2 YW_GATEWAY_THREADS=1 \
  "$YW_BUILD_DIR/gateway/yw-gateway" >"$E2E_TMP/gateway-nr.log" 2>&1 &
E2E_PIDS+=("$!")
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$NR_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
GW="http://127.0.0.1:$NR_PORT"
req GET "/v1/items?pageSize=1"; expect_status "without Redis a public route still answers" 200
req GET /v1/me "$PLAT"; expect_status "without Redis a protected route is 503, never let through" 503
CODES=""
# one worker, so one local bucket: 2 at once plus 1 a second; 15 quick requests overrun it
for _ in $(seq 15); do req GET "/v1/topics"; CODES="$CODES $S"; done
check "without Redis the local per-address limit still applies ($CODES)" grep -q 429 <<<"$CODES"
req GET /readyz; expect_status "without Redis the gateway stays ready (it can still serve)" 200
check "readiness reports the missing Redis" grep -q 'unavailable (local limits)' "$B"
GW="$GW_MAIN"

finish
