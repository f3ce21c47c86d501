#!/usr/bin/env bash
# bench/recon.sh - daily reconciliation of a 1,000,000-row channel statement: generate
# the statement and the platform's matching records, then time read + parse + summary
# check, matching (sort both sides, merge) and storing rows and results in PostgreSQL
# (COPY), beside a baseline measured in the same run: reading the same file and counting
# its lines (what `wc -l` does; `wc -l` itself is timed too). A second store of the same
# results shows a re-run stores nothing. Then the matched rows are settled in the ledger,
# settled again (nothing new), and the settlement reversed as when a corrected statement
# replaces this one.
#
# Storage goes to a database the script creates (and drops) on the PostgreSQL of
# `./dev up` (YW_BENCH_PG_DSN, default port 55432), the payment migrations applied by the
# program; without a reachable PostgreSQL the store and settle steps are skipped.
#
#   bench/recon.sh [-n ROWS]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N=1000000
while getopts n: o; do
  case $o in n) N=$OPTARG ;; *) exit 2 ;; esac
done
B="${YW_BENCH_BUILD:-$ROOT/build}"
BIN="$B/tests/yw-bench-recon"
[ -x "$BIN" ] || { echo "build first (./dev test builds $B): no $BIN" >&2; exit 1; }
DSN="${YW_BENCH_PG_DSN:-host=127.0.0.1 port=55432 dbname=yiwang user=postgres}"
DB="bench_recon_$$"
ARGS=(-n "$N")
if psql "$DSN" -qtAc "SELECT 1" >/dev/null 2>&1; then
  psql "$DSN" -qc "CREATE DATABASE $DB" >/dev/null
  BDSN="$(echo "$DSN" | sed "s/dbname=[^ ]*/dbname=$DB/")"
  ARGS+=(-d "$BDSN")
else
  echo "(no PostgreSQL at $DSN: store steps skipped)"
fi
TMPD="$(mktemp -d)"
trap 'rm -rf "$TMPD"; psql "$DSN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1' EXIT
"$BIN" "${ARGS[@]}" -o "$TMPD/statement.csv"
TIMEFORMAT='%R'
T=$( { time wc -l <"$TMPD/statement.csv" >/dev/null; } 2>&1)
printf 'baseline wc -l over the same file       %8.2f s\n' "$T"
