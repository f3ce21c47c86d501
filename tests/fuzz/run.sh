#!/usr/bin/env bash
# run.sh - fuzzes one target for a while: run.sh BINARY TARGET SECONDS WORKDIR
#
# New inputs go to WORKDIR/corpus/TARGET (kept between runs, never the source tree);
# the seeds in tests/fuzz/corpus/TARGET are read, not written. A failing input is left
# in WORKDIR/artifacts/ and its path printed: copy it into tests/fuzz/corpus/TARGET/ as
# a regression (replayed by ctest in every build) and fix the code.
set -euo pipefail
bin="$1" target="$2" seconds="$3" work="$4"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$work/corpus/$target" "$work/artifacts"
args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536
  -print_final_stats=1 -artifact_prefix="$work/artifacts/$target-")
[ -f "$here/dict/$target.dict" ] && args+=(-dict="$here/dict/$target.dict")
log="$work/$target.log"
rc=0
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  "$bin" "${args[@]}" "$work/corpus/$target" "$here/corpus/$target" >"$log" 2>&1 || rc=$?
# the figures: executions, coverage, corpus
last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
execs="$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)"
echo "fuzz $target: ${seconds}s, ${execs:-?} executions; last status: ${last:-none}"
if [ "$rc" != 0 ]; then
  tail -60 "$log"
  echo "fuzz $target FAILED; the input is in $work/artifacts/ (copy it to tests/fuzz/corpus/$target/)"
fi
exit "$rc"
