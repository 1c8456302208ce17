#!/usr/bin/env bash
# `evalgate bench` against `oha` (a raw HTTP load generator), both against
# one `evalgate serve-mock` on 127.0.0.1, in one run on one machine:
#
# 1. closed loop at concurrency 1, 8 and 32 (evalgate -j N, oha -c N) with
#    the server answering after a fixed 10 ms, and again with no server
#    delay (the client's own overhead): requests/s, p50 and p99, and the
#    ratios evalgate / oha;
# 2. open loop at a fixed rate (evalgate --rate R, oha -q R
#    --latency-correction);
# 3. coordinated omission: the server stalls 1 s every 10 s; open loop at
#    50 req/s against closed loop with one worker, for 20 s each. The
#    expected open-loop p99 is 1000 · (1 − 0.01 / 0.1) = 900 ms (a tenth of
#    the sends wait a uniform share of a 1 s stall; see the derivation in
#    tests/integration/bench.rs); a closed loop sees each stall once per
#    worker and reports a p99 near the server's normal latency.
#
# evalgate goes through its `openai` provider (JSON request built, answer
# parsed, usage read); oha sends the same body and reads nothing. Every
# figure comes with the load average at the end of the run.
#
# Usage: scripts/bench_latency.sh [SECONDS]   (default 5 per measurement)
# Needs: crates.io for `cargo install oha` when target/tools/bin/oha is
# missing (a few minutes once), python3 to read the JSON reports.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SECS="${1:-5}"

echo "building evalgate (release)..." >&2
cargo build --release --quiet
BIN="$ROOT/target/release/evalgate"

OHA="$ROOT/target/tools/bin/oha"
if [ ! -x "$OHA" ]; then
  echo "installing oha into target/tools (cargo install oha --locked; takes a few minutes once)..." >&2
  cargo install oha --locked --root "$ROOT/target/tools" --quiet
fi

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/mock.yaml" <<'YAML'
default: "I don't know."
responses:
  - prompt: "(?i)france"
    reply: "Paris is the capital of France."
YAML
mkdir -p "$WORK/suites"
cat > "$WORK/suites/geo.yaml" <<'YAML'
name: geo
prompt: "Capital of France?"
cases:
  - {id: france, checks: [{contains: Paris}]}
YAML
BODY='{"model":"m","messages":[{"role":"user","content":"Capital of France?"}]}'

serve() { # name, serve-mock flags... → sets URL_<name>
  local name="$1"; shift
  "$BIN" serve-mock --responses "$WORK/mock.yaml" --port 0 --seed 1 "$@" > "$WORK/addr-$name" 2>/dev/null &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    [ -s "$WORK/addr-$name" ] && break
    sleep 0.05
  done
  local url
  url="$(sed -n 's/^listening on //p' "$WORK/addr-$name")"
  [ -n "$url" ] || { echo "serve-mock printed no address" >&2; exit 3; }
  printf -v "URL_$name" '%s' "$url"
}

serve delay --latency 10
serve none
serve stall --pause-every 10s --pause-for 1s

cat > "$WORK/evalgate.yaml" <<YAML
suites: [suites/*.yaml]
providers:
  delay: {type: openai, base_url: "$URL_delay/v1", model: m}
  none: {type: openai, base_url: "$URL_none/v1", model: m}
  stall: {type: openai, base_url: "$URL_stall/v1", model: m}
YAML

ev() { # label, provider, bench flags...
  local label="$1" provider="$2"; shift 2
  (cd "$WORK" && "$BIN" bench --provider "$provider" --no-progress \
    --json "$WORK/ev-$label.json" --markdown "$WORK/ev-$label.md" \
    --junit "$WORK/ev-$label.xml" --svg "$WORK/ev-$label.svg" "$@" > "$WORK/ev-$label.txt") || true
}
oh() { # label, url, oha flags...
  local label="$1" url="$2"; shift 2
  "$OHA" --no-tui --output-format json -m POST -H 'content-type: application/json' -d "$BODY" \
    "$@" "$url/v1/chat/completions" > "$WORK/oha-$label.json"
}

echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for server in delay none; do
  url_var="URL_$server"
  for c in 1 8 32; do
    ev "$server-c$c" "$server" -j "$c" --duration "${SECS}s" --warmup 1s
    oh "$server-c$c" "${!url_var}" -c "$c" -z "$((SECS + 1))s"
  done
done
ev rate delay --rate 200 --duration "${SECS}s" --warmup 1s
oh rate "$URL_delay" -q 200 --latency-correction -c 64 -z "$((SECS + 1))s"
ev co-open stall --rate 50 --duration 20s
ev co-closed stall -j 1 --duration 20s
oh co-closed "$URL_stall" -c 1 -z 20s
oh co-open "$URL_stall" -q 50 --latency-correction -c 100 -z 20s
LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$WORK" "$LOAD" <<'PY'
import json, os, sys
work, load = sys.argv[1], sys.argv[2]
def ev(label):
    v = json.load(open(os.path.join(work, f"ev-{label}.json")))
    p = v["providers"][0]
    return p["requests_per_s"], p["latency_ms"]["p50"], p["latency_ms"]["p99"], v["valid"], p["requests"]
def oh(label):
    r = json.load(open(os.path.join(work, f"oha-{label}.json")))
    p = r["latencyPercentiles"]
    return r["summary"]["requestsPerSec"], p["p50"] * 1000, p["p99"] * 1000
print(f"load average at the end: {load}")
print()
print("| server | load | evalgate req/s | oha req/s | ratio | p50 evalgate / oha | ratio | p99 evalgate / oha | ratio |")
print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
rows = [(s, f"c{c}", f"closed, {c} worker{'s' if c > 1 else ''}") for s in ("delay", "none") for c in (1, 8, 32)]
rows.append(("delay", "rate", "open, 200 req/s"))
for server, key, what in rows:
    label = f"{server}-{key}" if key != "rate" else "rate"
    er, e50, e99, valid, _ = ev(label)
    orr, o50, o99 = oh(label)
    name = "10 ms" if server == "delay" else "none"
    flag = "" if valid else " (invalid: late sends)"
    print(f"| {name} | {what}{flag} | {er:,.0f} | {orr:,.0f} | {er / orr:.2f} | {e50:.2f} / {o50:.2f} ms | {e50 / o50:.3f} | {e99:.2f} / {o99:.2f} ms | {e99 / o99:.3f} |")
print()
expected = 1000 * (1 - 0.01 / 0.1)
er, e50, e99, valid, n = ev("co-open")
print(f"coordinated omission (1 s stall every 10 s, 20 s):")
print(f"  evalgate open loop 50 req/s: p99 {e99:.0f} ms (expected {expected:.0f} ms, {e99 / expected - 1:+.1%}), {n} requests{'' if valid else ', INVALID (late sends)'}")
er, e50, e99, valid, n = ev("co-closed")
print(f"  evalgate closed loop, 1 worker: p99 {e99:.1f} ms, {n} requests (the under-report)")
orr, o50, o99 = oh("co-open")
print(f"  oha -q 50 --latency-correction: p99 {o99:.0f} ms")
orr, o50, o99 = oh("co-closed")
print(f"  oha -c 1: p99 {o99:.1f} ms")
PY
echo
echo "evalgate console, open loop at 200 req/s:"
cat "$WORK/ev-rate.txt"
