"""A slow OpenAI-shaped chat endpoint that logs every request, for the
tests of `evalgate run --resume`.

    python3 slow_chat.py [--port 0] --log requests.jsonl [--delay-ms 100]

Listens on 127.0.0.1 (port 0: any free port), prints the port on the first
line of stdout, and exits when its stdin closes. Every request waits
--delay-ms before it is answered and is appended to the log (one JSON line:
path, body, and the Authorization header) as it arrives.

POST /v1/chat/completions answers:
- a grading prompt (one with `<answer>…</answer>`, as evalgate's `judge`
  sends): {"reasoning": …, "pass": …}, a fail when the graded answer says
  WRONG (fenced in ```json when the request has no `response_format`);
- anything else: "Answer to: <the last user message>", and with `echo-key`
  in it the request's Authorization header too (a server that leaks the
  credential it was sent).
Usage is always 10 prompt and 5 completion tokens.
Python 3 standard library only.
"""

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECTION = re.compile(r"<answer>(.*?)</answer>", re.S)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        auth = self.headers.get("Authorization") or ""
        with self.server.lock:
            with open(self.server.log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"path": self.path, "body": body, "auth": auth}) + "\n")
        time.sleep(self.server.delay)
        messages = body.get("messages", [])
        first = (messages[0].get("content") or "") if messages else ""
        sections = SECTION.findall(first)
        if sections:
            grade = {"reasoning": "graded", "pass": "WRONG" not in sections[-1]}
            content = json.dumps(grade)
            if "response_format" not in body:
                content = "```json\n" + content + "\n```"
        else:
            users = [m.get("content") or "" for m in messages if m.get("role") == "user"]
            last = users[-1] if users else ""
            content = "Answer to: " + last
            if "echo-key" in last:
                content += " (you sent " + auth + ")"
        reply = {
            "id": "chatcmpl-slow",
            "object": "chat.completion",
            "model": body.get("model") or "slow-1",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--delay-ms", type=float, default=100.0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.log = args.log
    server.delay = args.delay_ms / 1000.0
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Stop when the test that started us goes away.
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
