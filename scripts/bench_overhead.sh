#!/usr/bin/env bash
# The cost of one case, side by side with oha: evalgate runs N dataset cases
# (2 checks, JUnit + JSON + Markdown reports written) against `serve-mock`
# on 127.0.0.1 at concurrency 1, 8 and 32, and oha sends the same request
# N times at the same concurrency, alternated, RUNS times each. Prints per
# run: evalgate cases/s (N / wall time of the whole process, loading and
# reports included), oha requests/s, the ratio, both p50 latencies (evalgate's
# from its JSON report, oha's from its own), oha's p50 when it sends at
# evalgate's rate (`oha -q`: the latency-honesty comparison, same load on the
# server), CPU time per case/request (user+sys of the process / N), then the
# ranges over the runs.
#
# Then the streamed case: STREAM_N answers of 1,000 words, one event per
# word (plus role, finish and usage events), at concurrency 1, evalgate's
# p50 latency (its `latency_ms`: until the last event is parsed) against
# oha's p50 for the same request read to its end, and the difference per
# event.
#
# Usage: scripts/bench_overhead.sh [N] [RUNS] [CONCURRENCY ...]
#        (default: 20000 3 1 8 32; STREAM_N=2000 streamed answers, 0 skips)
# EVALGATE_BIN=path measures another evalgate binary (serve-mock included).
# Needs: crates.io for `cargo install oha` when target/tools/bin/oha is
# missing (a few minutes once), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-20000}"
RUNS="${2:-3}"
shift $(( $# > 2 ? 2 : $# ))
CONCS=("$@")
[ ${#CONCS[@]} -eq 0 ] && CONCS=(1 8 32)

. scripts/lib.sh
evalgate_bin
need_oha
work_dir

# A fixed answer: the server does as little as it can per request.
WORDS="$(python3 -c "print(' '.join('word%d' % (i % 10) for i in range(1000)))")"
cat > "$WORK/mock.yaml" <<YAML
responses:
  - prompt: "^Stream a long answer"
    reply: "$WORDS"
default: "The capital of France is Paris."
YAML
start_serve_mock "$WORK/mock.yaml"

mkdir -p "$WORK/project/suites"
cat > "$WORK/project/evalgate.yaml" <<YAML
default_provider: fast
providers:
  fast: {type: openai, base_url: "$URL/v1", model: m, max_retries: 0}
reports: {junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}
YAML
cat > "$WORK/project/suites/overhead.yaml" <<'YAML'
name: overhead
prompt: "What is the capital of {{ country }}?"
cases_from:
  path: data.jsonl
  checks:
    - contains: Paris
    - regex: "(?i)capital of \\w+"
YAML
python3 - "$N" > "$WORK/project/data.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": f"c{i}", "country": "France"}))
PY
# The body evalgate sends for these cases, byte for byte.
BODY='{"model":"m","messages":[{"role":"user","content":"What is the capital of France?"}]}'

# Warm up both (first connections, page cache).
"$OHA" -n 2000 -c 8 --no-tui --output-format json -m POST -H 'content-type: application/json' \
  -d "$BODY" "$URL/v1/chat/completions" > /dev/null

echo "evalgate vs oha: $N requests per run, $RUNS runs, $(nproc) cores, server serve-mock at $URL" >&2
printf '%-4s %-3s %12s %12s %7s %12s %12s %14s %10s %10s\n' \
  c run eval_cases/s oha_req/s ratio eval_p50_ms oha_p50_ms oha_p50_at_rate eval_us/case oha_us/req
for c in "${CONCS[@]}"; do
  for r in $(seq 1 "$RUNS"); do
    rm -rf "$WORK/project/reports"
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/etime" \
      "$BIN" run --config "$WORK/project/evalgate.yaml" --concurrency "$c" --quiet > /dev/null
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/otime" \
      "$OHA" -n "$N" -c "$c" --no-tui --output-format json -m POST \
      -H 'content-type: application/json' -d "$BODY" "$URL/v1/chat/completions" > "$WORK/oha.json"
    # oha at evalgate's rate: the same load on the server, for the p50 comparison.
    RATE=$(python3 -c "import sys; e=open('$WORK/etime').read().split(); print(int($N/float(e[-4])))")
    "$OHA" -n "$N" -c "$c" -q "$RATE" --no-tui --output-format json -m POST \
      -H 'content-type: application/json' -d "$BODY" "$URL/v1/chat/completions" > "$WORK/oha_rate.json"
    python3 - "$c" "$r" "$N" "$WORK" >> "$WORK/rows" <<'PY'
import json, sys
c, r, n, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def tm(p):
    e, u, s, m = open(p).read().split()[-4:]
    return float(e), float(u) + float(s)
ew, ecpu = tm(f"{work}/etime")
ow, ocpu = tm(f"{work}/otime")
rep = json.load(open(f"{work}/project/reports/report.json"))
s = rep["summary"]
assert s["overall"]["passed"] == n, s["overall"]
ep50 = s["latency"]["overall"]["latency"]["p50_ms"]
o = json.load(open(f"{work}/oha.json"))
codes = o.get("statusCodeDistribution", {})
assert codes == {"200": n}, codes
op50 = o["latencyPercentiles"]["p50"] * 1000
orate = o["summary"]["requestsPerSec"]
erate = n / ew
q = json.load(open(f"{work}/oha_rate.json"))
assert q.get("statusCodeDistribution", {}) == {"200": n}, q.get("statusCodeDistribution")
qp50 = q["latencyPercentiles"]["p50"] * 1000
print(f"{c} {r} {erate:.0f} {orate:.0f} {erate/orate:.3f} {ep50:.3f} {op50:.3f} {qp50:.3f} {ecpu/n*1e6:.1f} {ocpu/n*1e6:.1f}")
PY
    tail -1 "$WORK/rows" | awk '{printf "%-4s %-3s %12s %12s %7s %12s %12s %14s %10s %10s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10}'
  done
done
echo
echo "ranges over $RUNS runs (min–max):"
python3 - "$WORK/rows" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for row in rows:
    by.setdefault(row[0], []).append([float(x) for x in row[2:]])
names = ["evalgate cases/s", "oha req/s", "ratio", "evalgate p50 ms", "oha p50 ms",
         "oha p50 ms at evalgate's rate", "evalgate us/case", "oha us/req"]
for c, vals in by.items():
    parts = []
    for i, name in enumerate(names):
        col = [v[i] for v in vals]
        parts.append(f"{name} {min(col):g}–{max(col):g}")
    print(f"c={c}: " + "; ".join(parts))
PY

STREAM_N="${STREAM_N:-2000}"
[ "$STREAM_N" -gt 0 ] || exit 0
mkdir -p "$WORK/stream/suites"
cat > "$WORK/stream/evalgate.yaml" <<YAML
default_provider: streamed
providers:
  streamed: {type: openai, base_url: "$URL/v1", model: m, stream: true, max_retries: 0}
reports: {junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}
YAML
cat > "$WORK/stream/suites/stream.yaml" <<'YAML'
name: stream
prompt: "Stream a long answer."
cases_from:
  path: data.jsonl
  checks:
    - contains: word9
    - length: {min_words: 1000}
YAML
python3 - "$STREAM_N" > "$WORK/stream/data.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": f"s{i}"}))
PY
SBODY='{"model":"m","messages":[{"role":"user","content":"Stream a long answer."}],"stream":true,"stream_options":{"include_usage":true}}'
echo
echo "streamed: $STREAM_N answers of 1,000 words (1,003 events) at concurrency 1"
printf '%-3s %12s %12s %7s %14s\n' run eval_p50_ms oha_p50_ms ratio us/event_extra
for r in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/stream/reports"
  "$BIN" run --config "$WORK/stream/evalgate.yaml" --concurrency 1 --quiet > /dev/null
  "$OHA" -n "$STREAM_N" -c 1 --no-tui --output-format json -m POST \
    -H 'content-type: application/json' -d "$SBODY" "$URL/v1/chat/completions" > "$WORK/oha_stream.json"
  python3 - "$r" "$STREAM_N" "$WORK" >> "$WORK/srows" <<'PY'
import json, sys
r, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rep = json.load(open(f"{work}/stream/reports/report.json"))
s = rep["summary"]
assert s["overall"]["passed"] == n, s["overall"]
ep50 = s["latency"]["overall"]["latency"]["p50_ms"]
o = json.load(open(f"{work}/oha_stream.json"))
assert o.get("statusCodeDistribution", {}) == {"200": n}, o.get("statusCodeDistribution")
op50 = o["latencyPercentiles"]["p50"] * 1000
print(f"{r} {ep50:.3f} {op50:.3f} {ep50/op50:.3f} {(ep50-op50)*1000/1003:.3f}")
PY
  tail -1 "$WORK/srows" | awk '{printf "%-3s %12s %12s %7s %14s\n", $1,$2,$3,$4,$5}'
done
python3 - "$WORK/srows" <<'PY'
import sys
rows = [[float(x) for x in l.split()[1:]] for l in open(sys.argv[1]) if l.strip()]
names = ["evalgate p50 ms", "oha p50 ms", "ratio", "extra us/event"]
print("streamed: " + "; ".join(f"{n} {min(r[i] for r in rows):g}–{max(r[i] for r in rows):g}" for i, n in enumerate(names)))
PY
