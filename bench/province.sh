#!/usr/bin/env bash
# bench/province.sh - keyword search (GET /v1/items?q=...) and the guide
# (GET /v1/items/{code}) through the real gateway, on province-sized catalogs beside the
# 523-item demo, in one run on one machine.
#
# The script runs its own PostgreSQL 15 (fsync off) and Redis, never the demo's
# database: `yw_demo` holds the demo seed; `yw_prov_N` holds the demo seed plus the
# province bench/gen_province.py generates (Jiangsu's 13 cities, 95 counties and 1,235
# towns implementing the demo's basic items) cut at N items, loaded with COPY and a few
# INSERT ... SELECT statements. The data directory is kept between runs
# (YW_BENCH_PG_DIR), so the catalogs are loaded once (17 minutes for 300,000 items
# on 2 loaded cores); `-r` drops and loads them again.
#
# Each database gets its own yw-catalog (read cache off, so every search reaches
# PostgreSQL) and its own yw-gateway (2 workers), started here with the same settings;
# h2load then sends the same requests to each in turn: 10 clients x 5 streams (50
# concurrent), one h2load thread, cycling through a fixed list of searches (single
# words, words with a place, two words) or through 200 item codes of that catalog.
# The searches run twice: over the whole catalog (no place), and as a resident of one
# town sends them from the app (place=YW_BENCH_PLACE, default 320706001, a town of
# 海州区: the items of that town, 海州区, 连云港市 and the province); then the place
# searches once more through a second yw-catalog and yw-gateway per database with the
# production settings (the catalog's read cache, 60 s in Redis, and the gateway's answer
# cache, 2 s in each worker, renewed in the background), each query kept once first;
# then, through those, a mix as residents send it (YW_BENCH_WORDS distinct queries, Zipf)
# from the place and over the whole catalog, and the guides. The lines after the table
# say how many answers of each production pass came from the gateway's cache and how
# many from the catalog (its /metrics).
#
#   bench/province.sh [-n REQUESTS] [-s "SIZES"] [-r] [-e]
#     -s  catalog sizes (default "10000 100000 300000")
#     -r  reload the catalogs
#     -e  also print EXPLAIN ANALYZE of the search SQL (one word, two words) at each size
#   YW_BENCH_BUILD   build directory with yw-catalog and yw-gateway (default build)
#   YW_BENCH_SHARED_BUFFERS  PostgreSQL's shared_buffers (default 2GB)
#   YW_BENCH_WORDS   distinct queries of the mix (default 300)
#   YW_BENCH_MIX     requests in the mix's list (default 4000)
# A catalog loaded by an earlier run is brought to the current schema first
# (yw-catalog --migrate-only: migration 010 takes minutes at 300,000 items).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=10000 C=10 M=5 SIZES="10000 100000 300000" RELOAD=0 EXPLAIN=0
while getopts n:s:re o; do
  case $o in n) N=$OPTARG ;; s) SIZES=$OPTARG ;; r) RELOAD=1 ;; e) EXPLAIN=1 ;; *) exit 2 ;; esac
done
BUILD="${YW_BENCH_BUILD:-$ROOT/build}"
PGBIN=/usr/lib/postgresql/15/bin
PGDIR="${YW_BENCH_PG_DIR:-/var/tmp/yw-bench-province}"
# the 300,000-item catalog is 1.7 GB with its indexes: room for what search and the
# guide read, as a database server of a province would have
SHARED_BUFFERS="${YW_BENCH_SHARED_BUFFERS:-2GB}"
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -f "$TMP/redis.pid" ] && kill "$(cat "$TMP/redis.pid")" 2>/dev/null
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
for b in services/catalog/yw-catalog gateway/yw-gateway; do
  [ -x "$BUILD/$b" ] || { echo "no $BUILD/$b: build first (or set YW_BENCH_BUILD)" >&2; exit 1; }
