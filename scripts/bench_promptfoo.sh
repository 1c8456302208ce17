#!/usr/bin/env bash
# evalgate side by side with promptfoo (the Node eval tool, from npm) on the
# same workload: N cases, each the prompt "What is the capital of
# {{country}}?" with country=France, 2 checks (contains "Paris" and the regex
# `(?i)capital of \w+`), sent to evalgate's own `serve-mock` on 127.0.0.1
# (a fixed answer, "The capital of France is Paris."; a Rust server that
# answers in well under a millisecond, so it is not the bottleneck) at the
# same concurrency for both, both writing their reports (evalgate: JUnit +
# JSON + Markdown; promptfoo: `-o results.json`, plus the eval it records in
# its own SQLite database, its default, kept in a scratch PROMPTFOO_CONFIG_DIR
# that is reset to the same warmed-up state before every run). promptfoo runs
# with `--no-cache`, telemetry, update checks and sharing off, a dummy
# OPENAI_API_KEY, its `openai:chat:m` provider pointed at serve-mock's /v1.
#
# Each run is measured as a whole process (loading, the cases, the reports)
# with `/usr/bin/time -f '%e %U %S %M'`: wall time, CPU time (user+sys) and
# peak RSS. For promptfoo the peak RSS is that of the largest process in its
# tree as getrusage reports it (the node process; children are not summed).
# RUNS runs each, evalgate and promptfoo alternated; both must pass all N
# cases (evalgate's JSON report `summary.overall.passed`, promptfoo's
# results.json `results.stats.successes`) or the script fails. Prints per run
# cases/s (N / wall time), CPU seconds and peak RSS of each, the throughput
# ratio evalgate/promptfoo and the RSS ratio promptfoo/evalgate, then the
# ranges over the runs.
#
# JavaScript regexes (Node 20) have no inline `(?i)`, and promptfoo's `regex`
# assert takes no flags, so promptfoo gets the same case-insensitive pattern
# spelt out: `[cC][aA][pP][iI][tT][aA][lL] [oO][fF] \w+`.
#
# Usage: scripts/bench_promptfoo.sh [N[:RUNS] ...]
#        (default: 1000 10000; RUNS=3 runs each, `10000:1` runs that size once;
#        CONCURRENCY=8)
# EVALGATE_BIN=path measures another evalgate binary (serve-mock included).
# Needs: npm (Node >= 20.20) for `npm install promptfoo@PROMPTFOO_VERSION` into
# target/tools/promptfoo when it is missing (a couple of minutes once), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RUNS="${RUNS:-3}"
CONC="${CONCURRENCY:-8}"
# The newest promptfoo that still runs on Node 20 (0.122 and later need Node >= 22.22).
PROMPTFOO_VERSION="${PROMPTFOO_VERSION:-0.121.20}"
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(1000 10000)

. scripts/lib.sh
evalgate_bin
PF_DIR="$ROOT/target/tools/promptfoo"
PF="$PF_DIR/node_modules/.bin/promptfoo"
if [ ! -x "$PF" ] || [ "$("$PF" --version 2>/dev/null | tail -1)" != "$PROMPTFOO_VERSION" ]; then
  echo "installing promptfoo@$PROMPTFOO_VERSION into target/tools/promptfoo (npm; a couple of minutes once)..." >&2
  mkdir -p "$PF_DIR"
  npm install --prefix "$PF_DIR" --no-audit --no-fund --loglevel=error "promptfoo@$PROMPTFOO_VERSION" >&2
fi

work_dir

# promptfoo offline and without prompts: its state in the work dir, no
# telemetry, update check, sharing or remote generation; a dummy key.
export PROMPTFOO_CONFIG_DIR="$WORK/pfhome"
export PROMPTFOO_DISABLE_TELEMETRY=1 PROMPTFOO_DISABLE_UPDATE=1 PROMPTFOO_DISABLE_SHARING=1
export PROMPTFOO_DISABLE_SHARE_EMAIL_REQUEST=1 PROMPTFOO_DISABLE_REMOTE_GENERATION=1
export OPENAI_API_KEY=sk-dummy-for-serve-mock
unset OPENAI_BASE_URL OPENAI_API_BASE_URL OPENAI_API_HOST 2>/dev/null || true
PF_VERSION="$("$PF" --version 2>/dev/null | tail -1)"

cat > "$WORK/mock.yaml" <<'YAML'
responses: []
default: "The capital of France is Paris."
YAML
start_serve_mock "$WORK/mock.yaml"

# evalgate's project.
mkdir -p "$WORK/eg/suites"
cat > "$WORK/eg/evalgate.yaml" <<YAML
default_provider: fast
providers:
  fast: {type: openai, base_url: "$URL/v1", model: m, max_retries: 0}
reports: {junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}
YAML
cat > "$WORK/eg/suites/capital.yaml" <<'YAML'
name: capital
prompt: "What is the capital of {{ country }}?"
cases_from:
  path: data.jsonl
  checks:
    - contains: Paris
    - regex: "(?i)capital of \\w+"
YAML
# promptfoo's project: the same prompt and checks, the tests from a CSV.
mkdir -p "$WORK/pf"
cat > "$WORK/pf/promptfooconfig.yaml" <<YAML
description: capital
prompts:
  - "What is the capital of {{country}}?"
providers:
  - id: openai:chat:m
    config: {apiBaseUrl: "$URL/v1"}
