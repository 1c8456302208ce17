#!/usr/bin/env bash
# Throughput and memory at scale: runs N cases (a JSONL dataset) against the
# in-process mock provider with every report enabled, and prints cases/s and
# peak RSS for each N. Usage: scripts/bench_scale.sh [N ...]   (default: 10000 100000)
# EVALGATE_BIN=path/to/evalgate measures that binary instead of building this
# tree (to compare two versions side by side in one session).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
evalgate_bin
work_dir
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(10000 100000)

scale_project

printf '%-8s %10s %10s %12s %10s\n' cases seconds cases/s peak_rss_mb report_mb
for n in "${sizes[@]}"; do
  scale_data "$n"
  rm -rf "$WORK/reports"
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$WORK/rss" "$BIN" run --config "$WORK/evalgate.yaml" --quiet > /dev/null
  end=$(date +%s.%N)
  rss_kb=$(tail -1 "$WORK/rss")
  secs=$(python3 -c "print(f'{$end-$start:.2f}')")
  rate=$(python3 -c "print(f'{$n/($end-$start):.0f}')")
  report=$(du -sm "$WORK/reports" | cut -f1)
  printf '%-8s %10s %10s %12s %10s\n' "$n" "$secs" "$rate" "$((rss_kb / 1024))" "$report"
done
