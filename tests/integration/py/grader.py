"""An OpenAI-shaped grader and embedder for evalgate's judge tests.

    python3 grader.py [--port 0] [--log requests.jsonl]

Listens on 127.0.0.1 (port 0: any free port) and prints the port on stdout.
It exits when its stdin closes (the test that started it went away).

Routes:
- POST /v1/chat/completions: the grader. What it answers is decided by a
  marker in the answer being graded (the text inside `<answer>…</answer>`,
  or `<new_answer>…</new_answer>` for a pairwise prompt):
    GRADE:pass / GRADE:fail       {"reasoning": …, "pass": true|false}
    GRADE:<n>                     {"reasoning": …, "score": n} (7 is outside [1, 5])
    GRADE:cycle(a,b,c)            the n-th request with this prompt gets the
                                  n-th grade (samples of one judge)
    GRADE:garbage                 prose, never a JSON object
    GRADE:garbage-once            prose first, a pass after the re-ask
    GRADE:slow                    sleeps 3 s before answering (a timeout)
  without a marker, the answer passes (the top score of a numeric scale
  asked for as "an integer from N to M"). A fenced ```json block is sent when
  the request carries no `response_format` (as a model without structured
  output would answer).
- POST /v1/embeddings: deterministic vectors: each word (lower-cased,
  letters and digits) adds 1 to one of 64 dimensions chosen by its MD5, so
  texts that share words are similar and identical texts have similarity 1.

Every request is appended to the log as one JSON line: path, body.
Python 3 standard library only.
"""

import argparse
import hashlib
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MARKER = re.compile(r"GRADE:(\S+)")
SECTION = re.compile(r"<(?:new_)?answer>(.*?)</(?:new_)?answer>", re.S)
DIMS = 64


def vector(text):
    v = [0.0] * DIMS
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        v[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMS] += 1.0
    return v


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            if self.server.log:
                with open(self.server.log, "a") as f:
                    f.write(json.dumps({"path": self.path, "body": body}) + "\n")
        if self.path == "/v1/embeddings":
            inputs = body.get("input", [])
            if isinstance(inputs, str):
                inputs = [inputs]
            words = sum(len(t.split()) for t in inputs)
            self.send_json(200, {
                "object": "list",
                "model": body.get("model"),
                "data": [{"object": "embedding", "index": i, "embedding": vector(t)}
                         for i, t in enumerate(inputs)],
                "usage": {"prompt_tokens": words, "total_tokens": words},
            })
        elif self.path == "/v1/chat/completions":
            self.grade(body)
        else:
            self.send_json(404, {"error": {"message": "no such route"}})

    def grade(self, body):
        messages = body.get("messages", [])
        prompt = messages[0]["content"] if messages else ""
        sections = SECTION.findall(prompt)
        graded = sections[-1] if sections else ""
        m = MARKER.search(graded)
        scale = re.search(r"an integer from (\d+) to (\d+)", prompt)
        # Without a marker the answer passes (the top of a numeric scale).
        marker = m.group(1) if m else (scale.group(2) if scale else "pass")
        reasking = len(messages) > 1
        with self.server.lock:
            n = self.server.seen.get(prompt, 0)
            if not reasking:
                self.server.seen[prompt] = n + 1
        cycle = re.fullmatch(r"cycle\(([^)]*)\)", marker)
        if cycle:
            items = cycle.group(1).split(",")
            marker = items[n % len(items)]
        if marker == "slow":
            time.sleep(3)
            marker = "pass"
        if marker == "garbage" or (marker == "garbage-once" and not reasking):
            content = "I would say this answer is pretty good overall."
        else:
            if marker in ("pass", "fail", "garbage-once"):
                grade = {"reasoning": "The marker says %s." % marker, "pass": marker != "fail"}
            else:
                grade = {"reasoning": "The marker says %s." % marker, "score": int(marker)}
            content = json.dumps(grade)
            if "response_format" not in body:
                content = "```json\n" + content + "\n```"
        self.send_json(200, {
            "id": "chatcmpl-grader",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 12,
                      "total_tokens": len(prompt.split()) + 12},
        })


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default="")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.seen = {}
    server.log = args.log
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # until the test goes away
    server.shutdown()


if __name__ == "__main__":
    main()
