"""A deliberately vulnerable (or safe) HTTP target for evalgate's tests.

    python3 vulnerable_target.py --mode vulnerable|safe [--key KEY] [--port 0]

Listens on 127.0.0.1 (port 0: any free port) and prints the port on stdout.
It exits when its stdin closes (the test that started it went away).

Routes:
- POST /v1/chat/completions: OpenAI-shaped, a non-streamed answer with usage;
- POST /chat: a plain app, {"message": "...", "system": "..."} → {"reply": "..."}.

What the "model" says comes from `vulnerable_chat.answer(system, user, safe)`.

Vulnerable mode: accepts missing and wrong keys, never rate-limits, reads
bodies of any size, and answers malformed JSON, a wrong content type, missing
fields and any crash of the model with a 500 and the Python traceback.

Safe mode: requires `Authorization: Bearer <key>` (401 JSON otherwise),
rate-limits each route (more than 20 requests within 1 s: 429 with
`Retry-After: 1`),
refuses bodies over 1 MiB with 413 from Content-Length alone (the body is
discarded, never parsed), answers malformed JSON with 400, a wrong content
type with 415 and missing fields with 422, all with JSON error bodies.

Python 3 standard library only.
"""

import argparse
import json
import os
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vulnerable_chat  # noqa: E402

MAX_BODY = 1 << 20
RATE_LIMIT = 20  # requests
RATE_WINDOW = 1.0  # seconds
ROUTES = ("/v1/chat/completions", "/chat")


class Limiter:
    """Requests accepted within the last window, per route (a sliding window)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.times = {}

    def allow(self, route):
        now = time.monotonic()
        with self.lock:
            times = [t for t in self.times.get(route, []) if now - t < RATE_WINDOW]
            self.times[route] = times
            if len(times) >= RATE_LIMIT:
                return False
            times.append(now)
            return True


class ClientError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vulnerable-target/1"

    def log_message(self, fmt, *args):  # quiet: the tests read stdout
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    # -- responses ---------------------------------------------------------

    def send(self, status, body, content_type="application/json", headers=None):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, status, obj, headers=None):
        self.send(status, json.dumps(obj), headers=headers)

    def error_json(self, status, code, message, headers=None):
        self.send_json(status, {"error": {"type": code, "message": message}}, headers)

    def traceback_500(self):
        self.send(500, traceback.format_exc(), content_type="text/plain; charset=utf-8")

    # -- requests ----------------------------------------------------------

    def do_GET(self):
        if self.path == "/health":
            self.send_json(200, {"ok": True})
        else:
            self.error_json(404, "not_found", "no such route")

    def do_POST(self):
        if self.path not in ROUTES:
            self.error_json(404, "not_found", "no such route")
            return
        if self.server.safe:
            self.safe_post()
        else:
            self.vulnerable_post()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def vulnerable_post(self):
        # No key check, no rate limit, no size limit: everything is read and
        # every error is the server's own 500 with its traceback.
        raw = self.read_body()
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if content_type == "application/json":
                body = json.loads(raw.decode("utf-8"))
            else:  # "form data": whatever it holds, the fields are not there
                body = urllib.parse.parse_qs(raw.decode("utf-8"))
            system, user = self.turn(body)
            text = vulnerable_chat.answer(system, user, False)
        except Exception:
            self.traceback_500()
            return
        self.answer(text)

    def safe_post(self):
        length_text = self.headers.get("Content-Length")
        try:
            length = int(length_text) if length_text is not None else 0
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self.error_json(400, "invalid_request", "invalid Content-Length")
            return
        auth = self.headers.get("Authorization", "")
        if auth != "Bearer " + self.server.key:
            self.discard(length)
            self.error_json(401, "unauthorized", "a valid API key is required",
                            {"WWW-Authenticate": "Bearer"})
            return
        if not self.server.limiter.allow(self.path):
            self.discard(length)
            self.error_json(429, "rate_limited", "too many requests", {"Retry-After": "1"})
            return
        if length > MAX_BODY:
            # Refused from the header alone; the body is discarded after the
            # answer (lingering close), never parsed.
            self.close_connection = True
            self.error_json(413, "payload_too_large",
                            "the body is %d bytes, at most %d are accepted" % (length, MAX_BODY),
                            {"Connection": "close"})
            self.discard(length)
            return
        raw = self.rfile.read(length) if length > 0 else b""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if content_type != "application/json":
                raise ClientError(415, "unsupported_media_type", "send application/json")
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise ClientError(400, "invalid_json", "the body is not valid JSON")
            if not isinstance(body, dict):
                raise ClientError(400, "invalid_request", "the body must be a JSON object")
            system, user = self.turn(body, strict=True)
            try:
                text = vulnerable_chat.answer(system, user, True)
            except Exception:
                raise ClientError(400, "invalid_request", "the message could not be processed")
        except ClientError as e:
            self.error_json(e.status, e.code, e.message)
            return
        self.answer(text)

    def discard(self, length):
        """Read and drop up to `length` bytes (bounded in time), so the client
        sees the answer instead of a reset."""
        deadline = time.monotonic() + 5
        try:
            self.connection.settimeout(2)
            while length > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read(min(length, 65536))
                if not chunk:
                    break
                length -= len(chunk)
        except OSError:
            pass

    def turn(self, body, strict=False):
        """(system, user) of a request body; a missing field raises."""
        if self.path == "/chat":
            if strict and not isinstance(body.get("message"), str):
                raise ClientError(422, "missing_field", "`message` (a string) is required")
            return body.get("system"), body["message"]
        messages = body.get("messages") if strict else body["messages"]
        if strict and (not isinstance(messages, list) or not messages):
            raise ClientError(422, "missing_field", "`messages` (a non-empty list) is required")
        system = "\n".join(m.get("content", "") for m in messages if m.get("role") == "system")
        user = "\n".join(m["content"] for m in messages if m.get("role") != "system")
        return (system or None), user

    def answer(self, text):
        if self.path == "/chat":
            self.send_json(200, {"reply": text})
            return
        words = len(text.split())
        self.send_json(200, {
            "id": "chatcmpl-target",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "target-model",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": 5, "completion_tokens": words, "total_tokens": 5 + words},
        })


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["vulnerable", "safe"], required=True)
    parser.add_argument("--key", default="test-key")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    ThreadingHTTPServer.request_queue_size = 128  # bursts of 16 connections at once
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.safe = args.mode == "safe"
    server.key = args.key
    server.limiter = Limiter()
    print(server.server_address[1], flush=True)

    def lifeline():
        try:
            sys.stdin.read()
        finally:
            os._exit(0)

    threading.Thread(target=lifeline, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
