"""`vigia bench notify --json`: alerts from `--streams` demo cameras to MQTT, a webhook and web push, timed where
they arrive, and an outage of all three.

- mqtt_p95_ms, webhook_p95_ms, push_p95_ms: an alert's capture (the paced camera releasing the frame that opened
  it; `captured_at` in every notification) to its arrival at the receiver (vigia.app.bench.notify_receiver, a
  process of its own: a Mosquitto subscriber, a webhook receiver checking signatures, a push endpoint decrypting
  with the subscription's keys), over the alerts raised (queued) while everything was up, but for the last
  IN_FLIGHT_S before the outage.
- outage_alerts, delivered_after_outage: the alerts raised while the broker, the webhook receiver and the push
  endpoint were all down (`--outage-seconds`), and how many of them reached all three once they were back.
- lost: notifications the appliance queued (every destination, openings and closings) that never arrived; 0.
- duplicates: arrivals of an idempotency key already received at that destination (a retry whose answer was lost).
- queued_p95_ms: capture to the notification stored in its queue: the analysis' share of the latency (the camera
  threads' backlog when the machine is short of CPU), the rest being the delivery's.
- stages_p50_ms, stages_p95_ms: where an alert's time goes, stage by stage (the `stages` its notification carries):
  capture -> queued for the detector (decode, motion, crop) -> detected (the detector's queue and its run) -> ruled
  (the camera thread taking the result: tracker and rules) -> stored (the sinks, the writer's commit) -> each
  destination's arrival (woken sender, network, receiver); `inference_ms`: the detector's own time per run.
"""
from __future__ import annotations

import copy
import getpass
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from vigia.app.appliance import Appliance
from vigia.app.bench.common import default_media, default_model
from vigia.app.devstack import free_port
from vigia.appliance.config import Config
from vigia.appliance.demo import demo_config_text
from vigia.appliance.notify import push_subscriptions
from vigia.appliance.storage import connect
from vigia.local_ui import accounts

DESTINATIONS = ("mqtt", "webhook:bench", "push")
ALERT_RULES = ("meeting", "crowded")  # the demo's alerting rules: someone waiting at the meeting point, a crowd
NODE = "bench"
IN_FLIGHT_S = 5.0  # alerts raised this close before the outage may still be on their way when it starts: not timed
MOSQUITTO = "/usr/sbin/mosquitto"