defaultTest:
  assert:
    - {type: contains, value: Paris}
    - {type: regex, value: '[cC][aA][pP][iI][tT][aA][lL] [oO][fF] \\w+'}
tests: file://tests.csv
YAML

gen_cases() { # N: evalgate's data.jsonl and promptfoo's tests.csv, N cases each
  python3 - "$1" "$WORK" <<'PY'
import json, sys
n, work = int(sys.argv[1]), sys.argv[2]
with open(f"{work}/eg/data.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": f"c{i}", "country": "France"}) + "\n")
with open(f"{work}/pf/tests.csv", "w") as f:
    f.write("country\n" + "France\n" * n)
PY
}
run_evalgate() { # TIMEFILE
  rm -rf "$WORK/eg/reports"
  /usr/bin/time -f '%e %U %S %M' -o "$1" \
    "$BIN" run --config "$WORK/eg/evalgate.yaml" --concurrency "$CONC" --quiet > "$WORK/eg.log" 2>&1 \
    || { tail -20 "$WORK/eg.log" >&2; echo "evalgate run failed" >&2; exit 1; }
}
run_promptfoo() { # TIMEFILE
  rm -rf "$PROMPTFOO_CONFIG_DIR" "$WORK/pf/results.json"
  if [ -d "$WORK/pfhome.warm" ]; then cp -a "$WORK/pfhome.warm" "$PROMPTFOO_CONFIG_DIR"; fi
  (cd "$WORK/pf" && /usr/bin/time -f '%e %U %S %M' -o "$1" \
    "$PF" eval -c promptfooconfig.yaml --no-cache -j "$CONC" -o results.json \
      --no-table --no-progress-bar --no-share > "$WORK/pf.log" 2>&1) || {
    # promptfoo exits non-zero when a case fails; the check below says which.
    [ -s "$WORK/pf/results.json" ] || { tail -20 "$WORK/pf.log" >&2; echo "promptfoo run failed" >&2; exit 1; }
  }
}
check_passed() { # N: both passed all N cases, or fail loudly
  python3 - "$1" "$WORK" <<'PY'
import json, sys
n, work = int(sys.argv[1]), sys.argv[2]
s = json.load(open(f"{work}/eg/reports/report.json"))["summary"]["overall"]
if s["passed"] != n:
    sys.exit(f"evalgate passed {s['passed']} of {n} cases: {s}")
st = json.load(open(f"{work}/pf/results.json"))["results"]["stats"]
if st["successes"] != n or st["failures"] or st["errors"]:
    sys.exit(f"promptfoo passed {st['successes']} of {n} cases "
             f"({st['failures']} failed, {st['errors']} errors)")
PY
}

# Warm up both on 10 cases (page cache, promptfoo's database migrations), then
# keep promptfoo's warmed-up state to start every run from.
gen_cases 10
run_evalgate "$WORK/etime"
run_promptfoo "$WORK/ptime"
check_passed 10
cp -a "$PROMPTFOO_CONFIG_DIR" "$WORK/pfhome.warm"

echo "evalgate vs promptfoo $PF_VERSION (node $(node --version)): concurrency $CONC, $(nproc) cores, server serve-mock at $URL"
printf '%-7s %-3s %12s %10s %8s %12s %10s %8s %7s %9s\n' \
  cases run eval_cases/s eval_cpu_s eval_MB pf_cases/s pf_cpu_s pf_MB ratio rss_ratio
: > "$WORK/rows"
for spec in "${SIZES[@]}"; do
  n="${spec%%:*}"
  runs="$RUNS"
  [ "$spec" != "$n" ] && runs="${spec#*:}"
  gen_cases "$n"
  for r in $(seq 1 "$runs"); do
    run_evalgate "$WORK/etime"
    run_promptfoo "$WORK/ptime"
    check_passed "$n"
    python3 - "$n" "$r" "$WORK" >> "$WORK/rows" <<'PY'
import sys
n, r, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def tm(p):
    e, u, s, m = open(p).read().split()[-4:]
    return float(e), float(u) + float(s), int(m) / 1024
ew, ecpu, emb = tm(f"{work}/etime")
pw, pcpu, pmb = tm(f"{work}/ptime")
print(f"{n} {r} {n/ew:.0f} {ecpu:.2f} {emb:.1f} {n/pw:.1f} {pcpu:.2f} {pmb:.1f} {pw/ew:.1f} {pmb/emb:.1f}")
PY
    tail -1 "$WORK/rows" | awk '{printf "%-7s %-3s %12s %10s %8s %12s %10s %8s %7s %9s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10}'
  done
done
echo
echo "ranges (min–max over the runs); ratio = evalgate cases/s / promptfoo cases/s, rss_ratio = promptfoo peak RSS / evalgate's:"
python3 - "$WORK/rows" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for row in rows:
    by.setdefault(row[0], []).append([float(x) for x in row[2:]])
names = ["evalgate cases/s", "evalgate CPU s", "evalgate peak RSS MB", "promptfoo cases/s",
         "promptfoo CPU s", "promptfoo peak RSS MB", "throughput ratio", "RSS ratio"]
for n, vals in by.items():
    parts = []
    for i, name in enumerate(names):
        col = [v[i] for v in vals]
        parts.append(f"{name} {min(col):g}–{max(col):g}")
    print(f"N={n} ({len(vals)} runs): " + "; ".join(parts))
PY
