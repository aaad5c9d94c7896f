"""A local stand-in for Expo's push API (https://docs.expo.dev/push-notifications/sending-notifications/): it
checks each request as Expo would (POST of a JSON array of at most 100 messages, JSON headers, each message's
fields and types) and answers a ticket per message, in order: `ok`, or `DeviceNotRegistered` for the tokens in
`gone`. Requests that break the format are kept in `rejected` and answered 400, as Expo does."""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = re.compile(r"^(Exponent|Expo)PushToken\[[^\]]+\]$")
FIELDS = {"to": (str, list), "title": (str,), "body": (str,), "data": (dict,), "sound": (str,),
          "priority": (str,), "channelId": (str,), "categoryId": (str,), "ttl": (int,), "badge": (int,),
          "subtitle": (str,), "expiration": (int,), "mutableContent": (bool,)}
PRIORITIES = ("default", "normal", "high")


@dataclass
class ExpoPushApi:
    gone: set[str] = field(default_factory=set)
    messages: list[dict] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)    # the headers of each request

    def __enter__(self) -> ExpoPushApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                problem = api.check(self.path, dict(self.headers), body)
                if problem:
                    api.rejected.append(problem)
                    self._answer(400, {"errors": [{"code": "VALIDATION_ERROR", "message": problem}]})
                    return
                messages = json.loads(body)
                api.requests.append(dict(self.headers))
                api.messages.extend(messages)
                self._answer(200, {"data": [api.ticket(m["to"], n) for n, m in enumerate(messages)]})

            def _answer(self, status: int, answer: dict) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/--/api/v2/push/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ticket(self, token: str, n: int) -> dict:
        if token in self.gone:
            return {"status": "error", "message": f'"{token}" is not a registered push notification recipient',
                    "details": {"error": "DeviceNotRegistered", "expoPushToken": token}}
        return {"status": "ok", "id": f"ticket-{len(self.messages)}-{n}"}

    @staticmethod
    def check(path: str, headers: dict, body: bytes) -> str | None:
        """What is wrong with a request, as Expo's push API would refuse it; None when it is right."""
        lower = {k.lower(): v for k, v in headers.items()}
        if path != "/--/api/v2/push/send":
            return f"path {path}"
        if not lower.get("content-type", "").startswith("application/json"):
            return "Content-Type must be application/json"
        if "application/json" not in lower.get("accept", ""):
            return "Accept must include application/json"
        try:
            messages = json.loads(body)
        except ValueError:
            return "the body is not JSON"
        if not isinstance(messages, list) or not 1 <= len(messages) <= 100:
            return "an array of 1 to 100 messages"
        for n, m in enumerate(messages):
            if not isinstance(m, dict) or "to" not in m:
                return f"message {n}: an object with `to`"
            for name, value in m.items():
                if name not in FIELDS or not isinstance(value, FIELDS[name]) or isinstance(value, bool) != (bool in FIELDS[name]):
                    return f"message {n}: field {name}"
            if not TOKEN.fullmatch(m["to"]):
                return f"message {n}: `to` is not an Expo push token"
            if m.get("priority", "default") not in PRIORITIES:
                return f"message {n}: priority"
            if len(json.dumps(m).encode()) > 4096:
                return f"message {n}: over 4 KiB"
        return None
