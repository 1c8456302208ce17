#!/usr/bin/env bash
# What cost, sampling and statistics add to a run without judges: a mock run
# of N cases (the scripts/bench_scale.sh project: a JSONL dataset, the
# in-process mock, every report) by two binaries, measured as
#   - instructions (callgrind `Ir`, whole process, -j 1): noise-free, on 10k cases;
#   - CPU user+sys seconds (GNU time), on 100k cases: noisy on a shared machine.
# Usage: scripts/bench_run_overhead.sh BEFORE_BIN AFTER_BIN [CALLGRIND_N] [CPU_N]
set -euo pipefail
BEFORE="$(realpath "$1")"
AFTER="$(realpath "$2")"
CG_N="${3:-10000}"
CPU_N="${4:-100000}"
cd "$(dirname "$0")/.."
. scripts/lib.sh
work_dir
scale_project
if command -v valgrind > /dev/null; then
  scale_data "$CG_N"
  printf '%-8s %-8s %16s\n' cases binary instructions
  for which in before after; do
    bin=$BEFORE; [ "$which" = after ] && bin=$AFTER
    rm -rf "$WORK/reports"
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
      "$bin" run --config "$WORK/evalgate.yaml" --quiet -j 1 > /dev/null 2> "$WORK/cg.err" || true
    ir=$(grep -E '^summary:|^totals:' "$WORK/cg.out" | head -1 | awk '{print $2}')
    printf '%-8s %-8s %16s\n' "$CG_N" "$which" "$ir"
  done
fi
scale_data "$CPU_N"
printf '%-8s %-8s %10s %10s\n' cases binary user_s sys_s
for _ in 1 2 3; do
  for which in before after; do
    bin=$BEFORE; [ "$which" = after ] && bin=$AFTER
    rm -rf "$WORK/reports"
    /usr/bin/time -f '%U %S' -o "$WORK/t" "$bin" run --config "$WORK/evalgate.yaml" --quiet > /dev/null || true
    read -r u s < "$WORK/t"
    printf '%-8s %-8s %10s %10s\n' "$CPU_N" "$which" "$u" "$s"
  done
done