done
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# PostgreSQL and Redis of the bench's own
PGPORT="$(free_port)"
mkdir -p "$PGDIR"
chown postgres "$PGDIR"
[ -f "$PGDIR/data/PG_VERSION" ] ||
  runuser -u postgres -- "$PGBIN/initdb" -D "$PGDIR/data" -E UTF8 --locale=C.UTF-8 -A trust -U postgres >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDIR/data" -w -l "$PGDIR/log" \
  -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off \
      -c shared_buffers=$SHARED_BUFFERS" start >/dev/null
RPORT="$(free_port)"
redis-server --port "$RPORT" --bind 127.0.0.1 --daemonize yes --dir "$TMP" --pidfile "$TMP/redis.pid" \
  --logfile "$TMP/redis.log" --save "" --appendonly no >/dev/null
for _ in $(seq 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
export YW_CALLER_KEY="$(openssl rand -hex 32)" YW_REDIS_ADDR="127.0.0.1:$RPORT" YW_TLS_CA= YW_TLS_CERT= YW_TLS_KEY=
sql() { psql -h 127.0.0.1 -p "$PGPORT" -U postgres -qAtX -v ON_ERROR_STOP=1 "$@"; }

# a database with the schema and the demo seed, and the province cut at SIZE items
load() { # load DB [SIZE]
  local db="$1"
  if [ "$RELOAD" = 0 ] && [ "$(sql -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" = 1 ] &&
    [ "$(sql -d "$db" -c "SELECT count(*) FROM catalog.items" 2>/dev/null)" = "${2:-523}" ]; then
    return 0
  fi
  echo "(loading $db)" >&2
  sql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  YW_PG_DSN="host=127.0.0.1 port=$PGPORT dbname=$db user=postgres" "$BUILD/services/catalog/yw-catalog" --migrate-only
  sql -d "$db" -f "$ROOT/services/catalog/seed/demo.sql" >/dev/null
  if [ -n "${2:-}" ]; then
    local t0=$SECONDS
    /usr/bin/python3 "$ROOT/bench/gen_province.py" | sql -d "$db" -v items="$2" >/dev/null
    echo "(loaded $db: $(sql -d "$db" -c "SELECT count(*) FROM catalog.items") items in $((SECONDS - t0)) s)" >&2
  else
    sql -d "$db" -c "VACUUM ANALYZE" >/dev/null
  fi
}
DBS=(yw_demo)
load yw_demo
for s in $SIZES; do load "yw_prov_$s" "$s"; DBS+=("yw_prov_$s"); done
for db in "${DBS[@]}"; do
  t0=$SECONDS
  YW_PG_DSN="host=127.0.0.1 port=$PGPORT dbname=$db user=postgres" YW_LOG_LEVEL=warn \
    "$BUILD/services/catalog/yw-catalog" --migrate-only
  [ $((SECONDS - t0)) -lt 5 ] || echo "(migrated $db in $((SECONDS - t0)) s)" >&2
done

# a yw-catalog and a yw-gateway per database, same settings: the catalog's read cache
# and the gateway's answer cache off (every search reaches PostgreSQL), and a second
# pair with the production settings (the catalog's answers kept 60 s in Redis, the
# gateway's 2 s in each worker) for the last passes
declare -A GW
start_pair() { # start_pair DB KEY CACHE_TTL_S GATEWAY_CACHE_BYTES
  local cport gport
  cport="$(free_port)" gport="$(free_port)"
  YW_CATALOG_LISTEN="127.0.0.1:$cport" YW_PG_DSN="host=127.0.0.1 port=$PGPORT dbname=$1 user=postgres" \
    YW_CATALOG_CACHE_TTL_S="$3" YW_REDIS_PREFIX="$2" YW_LOG_LEVEL=warn \
    "$BUILD/services/catalog/yw-catalog" >"$TMP/catalog-$2.log" 2>&1 &
  PIDS+=("$!")
  YW_GATEWAY_LISTEN="127.0.0.1:$gport" YW_GATEWAY_TLS_LISTEN= YW_UPSTREAM_CATALOG="127.0.0.1:$cport" \
    YW_UPSTREAM_IDENTITY="127.0.0.1:1" YW_UPSTREAM_FEED="127.0.0.1:1" YW_REDIS_PREFIX="$2" \
    YW_GATEWAY_THREADS=2 YW_LOG_LEVEL=warn YW_GATEWAY_RATE_IP=10000000 YW_GATEWAY_BURST_IP=10000000 \
    YW_GATEWAY_CACHE_BYTES="$4" "$BUILD/gateway/yw-gateway" >"$TMP/gateway-$2.log" 2>&1 &
  PIDS+=("$!")
  GW[$2]="http://127.0.0.1:$gport"
}
for db in "${DBS[@]}"; do
  start_pair "$db" "$db" 0 0
  start_pair "$db" "$db-cached" 60 16777216
done
for key in "${!GW[@]}"; do
  for _ in $(seq 150); do
    curl -fsS "${GW[$key]}/v1/items?q=x&pageSize=1" >/dev/null 2>&1 && break
    sleep 0.2
  done
  curl -fsS "${GW[$key]}/v1/items?q=x&pageSize=1" >/dev/null || {
    echo "the processes for $key did not start"; tail -n 20 "$TMP"/*-"$key".log; exit 1; }
done

# the searches: the same list at every size (words a resident types, with a place or not)
QUERIES=(身份证 社保 营业执照 医保 公积金 户口 出生 结婚 退休 驾驶证 不动产 残疾
  "社保 海州" "身份证 东海" "营业执照 连云港" "医保 南京" "户口 江宁" "公积金 苏州"
  "出生 医学证明" "个体工商户 设立" "养老保险 转移" "居住证")
# and, for a mix as residents send it, YW_BENCH_WORDS queries (default 300): the 22 above
# and words of the demo's keywords in a fixed order (the same list at every size), each
# sent less often the further down the list it is (Zipf, weight 1/rank), in a list of
# YW_BENCH_MIX requests (default 4,000) that h2load walks
printf '%s\n' "${QUERIES[@]}" >"$TMP/queries"
sql -d yw_demo -c "SELECT DISTINCT w FROM catalog.items, regexp_split_to_table(keywords, '\s+') w
                   WHERE char_length(w) >= 2 ORDER BY w" >>"$TMP/queries"
/usr/bin/python3 - "$TMP/queries" "${YW_BENCH_MIX:-4000}" "$TMP" "${YW_BENCH_WORDS:-300}" <<'PY'
import random, sys, urllib.parse
src, n, tmp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seen, words = set(), []
for w in open(src, encoding="utf-8"):
    w = w.strip()
    if w and w not in seen:
        seen.add(w)
        words.append(w)
head, rest = words[:22], words[22:]
random.Random(7).shuffle(rest)
words = head + rest[:max(0, int(sys.argv[4]) - 22)]
def path(q):
    return "/v1/items?q=" + urllib.parse.quote(q) + "&pageSize=10"
with open(tmp + "/search.paths", "w") as f:  # the 22, once each
    f.writelines(path(q) + "\n" for q in head)
with open(tmp + "/all.paths", "w") as f:  # every query of the mix, once each
    f.writelines(path(q) + "\n" for q in words)
rng = random.Random(11)
mix = rng.choices(words, weights=[1 / (i + 1) for i in range(len(words))], k=n)
with open(tmp + "/mix.paths", "w") as f:
    f.writelines(path(q) + "\n" for q in mix)
print(f"(the mix: {len(words)} distinct queries, {n} requests, the top 22 are "
      f"{sum(q in set(head) for q in mix) * 100 // n}% of them)", file=sys.stderr)
PY
PLACE="${YW_BENCH_PLACE:-320706001}"
for f in search all mix; do sed "s|\$|\&place=$PLACE|" "$TMP/$f.paths" >"$TMP/place-$f.paths"; done
cp "$TMP/place-search.paths" "$TMP/place.paths"

printf '%-44s %10s %9s %9s %7s\n' scenario req/s p50_ms p99_ms errors
run() { # run NAME PATHS DB [REQUESTS]
  sed "s|^|${GW[$3]}|" "$2" >"$TMP/uris"
  rm -f "$TMP/log" # h2load appends to its log file
  h2load -n "${4:-$N}" -c "$C" -m "$M" -t 1 --log-file="$TMP/log" -i "$TMP/uris" >"$TMP/out" 2>&1 || true
  /usr/bin/python3 "$ROOT/bench/h2load_summary.py" "$1" "$TMP/out" "$TMP/log" | tee -a "$TMP/results"
}
name_of() { [ "$1" = yw_demo ] && echo "demo (523)" || echo "province ${1#yw_prov_}"; }
# the guides first: a search that overruns the gateway's deadline leaves its query running
for db in "${DBS[@]}"; do
  sql -d "$db" -c "SELECT '/v1/items/' || impl_code FROM catalog.items WHERE status = 'published'
                   ORDER BY md5(impl_code) LIMIT 200" >"$TMP/guide.paths"
  run "guide $(name_of "$db")" "$TMP/guide.paths" "$db"
done
for db in "${DBS[@]}"; do
  run "search $(name_of "$db")" "$TMP/search.paths" "$db"
done
for db in "${DBS[@]}"; do
  run "place search $(name_of "$db")" "$TMP/place.paths" "$db"
done
# production settings: the same searches, answered from the gateway's answer cache
# once each query's first answer is kept (22 queries; each worker asks the catalog
# again every 2 s, which answers from its read cache); ten times the requests, so that
# the misses are not the p99
# the steady state: each worker has kept every query's answer once before the measure
# (a read of an answer not kept waits for the catalog, as the passes above show)
# (h2load's clients each walk the list from its start: ten clients, the list ten times,
# so that both workers have seen every query)
warm() { # warm PATHS DB
  sed "s|^|${GW[$2]}|" "$1" >"$TMP/uris"
  h2load -n $((10 * $(wc -l <"$1"))) -c 10 -m 1 -t 1 -i "$TMP/uris" >/dev/null 2>&1 || true
}
# the answer cache's hits and misses during a run, from the gateway's /metrics
cache_count() { # cache_count KEY hit|miss
  curl -fsS "${GW[$1]}/metrics" | awk -v r="result=\"$2\"" 'index($0, "yw_gateway_cache_requests_total{" r "}") == 1 { print $2 }'
}
cached_run() { # cached_run NAME PATHS KEY REQUESTS
  local h0 m0
  h0="$(cache_count "$3" hit)" m0="$(cache_count "$3" miss)"
  run "$1" "$2" "$3" "$4"
  echo "  ($1: $(($(cache_count "$3" hit) - h0)) answered from the cache," \
    "$(($(cache_count "$3" miss) - m0)) from the catalog)" >>"$TMP/misses"
}
for db in "${DBS[@]}"; do
  warm "$TMP/search.paths" "$db-cached"
  warm "$TMP/place.paths" "$db-cached"
done
for db in "${DBS[@]}"; do
  cached_run "cached search $(name_of "$db")" "$TMP/search.paths" "$db-cached" $((N * 10))
done
for db in "${DBS[@]}"; do
  cached_run "cached place search $(name_of "$db")" "$TMP/place.paths" "$db-cached" $((N * 10))
done
# the residents' mix (the 22 and every keyword of the demo, Zipf), from a place and over
# the whole catalog, each query kept once by both workers first; and the guides
for db in "${DBS[@]}"; do
  warm "$TMP/place-all.paths" "$db-cached"
  warm "$TMP/all.paths" "$db-cached"
  sql -d "$db" -c "SELECT '/v1/items/' || impl_code FROM catalog.items WHERE status = 'published'
                   ORDER BY md5(impl_code) LIMIT 200" >"$TMP/guide.paths"
  warm "$TMP/guide.paths" "$db-cached"
  cached_run "cached mix place search $(name_of "$db")" "$TMP/place-mix.paths" "$db-cached" $((N * 10))
  cached_run "cached mix search $(name_of "$db")" "$TMP/mix.paths" "$db-cached" $((N * 10))
  cached_run "cached guide $(name_of "$db")" "$TMP/guide.paths" "$db-cached" $((N * 10))
done
echo "requests=$N clients=$C streams/client=$M concurrent=$((C * M)) cores=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$TMP/results" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    parts = line.split()
    name = " ".join(parts[:-4])
    rows[name] = (float(parts[-3]), float(parts[-2]))
for kind in ("search", "place search", "cached search", "cached place search",
             "cached mix place search", "cached mix search", "guide", "cached guide"):
    base = rows.get(f"{kind} demo (523)")
    for name, (p50, p99) in rows.items():
        if not name.startswith(kind + " province") or base is None:
            continue
        ok = p99 < 20 and p50 <= 2 * base[0]
        print(f"{name:<30} p50 {p50 / base[0]:.2f}x the demo's, p99 {p99:.2f} ms"
              f"{'' if kind.endswith('guide') else ('  target met' if ok else '  target NOT met')}")
PY
cat "$TMP/misses"

if [ "$EXPLAIN" = 1 ]; then
  # the search SQL of services/catalog/catalog.c as the compiler sees it (its statements
  # are put together from macros): the compile command of catalog.c with -E
  sql_of() { # sql_of NAME
    /usr/bin/python3 - "$BUILD" "$1" <<'PY'
import json, re, shlex, subprocess, sys
build, name = sys.argv[1], sys.argv[2]
e = next(e for e in json.load(open(build + "/compile_commands.json"))
         if e["file"].endswith("services/catalog/catalog.c"))
args = shlex.split(e["command"]) if "command" in e else e["arguments"]
cmd, skip = [], False
for a in args:
    if skip or a == "-c" or a == e["file"]:
        skip = False
        continue
    if a == "-o":
        skip = True
        continue
    cmd.append(a)
pp = subprocess.run(cmd + ["-E", "-P", e["file"]], cwd=e["directory"], capture_output=True,
                    text=True, check=True).stdout
body = re.search(r'static const char ' + name + r'\[\] =\s*(.*?);\n', pp, re.S).group(1)
print("".join(bytes(s, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
              for s in re.findall(r'"((?:[^"\\]|\\.)*)"', body)))
PY
  }
  # ListItems' page one of a one-word query (its first statement) and of two words
  # (with a place, the plan a prepared statement settles on: generic, forced here)
  for probe in "SEARCH_HEAD_SQL 社保" "SEARCH_ALL_SQL 医保 南京" "PLACE_SEARCH_SQL 社保" \
    "PLACE_SEARCH_SQL 医保 南京"; do
    name="${probe%% *}" q="${probe#* }"
    SQL="$(sql_of "$name")"
    for db in "${DBS[@]}"; do
      echo "== EXPLAIN ANALYZE, $db, $name, q=$q"
      if [ "${name#PLACE_}" = "$name" ]; then
        sql -d "$db" -v sql="$SQL" -v q="$q" <<'PSQL'
PREPARE s(text, text, text, text, text, text, text, text, text, text, text) AS :sql;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE s(:'q', '', '', '', '', '', '', '0', '11', 'false', '0');
PSQL
      else
        sql -d "$db" -v sql="$SQL" -v q="$q" -v place="$PLACE" <<'PSQL'
SET plan_cache_mode = force_generic_plan;
PREPARE s(text, text, text, text, text, text, text, text, text, text, text, text) AS :sql;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE s(:'q', '', '', '', '', '', '', '0', '11', 'false', '0', :'place');
PSQL
      fi
    done
  done
fi
