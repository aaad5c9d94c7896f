"""`vigia bench ui --json`: what the guards' screens get and cost.

- alert_latency_p95_ms: frame capture (the paced camera releasing the frame) to the alert arriving at
  a WebSocket client in another process, with `streams` demo cameras running on this appliance
  (the demo's zones and rules, someone entering the centre zone being an alert): 90% of the real-time
  streams this machine takes, measured first in the same run (`capacity_streams`, as `vigia bench
  capacity` searches it), or `--streams`.
- live_view_cpu_per_viewer: the appliance's CPU seconds per second with one client watching the
  grid of every camera, minus the same without it (measured back to back in the same run).
- api_events_p95_ms: a page of 50 events over HTTPS with `--events` stored, random filters; the
  same queries straight on SQLite are the baseline (`api_vs_sqlite_ratio`).
- first_load_kb: the front end's first load (index.html and what it references), gzipped.
"""
from __future__ import annotations

import asyncio
import copy
import gzip
import json
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
import yaml

from vigia.app.appliance import Appliance
from vigia.app.bench.capacity import realtime_capacity
from vigia.app.bench.common import default_media, default_model, process_cpu
from vigia.app.bench.storage import CAMERAS, sample_event
from vigia.app.serving import serving
from vigia.appliance.config import Config
from vigia.appliance.demo import demo_config_text
from vigia.appliance.storage import UPSERT_EVENT, connect, event_rows
from vigia.appliance.transactions import write_transaction
from vigia.local_ui import accounts
from vigia.local_ui.frontend import dist_dir
from vigia.local_ui.tls import tls_files

ZONES = ["door", "yard", "gate"]
LOAD_SHARE = 0.9  # of the measured capacity, the streams the alert latency is measured with

def _free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(workdir: Path, streams: int, media: Path, model: Path) -> Config:
    """`streams` copies of the demo camera (its zones and rules; someone entering the centre is an alert)."""
    data = yaml.safe_load(demo_config_text(media, workdir, _free_port()))
    demo = data["cameras"][0]
    for rule in demo["rules"]:
        rule["alert"] = rule.get("alert", False) or rule["name"] == "centre-entry"
    data["cameras"] = [{**copy.deepcopy(demo), "name": f"cam{i}"} for i in range(streams)]
    data["detector"]["model"] = str(model)
    return Config.model_validate(data)


def _add_user(config) -> tuple[str, str]:
    password = secrets.token_urlsafe(16)
    db = connect(config.storage.database)
    accounts.add_user(db, "bench", password, "guard", actor=None, remote=None, via="bench")
    db.conn.close()
    return "bench", password


