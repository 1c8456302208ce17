#!/usr/bin/env bash
# Per-event harness overhead on a stream: `evalgate serve-mock --stamp-events`
# writes each event's send time (a `: sent_us=` comment line) and evalgate
# reports, per answer, the percentiles of the delay from each token event's
# send to its being parsed (`event_delay` in the JSON report): loopback,
# HTTP client, SSE parser and evalgate's event handling. The server spaces
# the events (--token-delay, default 1 ms) so the figure is the cost of one
# event, not a queue of events sent at once.
#
# Usage: scripts/bench_stream_overhead.sh [ANSWERS] [WORDS] [TOKEN_DELAY_MS]
#        (default 20 answers of 1,000 words, 1 ms apart)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-20}"; WORDS="${2:-1000}"; GAP="${3:-1}"
cargo build --release --quiet
BIN="$PWD/target/release/evalgate"
WORK="$(mktemp -d)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
python3 - "$WORK" "$N" "$WORDS" <<'PY'
import sys, pathlib
work, n, words = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
(work / "mock.yaml").write_text('default: "' + " ".join(["word"] * words) + '"\nresponses: []\n')
(work / "suites").mkdir()
cases = "".join(f"  - {{id: a{i}, vars: {{i: {i}}}, checks: [{{contains: word}}]}}\n" for i in range(n))
(work / "suites" / "s.yaml").write_text(f'name: s\nprovider: api\nprompt: "Q {{{{ i }}}}"\ncases:\n{cases}')
PY
"$BIN" serve-mock --responses "$WORK/mock.yaml" --port 0 --stamp-events --token-delay "$GAP" > "$WORK/addr" 2>/dev/null &
PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/addr" ] && break; sleep 0.05; done
URL="$(sed -n 's/^listening on //p' "$WORK/addr")"
printf 'providers:\n  api: {type: openai, base_url: %s/v1, model: m, stream: true}\nreports: {json: report.json, junit: false, markdown: false}\n' "$URL" > "$WORK/evalgate.yaml"
(cd "$WORK" && "$BIN" run -j 1 --no-progress -q > /dev/null)
python3 - "$WORK/report.json" "$GAP" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d = [c["attempts"][0]["event_delay"] for c in r["results"]]
p50 = sorted(x["p50_ms"] for x in d); p99 = sorted(x["p99_ms"] for x in d); mx = max(x["max_ms"] for x in d)
n = sum(x["n"] for x in d)
print(f"{len(d)} answers, {n} stamped token events, events {sys.argv[2]} ms apart")
print(f"per-answer p50: {p50[0]:.3f}–{p50[-1]:.3f} ms; per-answer p99: {p99[0]:.3f}–{p99[-1]:.3f} ms; largest delay {mx:.3f} ms")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
