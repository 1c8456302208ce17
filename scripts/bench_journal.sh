#!/usr/bin/env bash
# What the run journal (`evalgate run --resume`) costs on the mock path: the
# scripts/bench_scale.sh project (a JSONL dataset, the in-process mock, three
# checks per case) with --no-reports, run without a journal and with
# `--journal FILE`, measured as
#   - instructions (callgrind `Ir`, whole process, -j 1): noise-free, on 10k cases;
#   - CPU user+sys seconds (GNU time), on 100k cases, three runs alternated:
#     noisy on a shared machine.
# Usage: scripts/bench_journal.sh [CALLGRIND_N] [CPU_N]
# ($EVALGATE_BIN measures another binary.)
set -euo pipefail
CG_N="${1:-10000}"
CPU_N="${2:-100000}"
cd "$(dirname "$0")/.."
. scripts/lib.sh
evalgate_bin
work_dir
scale_project

# The run's arguments without and with the journal.
args() {
  echo run --config "$WORK/evalgate.yaml" --quiet --no-reports
  if [ "$1" = with ]; then echo --journal "$WORK/journal.jsonl"; fi
}

if command -v valgrind > /dev/null; then
  scale_data "$CG_N"
  printf '%-8s %-8s %16s\n' cases journal instructions
  for which in without with; do
    rm -f "$WORK/journal.jsonl"
    # shellcheck disable=SC2046
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
      "$BIN" $(args "$which") -j 1 > /dev/null 2> "$WORK/cg.err" || true
    ir=$(grep -E '^summary:|^totals:' "$WORK/cg.out" | head -1 | awk '{print $2}')
    printf '%-8s %-8s %16s\n' "$CG_N" "$which" "$ir"
  done
fi
scale_data "$CPU_N"
printf '%-8s %-8s %10s %10s %14s\n' cases journal user_s sys_s journal_bytes
for _ in 1 2 3; do
  for which in without with; do
    rm -f "$WORK/journal.jsonl"
    # shellcheck disable=SC2046
    /usr/bin/time -f '%U %S' -o "$WORK/t" "$BIN" $(args "$which") > /dev/null || true
    read -r u s < "$WORK/t"
    size=$(stat -c %s "$WORK/journal.jsonl" 2> /dev/null || echo 0)
    printf '%-8s %-8s %10s %10s %14s\n' "$CPU_N" "$which" "$u" "$s" "$size"
  done
done
