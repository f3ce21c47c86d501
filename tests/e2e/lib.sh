# lib.sh - shared by the end-to-end tests: a fresh database on the test PostgreSQL, the
# built processes started on free ports, small assertion helpers. Sourced, not run.
set -euo pipefail

: "${YW_BUILD_DIR:?run through ctest (./dev test)}"
: "${YW_SOURCE_DIR:?run through ctest (./dev test)}"
: "${YW_TEST_PG_PORT:?run through ./dev test, which starts PostgreSQL}"
: "${YW_TEST_REDIS_ADDR:?run through ./dev test, which starts Redis}"

# E2E_REDIS_CLUSTER=1: YW_TEST_REDIS_ADDR is a seed of a Redis Cluster (e2e_redis_cluster.sh
# runs suites so). A suite's own redis-cli then follows MOVED and ASK (-c), so its direct
# reads and deletes reach the master that holds the key, as they would on one Redis.
if [ "${E2E_REDIS_CLUSTER:-0}" = 1 ]; then
  redis-cli() { command redis-cli -c "$@"; }
  echo "note: Redis is a cluster (seed $YW_TEST_REDIS_ADDR); redis-cli follows redirections"
fi

E2E_TMP="$(mktemp -d /tmp/yw-e2e.XXXXXX)"
chmod 755 "$E2E_TMP"
E2E_DB="e2e_$$_$RANDOM"
E2E_PIDS=()
E2E_FAILS=0
E2E_PASSES=0

E2E_PRIVATE_PG=""
e2e_cleanup() {
  if [ -n "$E2E_PRIVATE_PG" ] && [ -f "$E2E_PRIVATE_PG/data/postmaster.pid" ]; then
    local pm; pm="$(head -1 "$E2E_PRIVATE_PG/data/postmaster.pid")"
    kill -CONT "$pm" $(pgrep -P "$pm") 2>/dev/null || true
  fi
  [ -n "${REDIS_PID:-}" ] && kill -CONT "$REDIS_PID" 2>/dev/null
  for pid in "${E2E_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # a bounded wait: a process that has not stopped 20 s after SIGTERM is named and killed
  # (a test must end, whatever a process under test does)
  local left
  for pid in "${E2E_PIDS[@]}"; do
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      left="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)"
      echo "cleanup: process $pid ($left) did not stop 20 s after SIGTERM; killed" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS $E2E_DB WITH (FORCE)" >/dev/null 2>&1 || true
  if [ -n "$E2E_PRIVATE_PG" ]; then
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$E2E_PRIVATE_PG/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$E2E_TMP"
}
trap e2e_cleanup EXIT

# A port below the kernel's ephemeral range (ip_local_port_range), so that the outgoing
# connections of tests running at the same time (h2load opens thousands) cannot take it
# between this check and the server's bind; random, so parallel tests rarely pick alike.
# A port nothing is bound to, and not one this test was given before: a port handed out
# is only taken when its process binds it, so two picks before the first bind could be
# the same (the fakes once lost theirs to the catalog). $E2E_TMP/ports lists them.
free_port() {
  /usr/bin/python3 - "$E2E_TMP/ports" <<'PY'
import random, socket, sys
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
try:
    given = set(open(sys.argv[1]).read().split())
except OSError:
    given = set()
for _ in range(200):
    p = random.randrange(10000, max(lo, 10001))
    if str(p) in given:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    with open(sys.argv[1], "a") as f:
        f.write(f"{p}\n")
    print(p)
    break
PY
}

pass() { E2E_PASSES=$((E2E_PASSES + 1)); printf 'ok   %s\n' "$1"; }
fail() { E2E_FAILS=$((E2E_FAILS + 1)); printf 'FAIL %s\n' "$1"; }
check() { # check NAME COMMAND...
  local name="$1"; shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}
finish() {
  printf '%d passed, %d failed\n' "$E2E_PASSES" "$E2E_FAILS"
  [ "$E2E_FAILS" = 0 ]
}

# Creates the database, migrates with the real binary, loads the demo seed.
e2e_database() {
  psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -qc "CREATE DATABASE $E2E_DB" >/dev/null
  export YW_PG_DSN="host=127.0.0.1 port=$YW_TEST_PG_PORT dbname=$E2E_DB user=postgres"
  export YW_REDIS_ADDR="$YW_TEST_REDIS_ADDR"
  "$YW_BUILD_DIR/services/catalog/yw-catalog" --migrate-only
  "$YW_BUILD_DIR/services/identity/yw-identity" --migrate-only
  "$YW_BUILD_DIR/services/feed/yw-feed" --migrate-only
  "$YW_BUILD_DIR/services/applications/yw-applications" --migrate-only
  "$YW_BUILD_DIR/services/progress/yw-progress" --migrate-only
  "$YW_BUILD_DIR/services/files/yw-files" --migrate-only
  "$YW_BUILD_DIR/payment/yw-payment" --migrate-only
  psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -q -v ON_ERROR_STOP=1 \
    -f "$YW_SOURCE_DIR/services/catalog/seed/demo.sql" >/dev/null
  # yw-catalog runs as yw_catalog (deploy/env/catalog.env), a member of the role its
  # migrations grant the tables to, not as the superuser that applied them; yw-identity
  # likewise as yw_identity
  e2e_login_role yw_catalog yw_catalog_writer
  e2e_login_role yw_identity yw_identity_writer
  e2e_login_role yw_applications yw_applications_writer
  e2e_login_role yw_progress yw_progress_writer
  e2e_login_role yw_payment yw_payment_writer
}

