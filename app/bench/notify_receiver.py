"""The three receivers of `vigia bench notify`, in a process of their own (they take no CPU from the appliance's
threads): an MQTT subscriber, a webhook receiver that checks each signature, and a push endpoint that decrypts
each message with its subscription's keys (RFC 8291, aes128gcm). Each notification is timed on arrival.

    python -m vigia.app.bench.notify_receiver MQTT_PORT EVENTS_TOPIC WEBHOOK_PORT PUSH_PORT
        (the webhook secret on stdin's first line; it prints `ready` and the push subscription as JSON; then
        `down` takes the webhook receiver and the push endpoint down (connection refused), `up` brings them back on
        the same ports, `stop` ends the run and prints every arrival as JSON)

The subscriber's session is persistent (clean_session off, QoS 1): a broker that keeps sessions across a restart
holds what was published for it while it reconnects.
"""
from __future__ import annotations

import base64
import json
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import paho.mqtt.client as paho
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from paho.mqtt.enums import CallbackAPIVersion

from vigia.kit.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

CLIENT_ID = "vigia-bench-notify-subscriber"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Arrivals:
    """(sink, idempotency key, captured_at, received_at) of every notification that arrived, duplicates included."""

    def __init__(self):
        self.rows: list[tuple[str, str, float | None, float]] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()

    def add(self, sink: str, key: str, captured_at: float | None, received_at: float) -> None:
        with self._lock:
            self.rows.append((sink, key, captured_at, received_at))

    def refuse(self, why: str) -> None:
        with self._lock:
            self.refused.append(why)


def subscriber(port: int, topic: str, arrivals: Arrivals) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=CLIENT_ID, clean_session=False)
    subscribed = threading.Event()
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()

    def on_message(_client, _userdata, message) -> None:
        now = time.time()
        body = json.loads(message.payload)
        arrivals.add("mqtt", body["key"], body.get("captured_at"), now)

    client.on_message = on_message
    client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    if not subscribed.wait(15):
        raise RuntimeError(f"could not subscribe to {topic} on 127.0.0.1:{port}")
    return client


class Endpoints:
    """The webhook receiver and the push endpoint: two HTTP servers, taken down and back together (down, a
    connection kept from before is closed at its next request, unanswered)."""

    def __init__(self, webhook_port: int, push_port: int, secret: str, arrivals: Arrivals):
        self.ports = {"webhook": webhook_port, "push": push_port}
        self.secret = secret
        self.arrivals = arrivals
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = secrets.token_bytes(16)
        self.path = f"/push/{secrets.token_urlsafe(12)}"
        self._servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []
        self.serving = threading.Event()

    def subscription(self) -> dict:
        public = self.key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": f"http://127.0.0.1:{self.ports['push']}{self.path}",
                "keys": {"p256dh": _b64url(public), "auth": _b64url(self.auth)}}

    def webhook(self, headers, body: bytes) -> int:
        now = time.time()
        if not verify_signature(self.secret, headers.get(TIMESTAMP_HEADER), body, headers.get(SIGNATURE_HEADER)):
            self.arrivals.refuse("webhook: signature does not verify")
            return 401
        message = json.loads(body)
        self.arrivals.add("webhook", message["key"], message.get("captured_at"), now)
        return 200

    def push(self, path: str, headers, body: bytes) -> int:
        if path != self.path:
            return 404
        try:
            if headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError(f"Content-Encoding {headers.get('Content-Encoding')!r}")
            message = json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))
        except (ValueError, http_ece.ECEException, InvalidTag) as exc:
            self.arrivals.refuse(f"push: {type(exc).__name__}: {exc}")
            return 400
        self.arrivals.add("push", f"{message['event']}:open", message.get("captured_at"), time.time())
        return 201

    def up(self) -> None:
        endpoints = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keeps the connection, as a web server in front of a receiver would

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not endpoints.serving.is_set():
                    self.close_connection = True
                    return
                port = self.server.server_address[1]
                status = (endpoints.webhook(self.headers, body) if port == endpoints.ports["webhook"]
                          else endpoints.push(self.path, self.headers, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        for port in self.ports.values():
            server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._servers.append((server, thread))
        self.serving.set()

    def down(self) -> None:
        self.serving.clear()
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join()
        self._servers = []


def main() -> None:
    mqtt_port, topic, webhook_port, push_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    secret = sys.stdin.readline().rstrip("\n")
    arrivals = Arrivals()
    client = subscriber(mqtt_port, topic, arrivals)
    endpoints = Endpoints(webhook_port, push_port, secret, arrivals)
    endpoints.up()
    print("ready", json.dumps(endpoints.subscription()), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "down":
            endpoints.down()
        elif command == "up":
            endpoints.up()
        elif command == "stop":
            break
        print("ok", command, flush=True)
    endpoints.down()
    client.loop_stop()
    client.disconnect()
    print(json.dumps({"arrivals": arrivals.rows, "refused": arrivals.refused}), flush=True)


if __name__ == "__main__":
    main()
