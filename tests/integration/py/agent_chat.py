"""An OpenAI-shaped chat endpoint that plays a support agent with tools.

Serves POST /v1/chat/completions on 127.0.0.1 (the port is printed on the
first line of stdout; `--port 0` picks a free one) and appends every request
body, as one JSON line, to the file given with `--log`, so tests can check
the messages a client sent.

The "model" answers from the last message:
- a `tool` message: it reads the tool's JSON result and reports the order's
  status ("Order 1182 has shipped ...");
- a user message asking for a refund of order N: it calls `get_order`
  with {"order": N};
- a user message asking for a human: it calls `escalate`;
- anything else: "How can I help?".
It exits when its stdin closes.
"""

import argparse
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def answer(messages):
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        result = json.loads(last.get("content") or "{}")
        order = result.get("order", "?")
        return f"Order {order} has {result.get('status', 'an unknown status')}: a refund needs a return first.", []
    text = last.get("content") or ""
    m = re.search(r"refund for order (\d+)", text, re.I)
    if m:
        return "", [("get_order", {"order": int(m.group(1))})]
    if re.search(r"human|person", text, re.I):
        return "Connecting you to a person.", [("escalate", {"reason": "customer asked"})]
    return "How can I help?", []


class Handler(BaseHTTPRequestHandler):
    log_path = None
    lock = threading.Lock()
    calls = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with Handler.lock:
            Handler.calls += 1
            n = Handler.calls
            with open(Handler.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(body) + "\n")
        text, calls = answer(body.get("messages", []))
        message = {"role": "assistant", "content": text or None}
        if calls:
            message["tool_calls"] = [
                {"id": f"call_{n}_{i}", "type": "function",
                 "function": {"name": name, "arguments": json.dumps(args)}}
                for i, (name, args) in enumerate(calls, 1)
            ]
        reply = {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "model": "agent-1",
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log", required=True)
    a = p.parse_args()
    Handler.log_path = a.log
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