# A login role for a service to run as: no superuser, no CREATEDB or CREATEROLE, a
# member of GROUP only. Roles belong to the cluster, so it is made once and tests
# running at the same time may race to make it.
e2e_login_role() { # e2e_login_role ROLE GROUP
  psql -h 127.0.0.1 -p "$YW_TEST_PG_PORT" -U postgres -d "$E2E_DB" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$
BEGIN
  BEGIN
    CREATE ROLE $1 LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
  BEGIN
    GRANT $2 TO $1;
  EXCEPTION WHEN unique_violation THEN NULL;
  END;
END \$\$;
SQL
}

# E2E_ARGON2_REAL=1 gives yw-identity production password hashing (64 MiB argon2id)
# instead of the tests' 1 MiB.
# Starts the stand-ins, yw-identity, yw-catalog (asking yw-files about the files items
# name), yw-feed (consuming E2E_FEED_STREAMS), yw-files, yw-applications, yw-progress and yw-gateway; sets CATALOG_ADDR,
# IDENTITY_ADDR, FEED_ADDR, FILES_ADDR, APPLICATIONS_ADDR, FAKES (http base of the SMS
# and registry stand-ins), GW (http base),
# GWS (https base). Extra gateway settings come from the environment (E2E_GATEWAY_ENV).
# Every request of a test comes from 127.0.0.1, one address: the gateway's rate limits
# are set high (E2E_RATE_IP, E2E_BURST_IP, E2E_RATE_SUBJECT, E2E_BURST_SUBJECT, and the
# lookup routes' E2E_RATE_LOOKUP, E2E_BURST_LOOKUP) unless a test gives its own.
#
# The gateway calls the services over mutual TLS (E2E_MTLS=0: cleartext) with
# certificates from tools/pki.sh in $E2E_PKI: the services get theirs on their command
# line, and YW_TLS_CA/_CERT/_KEY are exported as the gateway's client certificate, so
# that gateways a test starts, and Python clients calling a service directly
# (grpc.ssl_channel_credentials), show it too.
e2e_start() {
  local cport gport tport iport fport
  # one key of query codes for yw-applications, which makes them, and yw-progress
  export YW_LOOKUP_KEY="${YW_LOOKUP_KEY:-$(openssl rand -hex 32)}"
  cport="$(free_port)"; gport="$(free_port)"; tport="$(free_port)"; iport="$(free_port)"
  fport="$(free_port)"
  E2E_PKI="$E2E_TMP/pki"
  local svc_ca="" identity_cert="" identity_key="" catalog_cert="" catalog_key=""
  if [ "${E2E_MTLS:-1}" = 1 ]; then
    bash "$YW_SOURCE_DIR/tools/pki.sh" dev "$E2E_PKI"
    svc_ca="$E2E_PKI/ca.crt"
    identity_cert="$E2E_PKI/identity.crt"; identity_key="$E2E_PKI/identity.key"
    catalog_cert="$E2E_PKI/catalog.crt"; catalog_key="$E2E_PKI/catalog.key"
    export YW_TLS_CA="$E2E_PKI/ca.crt" YW_TLS_CERT="$E2E_PKI/gateway.crt" \
      YW_TLS_KEY="$E2E_PKI/gateway.key"
  else
    export YW_TLS_CA="" YW_TLS_CERT="" YW_TLS_KEY=""
  fi
  FAKES="http://127.0.0.1:$fport"
  /usr/bin/python3 "$YW_SOURCE_DIR/tools/fakes/fakes.py" "$fport" >"$E2E_TMP/fakes.log" 2>&1 &
  E2E_PIDS+=("$!")
  IDENTITY_ADDR="127.0.0.1:$iport"
  YW_IDENTITY_LISTEN="$IDENTITY_ADDR" YW_SMS_URL="$FAKES/sms/send" \
    YW_REGISTRY_URL="$FAKES/registry/verify" YW_COMPANY_REGISTER_URL="$FAKES/companies/lookup" \
    YW_REDIS_PREFIX="$E2E_DB" YW_ARGON2_FAST=1 YW_PG_DSN="${YW_PG_DSN/user=postgres/user=yw_identity}" \
    YW_SMS_PER_IP_HOUR="${E2E_SMS_PER_IP_HOUR:-20}" \
    YW_TLS_CA="$svc_ca" YW_TLS_CERT="$identity_cert" YW_TLS_KEY="$identity_key" \
    YW_TLS_CLIENT_NAMES="${svc_ca:+gateway,applications-client,payment-client}" \
    env ${E2E_ARGON2_REAL:+-u YW_ARGON2_FAST} \
    "$YW_BUILD_DIR/services/identity/yw-identity" >"$E2E_TMP/identity.log" 2>&1 &
  IDENTITY_PID=$!
  E2E_PIDS+=("$IDENTITY_PID")
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$E2E_TMP/tls.key" -out "$E2E_TMP/tls.crt" 2>/dev/null
  CATALOG_ADDR="127.0.0.1:$cport"
  # yw-catalog asks yw-files whether the files an item names are stored (its own client
  # certificate); e2e_files starts the store on this address
  FILES_ADDR="127.0.0.1:$(free_port)"
  [ -n "$svc_ca" ] && bash "$YW_SOURCE_DIR/tools/pki.sh" client "$E2E_PKI" catalog-client
  YW_CATALOG_LISTEN="$CATALOG_ADDR" YW_REDIS_PREFIX="$E2E_DB" \
    YW_PG_DSN="${YW_PG_DSN/user=postgres/user=yw_catalog}" \
    YW_CATALOG_FILES="$FILES_ADDR" YW_CATALOG_FILES_WAIT_MS="${E2E_CATALOG_FILES_WAIT_MS:-2000}" \
    YW_CATALOG_UPLOAD_DAILY_FILES="${E2E_CATALOG_UPLOAD_DAILY_FILES:-2000}" \
    YW_TLS_CA="$svc_ca" YW_TLS_CERT="$catalog_cert" YW_TLS_KEY="$catalog_key" \
    YW_TLS_CLIENT_CERT="${svc_ca:+$E2E_PKI/catalog-client.crt}" \
    YW_TLS_CLIENT_KEY="${svc_ca:+$E2E_PKI/catalog-client.key}" \
    YW_TLS_CLIENT_NAMES="${svc_ca:+gateway,applications-client,testsvc-client}" \
    "$YW_BUILD_DIR/services/catalog/yw-catalog" \
    >"$E2E_TMP/catalog.log" 2>&1 &
  CATALOG_PID=$!
  E2E_PIDS+=("$CATALOG_PID")
  e2e_feed "$svc_ca"
  e2e_files "$svc_ca"
  e2e_applications "$svc_ca"
  e2e_progress "$svc_ca"
  e2e_payment "$svc_ca"
  # Ports are picked free but only taken when the gateway binds them; a process of a test
  # running beside this one may take the same port meanwhile (listeners with SO_REUSEPORT
  # share it). An answer that is not this gateway's starts it again on other ports.
  local attempt body
  for attempt in 1 2 3; do
    [ "$attempt" = 1 ] || { gport="$(free_port)"; tport="$(free_port)"; }
    YW_GATEWAY_LISTEN="127.0.0.1:$gport" YW_GATEWAY_TLS_LISTEN="127.0.0.1:$tport" \
      YW_GATEWAY_TLS_CERT="$E2E_TMP/tls.crt" YW_GATEWAY_TLS_KEY="$E2E_TMP/tls.key" \
      YW_UPSTREAM_CATALOG="$CATALOG_ADDR" YW_UPSTREAM_IDENTITY="$IDENTITY_ADDR" \
      YW_GATEWAY_CORS_ORIGINS="https://h5.example.gov.cn" YW_REDIS_PREFIX="$E2E_DB" \
      YW_GATEWAY_MAX_BODY=65536 YW_GATEWAY_THREADS=2 YW_GATEWAY_IDLE_TIMEOUT_MS=1500 \
      YW_GATEWAY_RATE_IP="${E2E_RATE_IP:-100000}" YW_GATEWAY_BURST_IP="${E2E_BURST_IP:-100000}" \
      YW_GATEWAY_RATE_SUBJECT="${E2E_RATE_SUBJECT:-100000}" \
      YW_GATEWAY_BURST_SUBJECT="${E2E_BURST_SUBJECT:-100000}" \
      YW_GATEWAY_RATE_LOOKUP="${E2E_RATE_LOOKUP:-100000}" \
      YW_GATEWAY_BURST_LOOKUP="${E2E_BURST_LOOKUP:-100000}" \
      "$YW_BUILD_DIR/gateway/yw-gateway" >>"$E2E_TMP/gateway.log" 2>&1 &
    GATEWAY_PID=$!
    E2E_PIDS+=("$GATEWAY_PID")
    GW="http://127.0.0.1:$gport"
    GWS="https://127.0.0.1:$tport"
    GW_PORT="$gport"
    for _ in $(seq 150); do
      body="$(curl -sS "$GW/readyz" 2>/dev/null || true)"
      # another process answers on the port: this gateway's start is lost, try others
      if [ -n "$body" ] && ! grep -q '"dependencies"' <<<"$body"; then
        kill "$GATEWAY_PID" 2>/dev/null || true
        wait "$GATEWAY_PID" 2>/dev/null || true
        continue 2
      fi
      # ready, and every dependency the gateway reports is up
      grep -q '"dependencies"' <<<"$body" && ! grep -q unavailable <<<"$body" &&
        curl -fsS "$FAKES/healthz" >/dev/null 2>&1 && return 0
      sleep 0.2
    done
    break
  done
  echo "the processes did not become ready"; curl -sS "$GW/readyz"
  for f in "$E2E_TMP"/*.log; do echo "==> $f"; grep -v '"http.access"' "$f" | tail -n 20; done
  return 1
}

# Starts yw-feed (consuming E2E_FEED_STREAMS; mutual TLS with the certificate of $E2E_PKI
# when CA is given) and exports YW_UPSTREAM_FEED, so every gateway a test starts routes
# /v1/me/feed there. Sets FEED_ADDR, FEED_METRICS (its /metrics) and FEED_PID.
e2e_feed() { # e2e_feed [CA]
  FEED_ADDR="127.0.0.1:$(free_port)"
  FEED_METRICS="127.0.0.1:$(free_port)"
  YW_FEED_LISTEN="$FEED_ADDR" YW_REDIS_PREFIX="$E2E_DB" YW_FEED_STREAMS="${E2E_FEED_STREAMS:-}" \
    YW_FEED_METRICS_LISTEN="$FEED_METRICS" \
    YW_TLS_CA="${1:-}" YW_TLS_CERT="${1:+$E2E_PKI/feed.crt}" YW_TLS_KEY="${1:+$E2E_PKI/feed.key}" \
    YW_TLS_CLIENT_NAMES="${1:+gateway}" \
    "$YW_BUILD_DIR/services/feed/yw-feed" >"$E2E_TMP/feed.log" 2>&1 &
  FEED_PID=$!
  E2E_PIDS+=("$FEED_PID")
  export YW_UPSTREAM_FEED="$FEED_ADDR"
}

# Starts yw-applications (as the login role yw_applications; calling yw-catalog at
# CATALOG_ADDR and yw-identity at IDENTITY_ADDR with a client certificate when CA is
# given) and exports
# YW_UPSTREAM_APPLICATIONS, so every gateway a test starts routes there. Sets
# APPLICATIONS_ADDR, APPLICATIONS_METRICS (its /metrics) and APPLICATIONS_PID.
e2e_applications() { # e2e_applications [CA]
  APPLICATIONS_ADDR="127.0.0.1:$(free_port)"
  APPLICATIONS_METRICS="127.0.0.1:$(free_port)"
  # the key of the forms at rest: one per run, exported so a test can read a row back
  export YW_APPLICATIONS_DATA_KEY="${YW_APPLICATIONS_DATA_KEY:-$(openssl rand -hex 32)}"
  if [ -n "${1:-}" ]; then
    bash "$YW_SOURCE_DIR/tools/pki.sh" server "$E2E_PKI" applications
    bash "$YW_SOURCE_DIR/tools/pki.sh" client "$E2E_PKI" applications-client
  fi
  # the seals of electronic licenses (SM2), made per run: the deployment's, and
  # 320700-GA's own
  [ -f "$E2E_TMP/seal.key" ] || openssl genpkey -algorithm SM2 -out "$E2E_TMP/seal.key" 2>/dev/null
  mkdir -p "$E2E_TMP/seals"
  [ -f "$E2E_TMP/seals/320700-GA.key" ] ||
    openssl genpkey -algorithm SM2 -out "$E2E_TMP/seals/320700-GA.key" 2>/dev/null
  YW_APPLICATIONS_LISTEN="$APPLICATIONS_ADDR" YW_APPLICATIONS_CATALOG="$CATALOG_ADDR" \
    YW_APPLICATIONS_IDENTITY="$IDENTITY_ADDR" \
    YW_APPLICATIONS_METRICS_LISTEN="$APPLICATIONS_METRICS" \
    YW_APPLICATIONS_SEAL_KEY="$E2E_TMP/seal.key" YW_APPLICATIONS_SEAL_KEYS="$E2E_TMP/seals" \
    YW_REDIS_PREFIX="$E2E_DB" YW_PG_DSN="${YW_PG_DSN/user=postgres/user=yw_applications}" \
    YW_LOOKUP_KEY="${YW_LOOKUP_KEY:-$(openssl rand -hex 32)}" \
    YW_APPLICATIONS_DATA_KEY="$YW_APPLICATIONS_DATA_KEY" \
    YW_APPLICATIONS_PAYMENT_STREAM="$E2E_DB:events:{payment}" \
    YW_TLS_CA="${1:-}" YW_TLS_CERT="${1:+$E2E_PKI/applications.crt}" \
    YW_TLS_CLIENT_NAMES="${1:+gateway,payment-client}" \
    YW_TLS_KEY="${1:+$E2E_PKI/applications.key}" \
    YW_TLS_CLIENT_CERT="${1:+$E2E_PKI/applications-client.crt}" \
    YW_TLS_CLIENT_KEY="${1:+$E2E_PKI/applications-client.key}" \
    "$YW_BUILD_DIR/services/applications/yw-applications" >"$E2E_TMP/applications.log" 2>&1 &
  APPLICATIONS_PID=$!
  E2E_PIDS+=("$APPLICATIONS_PID")
  export YW_UPSTREAM_APPLICATIONS="$APPLICATIONS_ADDR"
}

# Starts yw-files, the store behind the gateway's upload and download routes and what
# yw-catalog checks an item's files with (mutual TLS when CA is given), on FILES_ADDR
# when it is set (e2e_start sets it for yw-catalog) and on a free port otherwise, and
# exports YW_UPSTREAM_FILES. Sets FILES_ADDR and FILES_PID.
e2e_files() { # e2e_files [CA]
  FILES_ADDR="${FILES_ADDR:-127.0.0.1:$(free_port)}"
  [ -n "${1:-}" ] && bash "$YW_SOURCE_DIR/tools/pki.sh" server "$E2E_PKI" files
  YW_FILES_LISTEN="$FILES_ADDR" \
    YW_TLS_CA="${1:-}" YW_TLS_CERT="${1:+$E2E_PKI/files.crt}" YW_TLS_KEY="${1:+$E2E_PKI/files.key}" \
    YW_TLS_CLIENT_NAMES="${1:+gateway,catalog-client}" \
    "$YW_BUILD_DIR/services/files/yw-files" >"$E2E_TMP/files.log" 2>&1 &
  FILES_PID=$!
  E2E_PIDS+=("$FILES_PID")
  export YW_UPSTREAM_FILES="$FILES_ADDR"
}

# Starts yw-progress (as the login role yw_progress; consuming the applications'
# stream of this test's prefix; mutual TLS when CA is given) and exports
# YW_UPSTREAM_PROGRESS. Sets PROGRESS_ADDR and PROGRESS_PID.
e2e_progress() { # e2e_progress [CA]
  PROGRESS_ADDR="127.0.0.1:$(free_port)"
  [ -n "${1:-}" ] && bash "$YW_SOURCE_DIR/tools/pki.sh" server "$E2E_PKI" progress
  YW_PROGRESS_LISTEN="$PROGRESS_ADDR" YW_REDIS_PREFIX="$E2E_DB" \
    YW_PROGRESS_STREAM="$E2E_DB:events:{applications}" \
    YW_PG_DSN="${YW_PG_DSN/user=postgres/user=yw_progress}" \
    YW_LOOKUP_KEY="$YW_LOOKUP_KEY" \
    YW_TLS_CA="${1:-}" YW_TLS_CERT="${1:+$E2E_PKI/progress.crt}" YW_TLS_KEY="${1:+$E2E_PKI/progress.key}" \
    YW_TLS_CLIENT_NAMES="${1:+gateway}" \
    "$YW_BUILD_DIR/services/progress/yw-progress" >"$E2E_TMP/progress.log" 2>&1 &
  PROGRESS_PID=$!
  E2E_PIDS+=("$PROGRESS_PID")
  export YW_UPSTREAM_PROGRESS="$PROGRESS_ADDR"
}

# Starts yw-payment (as the login role yw_payment; its channels from
# E2E_PAYMENT_CHANNELS and E2E_PAYMENT_CHANNEL_KEYS, none by default; yw-applications at
# APPLICATIONS_ADDR when e2e_applications started it, with the client certificate
# payment-client; mutual TLS when CA is given) and exports YW_UPSTREAM_PAYMENT. Sets
# PAYMENT_ADDR and PAYMENT_PID.
e2e_payment() { # e2e_payment [CA]
  PAYMENT_ADDR="127.0.0.1:$(free_port)"
  if [ -n "${1:-}" ]; then
    bash "$YW_SOURCE_DIR/tools/pki.sh" server "$E2E_PKI" payment
    bash "$YW_SOURCE_DIR/tools/pki.sh" client "$E2E_PKI" payment-client
  fi
  YW_PAYMENT_LISTEN="$PAYMENT_ADDR" YW_REDIS_PREFIX="$E2E_DB" \
    YW_PG_DSN="${YW_PG_DSN/user=postgres/user=yw_payment}" \
    YW_PAYMENT_DATA_KEY="${YW_PAYMENT_DATA_KEY:-$(openssl rand -hex 32)}" \
    YW_PAYMENT_CHANNELS="${E2E_PAYMENT_CHANNELS:-}" YW_PAYMENT_CHANNEL_KEYS="${E2E_PAYMENT_CHANNEL_KEYS:-}" \
    YW_PAYMENT_APPLICATIONS="${APPLICATIONS_ADDR:-}" YW_PAYMENT_IDENTITY="${IDENTITY_ADDR:-}" \
    YW_TLS_CA="${1:-}" YW_TLS_CERT="${1:+$E2E_PKI/payment.crt}" YW_TLS_KEY="${1:+$E2E_PKI/payment.key}" \
    YW_TLS_CLIENT_NAMES="${1:+gateway}" \
    YW_TLS_CLIENT_CERT="${1:+$E2E_PKI/payment-client.crt}" YW_TLS_CLIENT_KEY="${1:+$E2E_PKI/payment-client.key}" \
    "$YW_BUILD_DIR/payment/yw-payment" >"$E2E_TMP/payment.log" 2>&1 &
  PAYMENT_PID=$!
  E2E_PIDS+=("$PAYMENT_PID")
  export YW_UPSTREAM_PAYMENT="$PAYMENT_ADDR"
}

# Starts yw-payment again once the gateway runs ($GW), as e2e_payment did but with the
# channels' notifications sent to the gateway's notify route and the mutual TLS of CA
# (given: the same as e2e_start's); extra settings as NAME=VALUE arguments. Waits until the
# gateway reaches it.
e2e_payment_restart() { # e2e_payment_restart CA [NAME=VALUE...]
  local ca="$1"; shift
  kill "$PAYMENT_PID" 2>/dev/null; wait "$PAYMENT_PID" 2>/dev/null || true
  env YW_PAYMENT_LISTEN="$PAYMENT_ADDR" YW_REDIS_PREFIX="$E2E_DB" \
    YW_PG_DSN="${YW_PG_DSN/user=postgres/user=yw_payment}" \
    YW_PAYMENT_DATA_KEY="${YW_PAYMENT_DATA_KEY:-$(openssl rand -hex 32)}" \
    YW_PAYMENT_CHANNELS="${E2E_PAYMENT_CHANNELS:-}" YW_PAYMENT_CHANNEL_KEYS="${E2E_PAYMENT_CHANNEL_KEYS:-}" \
    YW_PAYMENT_NOTIFY_BASE="$GW/v1/payments/notify" YW_PAYMENT_APPLICATIONS="${APPLICATIONS_ADDR:-}" YW_PAYMENT_IDENTITY="${IDENTITY_ADDR:-}" \
    YW_TLS_CA="$ca" YW_TLS_CERT="${ca:+$E2E_PKI/payment.crt}" YW_TLS_KEY="${ca:+$E2E_PKI/payment.key}" \
    YW_TLS_CLIENT_NAMES="${ca:+gateway}" \
    YW_TLS_CLIENT_CERT="${ca:+$E2E_PKI/payment-client.crt}" YW_TLS_CLIENT_KEY="${ca:+$E2E_PKI/payment-client.key}" \
    "$@" "$YW_BUILD_DIR/payment/yw-payment" >>"$E2E_TMP/payment.log" 2>&1 &
  PAYMENT_PID=$!
  E2E_PIDS+=("$PAYMENT_PID")
  local _
  for _ in $(seq 100); do
    [ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$GW/v1/payments/notify/none" -d x)" = 404 ] && return 0
    sleep 0.1
  done
  return 1
}

# Starts the channel simulator yw-paysim (channels sim and sim-sm2, payment/README.md
# "Channels and the simulator") on a free port with keys of its own under $E2E_TMP, its
# notification retries every PAYSIM_RETRY_MS (default "100,200,400,800,1600") and waits
# until it answers. Sets PAYSIM (its base URL), PAYSIM_PID, PAYSIM_MCHID_SIM,
# PAYSIM_MCHID_SM2, PAYSIM_KEY_SIM, PAYSIM_KEY_SM2 (API keys), and the settings
# e2e_payment gives yw-payment: E2E_PAYMENT_CHANNELS and E2E_PAYMENT_CHANNEL_KEYS.
e2e_start_paysim() {
  PAYSIM_MCHID_SIM=1900000001 PAYSIM_MCHID_SM2=1900000002
  PAYSIM_KEY_SIM="$(openssl rand -hex 32)" PAYSIM_KEY_SM2="$(openssl rand -hex 32)"
  mkdir -p "$E2E_TMP/paysim"
  # a port free when chosen can be taken by a parallel test before the bind: the
  # simulator then exits at once ("paysim.bind_failed"), and another port is tried
  local port attempt _
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    PAYSIM="http://127.0.0.1:$port"
    YW_PAYSIM_LISTEN="127.0.0.1:$port" YW_PAYSIM_KEYS_DIR="$E2E_TMP/paysim" \
      YW_PAYSIM_MERCHANTS="sim=$PAYSIM_MCHID_SIM:$PAYSIM_KEY_SIM,sim-sm2=$PAYSIM_MCHID_SM2:$PAYSIM_KEY_SM2" \
      YW_PAYSIM_RETRY_MS="${PAYSIM_RETRY_MS:-100,200,400,800,1600}" \
      "$YW_BUILD_DIR/payment/yw-paysim" >"$E2E_TMP/paysim.log" 2>&1 &
    PAYSIM_PID=$!
    E2E_PIDS+=("$PAYSIM_PID")
    for _ in $(seq 100); do
      curl -fsS "$PAYSIM/healthz" >/dev/null 2>&1 && break
      kill -0 "$PAYSIM_PID" 2>/dev/null || break
      sleep 0.1
    done
    curl -fsS "$PAYSIM/healthz" >/dev/null 2>&1 && break
    grep -q '"paysim.bind_failed"' "$E2E_TMP/paysim.log" && ! kill -0 "$PAYSIM_PID" 2>/dev/null || break
  done
  curl -fsS "$PAYSIM/healthz" >/dev/null || { cat "$E2E_TMP/paysim.log"; return 1; }
  export E2E_PAYMENT_CHANNELS="sim=$PAYSIM/sim,sim-sm2=$PAYSIM/sim-sm2"
  export E2E_PAYMENT_CHANNEL_KEYS="sim=$PAYSIM_MCHID_SIM:$PAYSIM_KEY_SIM:$E2E_TMP/paysim/sim.pub.pem,sim-sm2=$PAYSIM_MCHID_SM2:$PAYSIM_KEY_SM2:$E2E_TMP/paysim/sim-sm2.pub.pem"
}

# Fault tests stop or restart PostgreSQL and Redis, so they run their own instead of the
# ones the other tests share. Call before e2e_database / e2e_start.

# Starts a private Redis; sets YW_TEST_REDIS_ADDR, REDIS_PORT and REDIS_PID.
# A staff account made with yw-identity's --create-staff, and its access token after a
# password login through the gateway (after e2e_start).
E2E_STAFF_PASSWORD="correct horse battery"
# The demo catalog's form and result sample PDFs (services/catalog/seed/gen_demo.py
# --files, as ./dev up stores them) that the items CODE... name in their guides, stored
# through POST /v1/item-files with TOKEN (a department or platform administrator's), ten
# a request: yw-catalog takes a new reference to a file only once the store holds it.
# Prints the HTTP status of each upload.
e2e_item_files() { # e2e_item_files TOKEN CODE...
  local token="$1" code sha shas=() args=()
  shift
  [ -d "$E2E_TMP/demo-files" ] ||
    /usr/bin/python3 "$YW_SOURCE_DIR/services/catalog/seed/gen_demo.py" -o /dev/null \
      --files "$E2E_TMP/demo-files" 2>/dev/null
  for code in "$@"; do
    shas+=($(curl -sS "$GW/v1/items/$code" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin).get("details", {})
print(" ".join([f[k]["sha256"] for f in d.get("forms", []) for k in ("blank", "sample") if k in f]
               + [r["sample"]["sha256"] for r in d.get("results", []) if "sample" in r]))'))
  done
  for sha in $(printf '%s\n' "${shas[@]}" | sort -u) ""; do
    [ -n "$sha" ] && args+=(-F "files=@$E2E_TMP/demo-files/$sha.pdf;type=application/pdf")
    if [ ${#args[@]} -ge 20 ] || { [ -z "$sha" ] && [ ${#args[@]} -gt 0 ]; }; then
      curl -sS -o /dev/null -w '%{http_code}\n' -X POST "$GW/v1/item-files" \
        -H "authorization: Bearer $token" "${args[@]}"
      args=()
    fi
  done
}

e2e_staff() { # e2e_staff USERNAME DEPARTMENT ROLES
  YW_STAFF_PASSWORD="$E2E_STAFF_PASSWORD" YW_ARGON2_FAST=1 \
    "$YW_BUILD_DIR/services/identity/yw-identity" --create-staff "$1" "$2" "$3" >/dev/null
}
# Roles with a second factor (platform_admin, finance, auditor): the first login enrols
# an authenticator (its secret and recovery codes kept in $E2E_TMP/totp.USERNAME.json)
# and logs in with its code; later logins use the next unused step, else a recovery code.
e2e_staff_token() { # e2e_staff_token USERNAME -> prints the access token
  /usr/bin/python3 - "$GW" "$1" "$E2E_STAFF_PASSWORD" "$E2E_TMP/totp.$1.json" <<'PY'
import base64, hashlib, hmac, json, os, struct, sys, time, urllib.error, urllib.request
gw, user, pw, keep = sys.argv[1:5]
def post(path, body):
    req = urllib.request.Request(gw + path, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
def code(secret, step):
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    h = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = h[-1] & 15
    return "%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000)
body = {"username": user, "password": pw}
st = json.load(open(keep)) if os.path.exists(keep) else None
if st is None:
    s, d = post("/v1/auth/sessions", body)
    if s == 401 and "totp-enrolments" in d.get("message", ""):
        s, e = post("/v1/auth/totp-enrolments", body)
        now = int(time.time()) // 30
        post("/v1/auth/totp-enrolments:confirm", dict(body, totpCode=code(e["secret"], now)))
        st = {"secret": e["secret"], "last": now, "recovery": e["recoveryCodes"]}
if st is not None:
    step = int(time.time()) // 30 + 1
    if step > st["last"]:
        s, d = post("/v1/auth/sessions", dict(body, totpCode=code(st["secret"], step)))
        st["last"] = step
    else:
        s, d = post("/v1/auth/sessions", dict(body, recoveryCode=st["recovery"].pop()))
    json.dump(st, open(keep, "w"))
print(d["accessToken"])
PY
}

e2e_private_redis() {
  REDIS_PORT="$(free_port)"
  mkdir -p "$E2E_TMP/redis"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$E2E_TMP/redis" --save "" \
    --appendonly no "$@" >"$E2E_TMP/redis/log" 2>&1 &
  REDIS_PID=$!
  E2E_PIDS+=("$REDIS_PID")
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export YW_TEST_REDIS_ADDR="127.0.0.1:$REDIS_PORT"
}

# Starts a private PostgreSQL cluster; sets YW_TEST_PG_PORT and E2E_PRIVATE_PG.
e2e_private_pg() {
  local port; port="$(free_port)"
  E2E_PRIVATE_PG="$E2E_TMP/pg"
  mkdir -p "$E2E_PRIVATE_PG"; chown postgres "$E2E_PRIVATE_PG"
  runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D "$E2E_PRIVATE_PG/data" -E UTF8 \
    --locale=C.UTF-8 -A trust -U postgres >/dev/null
  E2E_PRIVATE_PG_OPTS="-p $port -k $E2E_PRIVATE_PG -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off"
  e2e_pg_start
  export YW_TEST_PG_PORT="$port"
}
e2e_pg_start() {
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$E2E_PRIVATE_PG/data" -w \
    -l "$E2E_PRIVATE_PG/log" -o "$E2E_PRIVATE_PG_OPTS" start >/dev/null
}
e2e_pg_stop() { # e2e_pg_stop [fast|immediate]
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$E2E_PRIVATE_PG/data" \
    -m "${1:-fast}" -w stop >/dev/null
}

# Restarts the private PostgreSQL with pg_ctl restart (-m fast by default: sessions are
# ended, open transactions rolled back), so every process loses every connection at once.
e2e_pg_restart() { # e2e_pg_restart [fast|immediate]
  runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$E2E_PRIVATE_PG/data" -w \
    -l "$E2E_PRIVATE_PG/log" -o "$E2E_PRIVATE_PG_OPTS" -m "${1:-fast}" restart >/dev/null
}

# --- pages under web/ in a real browser (e2e_finance_console.sh, e2e_resident_pages.sh):
# headless Debian Chromium driven by a spec of tests/web through playwright-core.

# What a browser test needs: missing is a failure, never a skip (./dev test installs
# them: chromium, nodejs/npm, `npm ci` in tests/web). Sets WEB (tests/web).
e2e_browser_tools() { # e2e_browser_tools WHAT (named in the failure)
  WEB="$YW_SOURCE_DIR/tests/web"
  local missing=""
  command -v node >/dev/null 2>&1 || missing+=" node (Debian package nodejs)"
  [ -x /usr/bin/chromium ] || missing+=" /usr/bin/chromium (Debian package chromium)"
  [ -f "$WEB/node_modules/playwright-core/package.json" ] ||
    missing+=" playwright-core in tests/web/node_modules (cd tests/web && npm ci)"
  if [ -n "$missing" ]; then
    echo "FAIL $1's browser test cannot run: missing$missing; ./dev test installs them"
    exit 1
  fi
}

# The rules of a page folder under web/ (web/README.md), on the gateway that serves it at
# PREFIX: every asset named by the first 10 hex digits of its content's SHA-256
# (tests/web/rehash.js, so the year-long immutable caching never serves stale bytes) and
# used by index.html, one script and one style sheet; no inline script or style, no
# address of another origin (SVG's namespace name aside, which is never fetched), no
# HTML made from strings in the scripts; the assets sent as immutable, the page as
# no-cache with the CSP.
e2e_web_page() { # e2e_web_page DIR PREFIX   (PREFIX: "/" or "/finance/")
  E2E_WEB_DIR="$1" E2E_WEB_PREFIX="$2"
  check "the page's script and style sheet are named by their content hash" e2e_web_hashed
  check "no inline script or style, no external address, no HTML written from strings" e2e_web_no_inline
  check "the gateway sends the hashed assets as immutable" e2e_web_immutable
  check "the page itself is no-cache and carries the CSP" e2e_web_page_headers
}
e2e_web_hashed() {
  local f n want refs=0
  for f in "$E2E_WEB_DIR"/assets/*; do
    n="$(basename "$f")"
    want="$(sha256sum "$f" | cut -c1-10)"
    [[ "$n" == *".$want."* ]] ||
      { echo "  $n: content hash is $want (node tests/web/rehash.js ${E2E_WEB_DIR#"$YW_SOURCE_DIR"/})"; return 1; }
    grep -q "\"${E2E_WEB_PREFIX}assets/$n\"" "$E2E_WEB_DIR/index.html" || { echo "  $n is not used by index.html"; return 1; }
    refs=$((refs + 1))
  done
  [ "$refs" = 2 ] || { echo "  expected one script and one style sheet, found $refs files"; return 1; }
}
e2e_web_no_inline() {
  local urls
  urls="$(grep -Eohi 'https?://[^"'"'"' )]+' "$E2E_WEB_DIR/index.html" "$E2E_WEB_DIR"/assets/* || true)"
  ! grep -Eqi '<script>|<script [^>]*>[^<]|<style|style=| on[a-z]+=' "$E2E_WEB_DIR/index.html" &&
    [ -z "$(grep -vx 'http://www.w3.org/2000/svg' <<<"$urls")" ] &&
    ! grep -Eq 'innerHTML|outerHTML|insertAdjacentHTML|document\.write' "$E2E_WEB_DIR"/assets/*.js
}
e2e_web_immutable() {
  local n
  for n in $(grep -o "${E2E_WEB_PREFIX}assets/[^\"]*" "$E2E_WEB_DIR/index.html"); do
    curl -sS -o /dev/null -D "$E2E_TMP/web-headers" "$GW$n"
    grep -qi '^cache-control: public, max-age=31536000, immutable' "$E2E_TMP/web-headers" || return 1
  done
}
e2e_web_page_headers() {
  local s
  s="$(curl -sS -o /dev/null -D "$E2E_TMP/web-headers" -w '%{http_code}' "$GW$E2E_WEB_PREFIX")"
  [ "$s" = 200 ] && grep -qi '^cache-control: no-cache' "$E2E_TMP/web-headers" &&
    grep -qi "^content-security-policy: default-src 'self'; script-src 'self'; style-src 'self'" "$E2E_TMP/web-headers"
}

# Runs tests/web/SPEC with the environment given (NAME=VALUE ...) and YW_OUT, bounded by
# 300 s; prints its log, counts its `ok`/`FAIL` lines into this test's and checks that
# it ran to its end. Its screenshots and downloads are in $E2E_TMP/browser.
e2e_browser_run() { # e2e_browser_run SPEC [NAME=VALUE...]
  local spec="$1" out="$E2E_TMP/browser" rc; shift
  mkdir -p "$out"
  set +e
  (cd "$WEB" && env YW_OUT="$out" "$@" timeout 300 node "$spec") >"$out/spec.log" 2>&1
  rc=$?
  set -e
  cat "$out/spec.log"
  E2E_PASSES=$((E2E_PASSES + $(grep -c '^ok ' "$out/spec.log" || true)))
  E2E_FAILS=$((E2E_FAILS + $(grep -c '^FAIL ' "$out/spec.log" || true)))
  check "the browser test ran to its end (exit $rc)" test "$rc" = 0
}
