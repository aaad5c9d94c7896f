"""A webhook receiver, run as a process of its own: it checks each request's signature as the README says a
receiver should (standard library only, nothing of Vigia's), answers with the statuses it is told, and appends
every request, verdict included, to a JSON-lines file.

    python webhook_receiver.py --port P --secret S --log requests.jsonl [--statuses 500,500] [--delay 0]

`--statuses`: the answers to the first requests, in order; 200 after them. It prints "ready" once it listens.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300


def verified(secret: str, timestamp: str | None, body: bytes, signature: str | None) -> bool:
    if not timestamp or not signature or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_S:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--statuses", default="")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    statuses = [int(s) for s in args.statuses.split(",") if s]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ok = verified(args.secret, self.headers.get("X-Vigia-Timestamp"), body, self.headers.get("X-Vigia-Signature"))
            time.sleep(args.delay)
            with lock:
                status = statuses.pop(0) if statuses else 200
                if not ok:
                    status = 401
                with open(args.log, "a") as log:
                    log.write(json.dumps({"path": self.path, "status": status, "verified": ok,
                                          "headers": dict(self.headers), "body": body.decode()}) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"no")

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
