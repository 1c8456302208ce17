# shellcheck shell=bash
# Shared set-up of the benchmark scripts: source it after `cd` to the
# repository root (`. scripts/lib.sh`).

# BIN: $EVALGATE_BIN when set (to measure another build), else a release
# build of this tree.
evalgate_bin() {
  if [ -n "${EVALGATE_BIN:-}" ]; then
    BIN="$EVALGATE_BIN"
  else
    echo "building evalgate (release)..." >&2
    cargo build --release --quiet
    BIN="$PWD/target/release/evalgate"
  fi
}

# OHA: the oha load generator, installed into target/tools from crates.io
# when missing (a few minutes once).
need_oha() {
  OHA="$PWD/target/tools/bin/oha"
  if [ ! -x "$OHA" ]; then
    echo "installing oha into target/tools (cargo install oha --locked; a few minutes once)..." >&2
    cargo install oha --locked --root "$PWD/target/tools" --quiet
  fi
}

# WORK: a scratch directory removed on exit, with the server started by
# start_serve_mock stopped.
SERVER_PID=""
work_dir() {
  WORK="$(mktemp -d)"
  trap 'if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi; rm -rf "$WORK"' EXIT
}

# Start `evalgate serve-mock --responses FILE [ARGS...]` on a free port of
# 127.0.0.1; URL: its address, SERVER_PID: its process.
start_serve_mock() {
  local responses="$1"
  shift
  "$BIN" serve-mock --responses "$responses" --port 0 --seed 1 "$@" > "$WORK/addr" &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    [ -s "$WORK/addr" ] && break
    sleep 0.05
  done
  URL="$(sed -n 's/^listening on //p' "$WORK/addr")"
  [ -n "$URL" ] || { echo "serve-mock printed no address" >&2; exit 3; }
}

# The mock-path workload in $WORK (scripts/bench_scale.sh and
# scripts/bench_run_overhead.sh): a JSONL dataset, the in-process mock,
# three checks per case, every report, concurrency 16.
scale_project() {
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
}

# N rows of that dataset.
scale_data() {
  python3 - "$1" > "$WORK/data.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": f"c{i}", "country": "France"}))
PY
}