@dataclass
class Broker:
    """A Mosquitto of the bench's own on `port`, keeping sessions and their queued messages across a restart."""

    folder: Path
    port: int
    process: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> None:
        conf = self.folder / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                        f"persistence_location {self.folder}/\nuser {getpass.getuser()}\n")
        with open(self.folder / "mosquitto.log", "ab") as log:
            self.process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited ({self.process.returncode}): see {self.folder / 'mosquitto.log'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"mosquitto did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # it saves its sessions as it exits
            self.process.wait(15)
        self.process = None


class Receiver:
    """The receiver process (vigia.app.bench.notify_receiver)."""

    def __init__(self, mqtt_port: int, webhook_port: int, push_port: int, secret: str):
        topic = f"vigia/{NODE}/alerts"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigia.app.bench.notify_receiver", str(mqtt_port), topic, str(webhook_port),
             str(push_port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.process.stdin.write(secret + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"the receiver did not start: {line!r}")
        self.subscription = json.loads(line.removeprefix("ready "))

    def command(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline().strip()
        if answer != f"ok {command}":
            raise RuntimeError(f"the receiver answered {answer!r} to {command}")

    def stop(self) -> dict:
        out, _ = self.process.communicate("stop\n", timeout=60)
        return json.loads(out.strip().splitlines()[-1])


def bench_config(workdir: Path, streams: int, media: Path, model: Path, ports: dict[str, int], secret: str) -> Config:
    """`streams` copies of the demo camera whose alerting rules notify the three destinations; retries within 2 s of
    a destination's return."""
    data = yaml.safe_load(demo_config_text(media, workdir, ports["http"]))
    demo = data["cameras"][0]
    for rule in demo["rules"]:
        if rule["name"] in ALERT_RULES:
            rule["notify"] = list(DESTINATIONS)
    data["cameras"] = [{**copy.deepcopy(demo), "name": f"cam{i}"} for i in range(streams)]
    data["detector"]["model"] = str(model)
    retry = {"retry_initial_s": 0.5, "retry_max_s": 2.0}
    data["mqtt"] = {"url": f"mqtt://127.0.0.1:{ports['mqtt']}", "node_id": NODE, "discovery": False, **retry}
    data["webhooks"] = {"bench": {"url": f"http://127.0.0.1:{ports['webhook']}/hook", "secret": secret, **retry}}
    data["push"] = {"subject": "mailto:bench@example.com", **retry}
    return Config.model_validate(data)


def subscribe(config: Config, subscription: dict) -> None:
    """A guard with the receiver's push subscription."""
    db = connect(config.storage.database)
    try:
        accounts.add_user(db, "bench", secrets.token_urlsafe(16), "guard", actor=None, remote=None, via="bench")
        push_subscriptions.subscribe(db.conn, "bench", subscription["endpoint"], subscription["keys"]["p256dh"],
                                     subscription["keys"]["auth"])
    finally:
        db.conn.close()


@dataclass(frozen=True)
class Sent:
    """A notification the appliance queued."""

    sink: str
    key: str
    captured: float | None    # its frame's capture
    queued: float             # stored in its queue
    stages: dict[str, float]  # its frame's way through analysis (vigia.scene.events.EventChange.stages)


def queued(config: Config, before: float) -> list[Sent]:
    """What the appliance queued before `before`."""
    db = connect(config.storage.database)
    try:
        rows = db.execute("SELECT sink, key, body, created_at FROM notifications WHERE created_at < ?",
                          [before]).fetchall()
    finally:
        db.conn.close()
    bodies = [(sink, key, json.loads(body), created) for sink, key, body, created in rows]
    return [Sent(sink, key, body["captured_at"], created, body.get("stages") or {}) for sink, key, body, created in bodies]


def waiting(config: Config, before: float) -> int:
    db = connect(config.storage.database)
    try:
        return db.execute("SELECT count(*) FROM notifications WHERE delivered_at IS NULL AND created_at < ?",
                          [before]).fetchone()[0]
    finally:
        db.conn.close()


def _p(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def stage_times(measured: list[Sent], first: dict[tuple[str, str], float], q: float) -> dict[str, float | None]:
    """Percentile `q` of each stage's share (ms) of the alerts `measured` (one destination's rows)."""
    steps = {"capture_to_queued": ("captured", "queued"), "queued_to_detected": ("queued", "detected"),
             "detected_to_ruled": ("detected", "ruled"), "ruled_to_stored": ("ruled", "stored")}
    out: dict[str, float | None] = {}
    for name, (start, end) in steps.items():
        values = []
        for sent in measured:
            times = {**sent.stages, "captured": sent.captured, "stored": sent.queued}
            if times.get(start) is not None and times.get(end) is not None:
                values.append((times[end] - times[start]) * 1000)
        out[name] = _p(values, q)
    for sink in DESTINATIONS:
        rows = [s for s in measured if (sink, s.key) in first]
        out[f"stored_to_{sink.split(':')[0]}"] = _p([(first[(sink, s.key)] - s.queued) * 1000 for s in rows], q)
    return out


def summarise(sent: list[Sent], arrivals: list, window: tuple[float, float], outage: tuple[float, float]) -> dict:
    """Latencies of the alerts raised (queued) in `window` (and their part before the queue: capture to stored, the
    analysis' share; stage by stage); the fate of those raised during `outage`; losses."""
    first: dict[tuple[str, str], float] = {}
    duplicates = 0
    for sink, key, _captured, received in arrivals:
        sink = "webhook:bench" if sink == "webhook" else sink
        if (sink, key) in first:
            duplicates += 1
        else:
            first[(sink, key)] = received
    out: dict = {}
    measured = [s for s in sent if s.key.endswith(":open") and s.captured is not None and window[0] <= s.queued < window[1]]
    for sink in DESTINATIONS:
        took = [(first[(s.sink, s.key)] - s.captured) * 1000 for s in measured
                if s.sink == sink and (s.sink, s.key) in first]
        name = sink.split(":")[0]
        out[f"{name}_p95_ms"], out[f"{name}_p50_ms"], out[f"{name}_alerts"] = _p(took, 95), _p(took, 50), len(took)
    alerts = [s for s in measured if s.sink == DESTINATIONS[0]]
    stored = [(s.queued - s.captured) * 1000 for s in alerts]
    out["queued_p95_ms"], out["queued_p50_ms"] = _p(stored, 95), _p(stored, 50)
    out["stages_p50_ms"], out["stages_p95_ms"] = stage_times(alerts, first, 50), stage_times(alerts, first, 95)
    during = {s.key for s in sent if s.key.endswith(":open") and outage[0] <= s.queued < outage[1]}
    out["outage_alerts"] = len(during)
    out["delivered_after_outage"] = sum(all((d, k) in first for d in DESTINATIONS) for k in during)
    out["outage_notifications"] = sum(1 for s in sent if s.key in during)
    out["lost"] = sum(1 for s in sent if (s.sink, s.key) not in first)
    out["duplicates"] = duplicates
    out["notifications"] = len(sent)
    return out


def inference_ms(appliance: Appliance) -> float | None:
    """The detector's mean wall time per run so far, from the appliance's metrics."""
    registry, labels = appliance.metrics.registry, {"backend": appliance.detector.name}
    runs = registry.get_sample_value("vigia_inference_seconds_count", labels)
    total = registry.get_sample_value("vigia_inference_seconds_sum", labels)
    return round(1000 * total / runs, 1) if runs else None


def run(args) -> int:
    media, model = default_media().resolve(), default_model().resolve()
    ports = {name: free_port() for name in ("mqtt", "webhook", "push", "http")}
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="vigia-bench-notify-") as tmp:
        broker = Broker(Path(tmp), ports["mqtt"])
        broker.start()
        receiver = None
        try:
            receiver = Receiver(ports["mqtt"], ports["webhook"], ports["push"], secret)
            config = bench_config(Path(tmp) / "appliance", args.streams, media, model, ports, secret)
            subscribe(config, receiver.subscription)
            appliance = Appliance(config)
            appliance.start()
            try:
                time.sleep(args.warmup)
                measured_from = time.time()
                time.sleep(args.seconds)
                broker.stop()
                receiver.command("down")
                down_at = time.time()
                time.sleep(args.outage_seconds)
                broker.start()
                receiver.command("up")
                up_at = time.time()
                cut = up_at + 5.0  # what was queued until 5 s after the return: the outage's backlog and a little more
                time.sleep(5.0)
                deadline = time.monotonic() + args.drain_timeout
                while waiting(config, cut) and time.monotonic() < deadline:
                    time.sleep(0.5)
                drained_s = time.time() - up_at
                time.sleep(2.0)  # the last acknowledged messages reach the receiver
                sent = queued(config, cut)
                detector_ms = inference_ms(appliance)
            finally:
                appliance.stop()
            received = receiver.stop()
            receiver = None
        finally:
            if receiver is not None:
                receiver.process.kill()
            broker.stop()
    window = (measured_from, down_at - IN_FLIGHT_S)
    result = {"streams": args.streams, **summarise(sent, received["arrivals"], window, (down_at, up_at)),
              "refused_at_receiver": len(received["refused"]), "outage_seconds": args.outage_seconds,
              "backlog_delivered_s": round(drained_s, 1), "inference_ms": detector_ms,
              "load_average": [round(x, 1) for x in os.getloadavg()],
              "method": (
        f"{args.streams} looping real-time demo cameras (the demo's zones and rules; its alerting rules, meeting and "
        f"crowded, notify mqtt, webhook:bench and push); a Mosquitto broker of the bench's own (sessions persisted), a "
        f"receiver process (MQTT subscriber QoS 1 on the alerts topic, webhook receiver checking the HMAC signature, "
        f"push endpoint decrypting RFC 8291); latency = arrival time - captured_at of the opening, over the alerts "
        f"raised in {args.seconds:g} s after {args.warmup:g} s of warm-up, less the last {IN_FLIGHT_S:g} s; then broker, "
        f"receiver and push endpoint down {args.outage_seconds:g} s; retries 0.5 s doubling to 2 s; lost and "
        f"duplicates over everything queued until 5 s after the return")}
    print(json.dumps(result, indent=2))
    return 0
