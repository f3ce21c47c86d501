#!/usr/bin/env bash
# e2e_faults_pg.sh - the services while their PostgreSQL restarts and while it is down,
# through the real gateway: right after a restart every catalog search and a staff login
# succeed at the first try (the pools notice their stale connections before using them);
# with PostgreSQL stopped a search answers 503 with the standard error body within a
# bounded time, never hangs; once it is back, service returns.
#
# Searches use a different query each time, so the catalog's Redis cache cannot answer
# for the database.
source "$(dirname "$0")/lib.sh"

e2e_private_pg
e2e_database
e2e_start
B="$E2E_TMP/body"
PW="correct horse battery"
LIMIT=5 # seconds a search may take with the database down (the target is well under 1)

YW_STAFF_PASSWORD="$PW" YW_ARGON2_FAST=1 "$YW_BUILD_DIR/services/identity/yw-identity" \
  --create-staff pg.clerk 320700-GA dept_staff >/dev/null

# search N -> $S status, $T seconds; query and page size differ with N
WORDS=(身份证 营业执照 社保 户口 驾驶证 公积金 医保 出生 结婚 退休 护照 税务 残疾 居住证 房产 不动产 养老 就业 失业 教育)
search() {
  local n="$1" w="${WORDS[$(($1 % ${#WORDS[@]}))]}"
  local out
  out="$(curl -sS -m 20 -o "$B.$n" -w '%{http_code} %{time_total}' -G "$GW/v1/items" \
    --data-urlencode "q=$w" --data-urlencode "pageSize=$((n % 7 + 1))" 2>/dev/null)" || true
  S="${out%% *}"; T="${out#* }"
  [ -n "$S" ] || S=000
  [ -n "$T" ] || T=99
}
login() { # -> $S
  S="$(curl -sS -m 20 -o "$B" -w '%{http_code}' -X POST "$GW/v1/auth/sessions" \
    -H 'content-type: application/json' \
    -d "{\"username\":\"pg.clerk\",\"password\":\"$PW\"}" 2>/dev/null)" || S=000
}
faster() { /usr/bin/python3 -c "import sys; sys.exit(0 if float('$1') < float('$2') else 1)"; }
standard_error() { # standard_error FILE CODE
  /usr/bin/python3 -c "import json,sys; d=json.load(open('$1')); sys.exit(0 if d.get('code')=='$2' and d.get('message') and d.get('requestId') else 1)"
}

# --- before: the pools are full of live connections
for n in 1 2 3; do
  search "$n"; check "search $n before the restart answers 200 ($S)" test "$S" = 200
done
login; check "a staff login before the restart answers 200 ($S)" test "$S" = 200

# --- restart: every pooled connection is now stale
e2e_pg_stop fast
e2e_pg_start
fails=0
for n in $(seq 10 19); do
  search "$n"
  [ "$S" = 200 ] || { fails=$((fails + 1)); echo "search $n after the restart: $S $(head -c 200 "$B.$n")"; }
done
check "10 searches right after the restart all answer 200 ($fails failed)" test "$fails" = 0
login
[ "$S" = 200 ] || echo "login: $(head -c 200 "$B")"
check "a staff login right after the restart answers 200 ($S)" test "$S" = 200

# again, with searches in parallel so that every connection of the pool is taken
e2e_pg_stop fast
e2e_pg_start
pids=()
for n in $(seq 20 31); do search "$n" & pids+=("$!"); done
wait "${pids[@]}" # not a bare wait: the services are this shell's children too
fails=0
for n in $(seq 20 31); do
  code="$(/usr/bin/python3 -c "import json; d=json.load(open('$B.$n')); print('ok' if 'code' not in d else d['code'])" 2>/dev/null || echo none)"
  [ "$code" = ok ] || { fails=$((fails + 1)); echo "parallel search $n: $(head -c 200 "$B.$n")"; }
done
check "12 parallel searches right after a restart all succeed ($fails failed)" test "$fails" = 0
login; check "a staff login right after that answers 200 ($S)" test "$S" = 200

# --- down: answered, not hung
e2e_pg_stop fast
for n in 40 41 42; do
  search "$n"
  check "with PostgreSQL down search $n answers 503 ($S)" test "$S" = 503
  check "  in less than ${LIMIT}s (${T}s)" faster "$T" "$LIMIT"
  check "  with the standard error body" standard_error "$B.$n" UNAVAILABLE
done
# the services' health checks look at their database: the gateway reports them down
# (it stays ready itself: /readyz 200)
down_seen() { curl -sS "$GW/readyz" | grep -q '"catalog":"unavailable"'; }
for _ in $(seq 50); do down_seen && break; sleep 0.2; done
check "with PostgreSQL down the catalog's health check says NOT_SERVING (/readyz)" down_seen

# --- back: service returns
e2e_pg_start
up_seen() { curl -sS "$GW/readyz" | grep -q '"catalog":"ok"'; }
for _ in $(seq 50); do up_seen && break; sleep 0.2; done
check "and SERVING again once it is back" up_seen
back=0
for _ in $(seq 50); do
  search 50
  [ "$S" = 200 ] && { back=1; break; }
  sleep 0.2
done
check "after PostgreSQL is back searches answer 200 again" test "$back" = 1
fails=0
for n in $(seq 51 58); do search "$n"; [ "$S" = 200 ] || fails=$((fails + 1)); done
check "8 more searches all answer 200 ($fails failed)" test "$fails" = 0
login; check "a staff login answers 200 again ($S)" test "$S" = 200

finish