def _p(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def live(workdir: Path, streams: int, seconds: float, warmup: float, media: Path, model: Path) -> dict:
    config = _config(workdir, streams, media, model)
    username, password = _add_user(config)
    appliance = Appliance(config)
    appliance.start()
    try:
        with serving(appliance):
            base = f"https://127.0.0.1:{config.http.port}"
            ca = tls_files(config.http, config.storage.data_dir).certificate
            client = subprocess.Popen([sys.executable, "-m", "vigia.app.bench.live_client", base, str(ca), username],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            client.stdin.write(password + "\n")
            client.stdin.flush()
            time.sleep(warmup)
            cpu0, t0 = process_cpu(), time.monotonic()
            time.sleep(seconds)
            idle = (process_cpu() - cpu0) / (time.monotonic() - t0)
            client.stdin.write("watch\n")
            client.stdin.flush()
            time.sleep(1.0)
            cpu0, t0 = process_cpu(), time.monotonic()
            time.sleep(seconds)
            watched = (process_cpu() - cpu0) / (time.monotonic() - t0)
            out, _ = client.communicate("stop\n", timeout=60)
    finally:
        appliance.stop()
    result = json.loads(out)
    alerts, frames = result["alert_latencies"], result["frame_latencies"]
    return {
        "streams": streams,
        "alert_latency_p95_ms": _p(alerts, 95),
        "alert_latency_p50_ms": _p(alerts, 50),
        "alerts_received": len(alerts),
        "live_view_cpu_per_viewer": round(watched - idle, 3),
        "appliance_cpu_without_viewer": round(idle, 3),
        "live_frame_latency_p95_ms": _p(frames, 95),
        "live_frames_per_s": round(len(frames) / seconds, 1),
        "live_kbytes_per_s": round(result["frame_bytes"] / seconds / 1024, 1),
    }


def _fill(database: Path, count: int) -> float:
    """`count` events written in one transaction per 50,000; returns the time span they cover."""
    rng = random.Random(7)
    t0 = time.time() - count * 2.5
    db = connect(database)
    for first in range(0, count, 50_000):
        rows = []
        for i in range(first, min(count, first + 50_000)):
            event = sample_event(i, rng, t0)
            event.zone, event.alert = rng.choice(ZONES), rng.random() < 0.05
            rows.append(event.to_row())
        with write_transaction(db.conn):
            db.conn.executemany(UPSERT_EVENT, rows)
    db.conn.close()
    return t0


def _queries(rng: random.Random, t0: float, count: int, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        query = {"limit": 50, "until": t0 + rng.random() * count * 2.5}
        kind = rng.choice(["camera", "label", "zone", "alert", "none"])
        if kind == "camera":
            query["camera"] = rng.choice(CAMERAS)
        elif kind == "label":
            query["label"] = rng.choice(["person", "car"])
        elif kind == "zone":
            query["zone"] = rng.choice(ZONES)
        elif kind == "alert":
            query["alert"] = True
        out.append(query)
    return out


def api_events(workdir: Path, count: int, media: Path, model: Path, requests: int = 300) -> dict:
    config = _config(workdir, 1, media, model)
    t0 = _fill(config.storage.database, count)
    username, password = _add_user(config)
    queries = _queries(random.Random(11), t0, count, requests)
    db = connect(config.storage.database)
    direct = []
    for query in queries:
        started = time.perf_counter()
        event_rows(db, **query)
        direct.append(time.perf_counter() - started)
    db.conn.close()
    appliance = Appliance(config)  # not started: the API alone, no cameras
    with serving(appliance):
        over_http = asyncio.run(_time_api(config, username, password, queries))
    return {
        "events_stored": count,
        "api_events_p95_ms": _p(over_http, 95),
        "api_events_p50_ms": _p(over_http, 50),
        "sqlite_events_p95_ms": _p(direct, 95),
        "api_vs_sqlite_ratio": round(float(np.percentile(over_http, 95) / np.percentile(direct, 95)), 1),
    }


async def _time_api(config, username: str, password: str, queries: list[dict]) -> list[float]:
    import ssl
    tls = ssl.create_default_context(cafile=tls_files(config.http, config.storage.data_dir).certificate)
    base = f"https://127.0.0.1:{config.http.port}"
    latencies = []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.post(f"{base}/api/v1/login", json={"username": username, "password": password}, ssl=tls) as r:
            r.raise_for_status()
        for query in queries:
            params = {k: ("true" if v is True else str(v)) for k, v in query.items()}
            started = time.perf_counter()
            async with session.get(f"{base}/api/v1/events", params=params, ssl=tls) as reply:
                page = await reply.json()
            latencies.append(time.perf_counter() - started)
            if reply.status != 200 or len(page["events"]) > 50:
                raise RuntimeError(f"unexpected answer {reply.status}: {page}")
    return latencies


def first_load(dist: Path) -> dict:
    """index.html and the scripts, styles and manifest it references, each gzipped as served."""
    index = dist / "index.html"
    if not index.is_file():
        return {"first_load_kb": None, "first_load_note": f"front end not built ({index} missing): make ui"}
    html = index.read_text(encoding="utf-8")
    files = [index] + [dist / ref.lstrip("/") for ref in re.findall(r'(?:src|href)="(/[^"]+)"', html)]
    files = [f for f in dict.fromkeys(files) if f.is_file()]
    size = sum(len(gzip.compress(f.read_bytes(), 9)) for f in files)
    return {"first_load_kb": round(size / 1024, 1), "first_load_files": len(files)}


def load_streams(media: Path, model: Path, seconds: float, max_trials: int) -> dict:
    """90% of the real-time streams this machine takes now (at least one), with that capacity."""
    best, trials = realtime_capacity(media, model, seconds, max_trials)
    capacity = best["streams"] if best else 0
    return {"streams": max(1, int(capacity * LOAD_SHARE)), "capacity_streams": capacity,
            "capacity_trials": [{k: t[k] for k in ("streams", "realtime", "min_due_share", "dropped_share")}
                                for t in trials]}


def run(args) -> int:
    media, model = default_media().resolve(), default_model().resolve()
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="vigia-bench-ui-") as tmp:
        out.update(api_events(Path(tmp) / "api", args.events, media, model))
        load = ({"streams": args.streams} if args.streams else
                load_streams(media, model, args.capacity_seconds, args.capacity_trials))
        out.update(live(Path(tmp) / "live", load["streams"], args.seconds, args.warmup, media, model))
        out.update(load)
    out.update(first_load(dist_dir()))
    sized = (f"{LOAD_SHARE:.0%} of the {out['capacity_streams']} real-time streams found by a capacity search "
             f"({args.capacity_seconds:g} s trials) in this run" if not args.streams else "given by --streams")
    out["method"] = (f"{out['streams']} looping real-time demo cameras ({sized}) with the demo's zones and rules "
                     "(someone entering the centre zone is an alert, as are the demo's alert rules); the client is a "
                     f"separate process on the same machine; CPU from getrusage of the appliance process over "
                     f"{args.seconds:g} s without and then with the grid watched; API: 300 pages of 50 with random "
                     "filters over HTTPS (keep-alive), against the same queries on SQLite directly")
    print(json.dumps(out, indent=2))
    return 0
