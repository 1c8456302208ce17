#!/usr/bin/env bash
# Harness overhead against a real HTTP endpoint: evalgate (release build)
# runs N cases through an `openai` provider against one fakellm server on
# 127.0.0.1, at concurrency 1 and 16, and `oha` (an HTTP load generator)
# sends the same number of requests with the same kind of body at the same
# concurrency to the same endpoint. Printed side by side: evalgate cases/s
# vs oha requests/s, their ratio, evalgate's mean request latency (from the
# JSON report) minus oha's = the harness's overhead per request, and
# evalgate's peak RSS.
#
# Usage: scripts/bench_endpoints.sh [N]        (default N=2000)
# Needs: Python 3 with venv and PyPI (fakellm, into target/tmp/venv-interop,
# the venv the interop tests use), crates.io for `cargo install oha` (into
# target/tools; without it the oha columns stay empty).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
N="${1:-2000}"
CONCURRENCY=(1 16)

echo "building evalgate (release)..." >&2
cargo build --release --quiet
BIN="$ROOT/target/release/evalgate"

# --- oha -------------------------------------------------------------------
OHA="$ROOT/target/tools/bin/oha"
if [ ! -x "$OHA" ]; then
  echo "installing oha into target/tools (cargo install oha --locked; takes a few minutes once)..." >&2
  if ! cargo install oha --locked --root "$ROOT/target/tools" --quiet; then
    echo "warning: oha could not be built; its columns will be empty" >&2
  fi
fi
[ -x "$OHA" ] || OHA=""

# --- fakellm (the same venv and pins as tests/integration/servers.rs) -------
VENV="$ROOT/target/tmp/venv-interop"
SPEC="fakellm==0.3.5 llmock==0.2.2"
if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$SPEC" ]; then
  mkdir -p "$(dirname "$VENV")"
  LOCK="$VENV.lock"
  until ( set -C; echo $$ > "$LOCK" ) 2>/dev/null; do sleep 0.5; done
  trap 'rm -f "$LOCK"' EXIT
  if [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$SPEC" ]; then
    echo "installing $SPEC into $VENV..." >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    # shellcheck disable=SC2086
    "$VENV/bin/pip" install --quiet --disable-pip-version-check $SPEC
    echo "$SPEC" > "$VENV/.installed"
  fi
  rm -f "$LOCK"
  trap - EXIT
fi

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat > "$WORK/fakellm.yaml" <<'YAML'
version: 1
rules:
  - name: capital
    when: {messages_contain: "capital"}
    respond: {content: "The capital of France is Paris."}
YAML
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$VENV/bin/fakellm" serve --host 127.0.0.1 --port "$PORT" --config "$WORK/fakellm.yaml" \
  > "$WORK/fakellm.log" 2>&1 &
SERVER_PID=$!
URL="http://127.0.0.1:$PORT/v1/chat/completions"
python3 - "$PORT" "$SERVER_PID" <<'PY' || { cat "$WORK/fakellm.log" >&2; exit 3; }
import json, os, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.time() + 20
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("fakellm exited")
    try:
        body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "warm-up: capital?"}]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body, {"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=2).read()
        break
    except Exception:
        if time.time() > deadline:
            sys.exit("fakellm did not answer within 20 s")
        time.sleep(0.1)
PY

# --- the project: N cases from a JSONL dataset -----------------------------
mkdir -p "$WORK/project/suites"
cat > "$WORK/project/evalgate.yaml" <<YAML
default_provider: fake
providers:
  fake:
    type: openai
    base_url: http://127.0.0.1:$PORT/v1
    model: gpt-4o-mini
    max_retries: 0
    timeout: 30s
reports: {junit: reports/junit.xml, json: reports/report.json, markdown: reports/summary.md}
YAML
cat > "$WORK/project/suites/bench.yaml" <<'YAML'
name: bench
prompt: "Case {{ n }}: what is the capital of {{ country }}?"
cases_from:
  path: data.jsonl
  checks:
    - contains: Paris
YAML
python3 - "$N" > "$WORK/project/data.jsonl" <<'PY'
import json, sys
for i in range(1, int(sys.argv[1]) + 1):
    print(json.dumps({"id": f"c{i:06d}", "n": i, "country": "France"}))
PY
# The body evalgate sends for case 1 (what oha sends N times).
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Case 1: what is the capital of France?"}]}'

# Wall clock without forking (bash 5), else date(1).
now() { if [ -n "${EPOCHREALTIME:-}" ]; then echo "${EPOCHREALTIME/,/.}"; else date +%s.%N; fi; }

# Peak RSS (KiB) of a command: /usr/bin/time -v when present, else polling
# VmHWM in /proc while it runs. Sets RSS_KB and CMD_RC.
run_measured() {
  local rssfile="$WORK/rss"
  CMD_RC=0
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -v -o "$rssfile" "$@" > "$WORK/stdout" 2> "$WORK/stderr" || CMD_RC=$?
    RSS_KB="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$rssfile")"
  else
    "$@" > "$WORK/stdout" 2> "$WORK/stderr" &
    local pid=$! peak=0 v
    while kill -0 "$pid" 2>/dev/null; do
      v="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
      [ -n "$v" ] && [ "$v" -gt "$peak" ] && peak="$v"
      sleep 0.02
    done
    wait "$pid" || CMD_RC=$?
    RSS_KB="$peak"
  fi
}

