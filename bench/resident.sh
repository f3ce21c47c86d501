# bench/resident.sh - sourced by the benches that need a verified resident of `./dev up`
# (GW, ROOT and TMP set). resident_token PHONE NAME ID_NUMBER prints an access token of a
# real-name level 2 resident: a fresh SMS code from the local stand-in (a second run
# within a minute waits out the resend interval the answer names), a login, and the
# real-name check against the registry stand-in (a second run finds the account
# verified already: 409, and goes on).
resident_token() {
  local phone="$1" name="$2" id="$3" s w token
  for _ in 1 2 3; do
    s="$(curl -sS -o /dev/null -D "$TMP/h" -w '%{http_code}' -X POST "$GW/v1/auth/sms-codes" \
      -H 'content-type: application/json' -d "{\"phone\":\"$phone\"}")"
    [ "$s" = 200 ] && break
    w="$(sed -n 's/^retry-after: *\([0-9]*\).*/\1/ip' "$TMP/h")"
    echo "(waiting ${w:-5} s for a new SMS code)" >&2
    sleep "${w:-5}"
  done
  token="$(curl -fsS -X POST "$GW/v1/auth/sessions" -H 'content-type: application/json' \
    -d "{\"phone\":\"$phone\",\"code\":\"$("$ROOT/dev" sms "$phone")\"}" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')"
  curl -sS -o /dev/null -X POST "$GW/v1/me/realname" -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d "{\"name\":\"$name\",\"idCardNumber\":\"$id\"}"
  echo "$token"
}
