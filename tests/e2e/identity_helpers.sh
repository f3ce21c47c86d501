# identity_helpers.sh - helpers of the e2e_identity_*.sh suites, sourced after lib.sh and
# e2e_start: requests through the gateway, JSON checks, SMS logins, verified residents.
B="$E2E_TMP/body"
H="$E2E_TMP/headers"

req() { # req METHOD PATH [TOKEN] [JSON] -> $S status, $B body, $H headers
  local m="$1" p="$2" t="${3:-}" d="${4:-}"
  local args=(-sS -o "$B" -D "$H" -w '%{http_code}' -X "$m" "$GW$p")
  [ -n "$t" ] && args+=(-H "authorization: Bearer $t")
  [ -n "$d" ] && args+=(-H 'content-type: application/json' --data-binary "$d")
  S="$(curl "${args[@]}")"
}
field() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$B')); print($1)"; }
holds() { /usr/bin/python3 -c "import json,sys; d=json.load(open('$B')); sys.exit(0 if ($1) else 1)"; }
expect_status() { # expect_status NAME WANT
  if [ "$S" = "$2" ]; then pass "$1"; else fail "$1 (got $S: $(head -c 300 "$B"))"; fi
}
last_code() {
  curl -fsS "$FAKES/sms/last?phone=$1" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["params"]["code"])'
}
redis_cmd() { redis-cli -h "${YW_TEST_REDIS_ADDR%:*}" -p "${YW_TEST_REDIS_ADDR#*:}" "$@"; }
phone_key() {
  printf 'phone:%s' "$1" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:$YW_LOOKUP_KEY" | awk '{print $NF}'
}
PSQL=(psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -qtA)

# login_resident PHONE -> prints an access token (the refresh token is left in $B);
# clears the phone's resend wait first, so that a suite can log in again at once
login_resident() {
  redis_cmd DEL "$E2E_DB:otp-wait:$(phone_key "$1")" >/dev/null
  req POST /v1/auth/sms-codes "" "{\"phone\":\"$1\"}"
  [ "$S" = 200 ] || { echo "no code for $1: $S $(cat "$B")" >&2; return 1; }
  req POST /v1/auth/sessions "" "{\"phone\":\"$1\",\"code\":\"$(last_code "$1")\"}"
  field "d['accessToken']"
}

# verified_resident PHONE NAME ID -> prints the access token of a level-2 resident
verified_resident() {
  local t
  t="$(login_resident "$1")"
  req POST /v1/me/realname "$t" "{\"name\":\"$2\",\"idCardNumber\":\"$3\"}"
  [ "$S" = 200 ] || { echo "realname for $1: $S $(cat "$B")" >&2; return 1; }
  echo "$t"
}
