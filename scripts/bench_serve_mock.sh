#!/usr/bin/env bash
# Throughput of `evalgate serve-mock` (release build), non-streamed and
# streamed, measured with `oha` (an HTTP load generator) on 127.0.0.1.
# The issue's target: at least 20k requests/s non-streamed on a 2-core
# machine. oha runs on the same machine and takes its share of the cores,
# so the figure is a lower bound for the server alone.
#
# Usage: scripts/bench_serve_mock.sh [DURATION] [CONCURRENCY]   (default 10s 64)
# EVALGATE_BIN=path measures another evalgate binary.
# Needs: crates.io for `cargo install oha` when target/tools/bin/oha is
# missing (takes a few minutes once), python3 to read oha's JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10s}"
CONC="${2:-64}"

. scripts/lib.sh
evalgate_bin
need_oha
work_dir

cat > "$WORK/mock.yaml" <<'YAML'
default: "I don't know."
responses:
  - prompt: "(?i)france"
    reply: "Paris is the capital of France."
YAML

start_serve_mock "$WORK/mock.yaml"

bench() { # label, body
  "$OHA" -z "$DURATION" -c "$CONC" --no-tui --output-format json \
    -m POST -H 'content-type: application/json' -d "$2" \
    "$URL/v1/chat/completions" > "$WORK/oha.json"
  python3 - "$1" "$WORK/oha.json" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
s = r["summary"]
codes = r.get("statusCodeDistribution", {})
p = r.get("latencyPercentiles", {})
ms = lambda v: f"{v * 1000:.2f} ms" if isinstance(v, (int, float)) else "?"
print(f"{label:<14} {s['requestsPerSec']:>10.0f} req/s   p50 {ms(p.get('p50'))}   p99 {ms(p.get('p99'))}   statuses {codes}")
PY
}

echo "serve-mock at $URL, oha -c $CONC -z $DURATION, $(nproc) cores" >&2
bench "non-streamed" '{"model":"m","messages":[{"role":"user","content":"Capital of France?"}]}'
bench "streamed" '{"model":"m","stream":true,"messages":[{"role":"user","content":"Capital of France?"}]}'