declare -A EG_RATE EG_MEAN EG_RSS EG_WALL OHA_RATE OHA_MEAN
for c in "${CONCURRENCY[@]}"; do
  echo "evalgate: $N cases at concurrency $c..." >&2
  rm -rf "$WORK/project/reports"
  start="$(now)"
  run_measured "$BIN" run --config "$WORK/project/evalgate.yaml" -j "$c" --quiet --no-progress
  end="$(now)"
  if [ "$CMD_RC" -ne 0 ]; then
    echo "evalgate exited $CMD_RC at concurrency $c:" >&2
    tail -20 "$WORK/stdout" "$WORK/stderr" >&2
    exit 1
  fi
  read -r passed mean < <(python3 - "$WORK/project/reports/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = [a["latency_ms"] for c in r["results"] for a in c["attempts"]]
print(r["summary"]["overall"]["passed"], f"{sum(lat) / len(lat):.3f}")
PY
)
  if [ "$passed" -ne "$N" ]; then
    echo "only $passed of $N cases passed at concurrency $c" >&2
    exit 1
  fi
  EG_WALL[$c]="$(python3 -c "print(f'{$end - $start:.2f}')")"
  EG_RATE[$c]="$(python3 -c "print(f'{$N / ($end - $start):.0f}')")"
  EG_MEAN[$c]="$mean"
  EG_RSS[$c]="$(python3 -c "print(f'{$RSS_KB / 1024:.1f}')")"

  OHA_RATE[$c]="-"; OHA_MEAN[$c]="-"
  if [ -n "$OHA" ]; then
    echo "oha: $N requests at concurrency $c..." >&2
    "$OHA" -n "$N" -c "$c" -m POST -T application/json -d "$BODY" \
      --no-tui --output-format json "$URL" > "$WORK/oha.json"
    read -r rate mean ok < <(python3 - "$WORK/oha.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s = r["summary"]
codes = r.get("statusCodeDistribution", {})
print(f"{s['requestsPerSec']:.0f}", f"{s['average'] * 1000:.3f}", codes.get("200", 0))
PY
)
    if [ "$ok" -ne "$N" ]; then
      echo "oha: only $ok of $N requests got 200 at concurrency $c" >&2
      exit 1
    fi
    OHA_RATE[$c]="$rate"; OHA_MEAN[$c]="$mean"
  fi
done

echo
echo "endpoint: fakellm 0.3.5 (1 worker) at $URL · N = $N · $(nproc) CPUs · evalgate release build, all reports written"
printf '%-5s %14s %12s %7s %16s %12s %13s %10s %8s\n' \
  conc "evalgate c/s" "oha req/s" ratio "evalgate mean" "oha mean" "overhead/req" "peak RSS" "wall"
for c in "${CONCURRENCY[@]}"; do
  ratio="-"; over="-"
  if [ "${OHA_RATE[$c]}" != "-" ]; then
    ratio="$(python3 -c "print(f'{${EG_RATE[$c]} / ${OHA_RATE[$c]}:.2f}')")"
    over="$(python3 -c "print(f'{${EG_MEAN[$c]} - ${OHA_MEAN[$c]}:+.3f} ms')")"
  fi
  printf '%-5s %14s %12s %7s %16s %12s %13s %10s %8s\n' "$c" "${EG_RATE[$c]}" "${OHA_RATE[$c]}" "$ratio" \
    "${EG_MEAN[$c]} ms" "${OHA_MEAN[$c]} ms" "$over" "${EG_RSS[$c]} MB" "${EG_WALL[$c]} s"
done
echo
echo "c/s, req/s: completed per second of wall time (evalgate's includes start-up, validation, checks and reports)."
echo "mean: per-request latency as the client measured it; overhead/req = evalgate's minus oha's."
