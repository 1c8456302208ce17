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

cat > "$WORK/evalgate.yaml" <<'YAML'
default_provider: mock
concurrency: 16
providers:
  mock: {type: mock, responses: mock.yaml}
reports: {junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}
YAML
cat > "$WORK/mock.yaml" <<'YAML'
responses:
  - prompt: "capital of France"
    reply: "The capital of France is Paris."
default: "The capital of France is Paris. (default)"
YAML
mkdir -p "$WORK/suites"
cat > "$WORK/suites/scale.yaml" <<'YAML'
name: scale
prompt:
  system: "Answer in one sentence."
  user: "Question {{ id }}: what is the capital of {{ country }}?"
cases_from:
  path: data.jsonl
  checks:
    - contains: Paris
    - regex: "(?i)capital of \\w+"
    - length: {max_words: 40}
YAML

printf '%-8s %10s %10s %12s %10s\n' cases seconds cases/s peak_rss_mb report_mb
for n in "${sizes[@]}"; do
  python3 - "$n" > "$WORK/data.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": f"c{i}", "country": "France"}))
PY
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
