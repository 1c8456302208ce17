#!/usr/bin/env bash
# What cost, sampling and statistics add to a run without judges: a mock run
# of N cases (the scripts/bench_scale.sh project: a JSONL dataset, the
# in-process mock, every report) by two binaries, measured as
#   - instructions (callgrind `Ir`, whole process, -j 1): noise-free, on 10k cases;
#   - CPU user+sys seconds (GNU time), on 100k cases: noisy on a shared machine.
# Usage: scripts/bench_run_overhead.sh BEFORE_BIN AFTER_BIN [CALLGRIND_N] [CPU_N]
set -euo pipefail
BEFORE="$1"
AFTER="$2"
CG_N="${3:-10000}"
CPU_N="${4:-100000}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
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
data() {
  python3 - "$1" > "$WORK/data.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": f"c{i}", "country": "France"}))
PY
}
if command -v valgrind > /dev/null; then
  data "$CG_N"
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
data "$CPU_N"
printf '%-8s %-8s %10s %10s\n' cases binary user_s sys_s
for round in 1 2 3; do
  for which in before after; do
    bin=$BEFORE; [ "$which" = after ] && bin=$AFTER
    rm -rf "$WORK/reports"
    /usr/bin/time -f '%U %S' -o "$WORK/t" "$bin" run --config "$WORK/evalgate.yaml" --quiet > /dev/null || true
    read -r u s < "$WORK/t"
    printf '%-8s %-8s %10s %10s\n' "$CPU_N" "$which" "$u" "$s"
  done
done
