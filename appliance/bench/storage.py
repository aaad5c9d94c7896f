"""`vigia bench storage --json`: what recording, encryption, clips and the event store cost.

Recording is measured against decoding the same packets in the same run: both read the demo
clip's packets from memory, so disk reads of the source do not count on either side.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from vigia.appliance.bench.common import default_media
from vigia.appliance.events import Event, new_event_id
from vigia.appliance.storage import EventWriter, connect, list_events

SSD_BYTES = 256e9
EVENTS_STORED = 1_000_000
CAMERAS = [f"cam{i}" for i in range(16)]
LABELS = ["person"] * 6 + ["car", "truck", "bicycle", "motorcycle", "bus"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON (the only format)")
    parser.add_argument("--media", type=Path, default=None)
    parser.add_argument("--events", type=int, default=EVENTS_STORED, help="events stored for the query test")
    parser.set_defaults(handler=run)


def clip_bitrate(media: Path) -> float:
    """Bytes per second of the clip's video stream (packets only, no container overhead)."""
    with av.open(str(media)) as container:
        stream = container.streams.video[0]
        rate = float(stream.guessed_rate or stream.average_rate or 25)
        sizes = [packet.size for packet in container.demux(stream) if packet.size]
    return sum(sizes) / (len(sizes) / rate)


def _event(i: int, rng: random.Random, t0: float) -> Event:
    ts = t0 + i * 2.5
    return Event(
        id=new_event_id(ts), camera=rng.choice(CAMERAS), rule="entry", kind="enter", zone="door",
        label=rng.choice(LABELS), track_id=i, start=0.0, started_at=ts, max_score=0.7,
        box=(0.1, 0.1, 0.2, 0.3), end=5.0, ended_at=ts + 5.0, path=[(0.0, 0.1, 0.2), (1.0, 0.2, 0.3)],
    )


def event_store(workdir: Path, count: int) -> dict:
    """Insert `count` events through the appliance's batched writer, then time the guards' event list."""
    rng = random.Random(7)
    t0 = time.time() - count * 2.5
    writer = EventWriter(workdir / "events.db")
    events = [_event(i, rng, t0) for i in range(count)]
    start = time.perf_counter()
    for event in events:
        writer.put(event)
    writer.flush(timeout=600)
    insert_per_s = count / (time.perf_counter() - start)
    writer.close()
    del events

    db = connect(workdir / "events.db")
    latencies = []
    for _ in range(300):
        until = t0 + rng.random() * count * 2.5
        since = until - 86400 * rng.choice([1, 7, 30])
        label = rng.choice(["person", "car", None])
        started = time.perf_counter()
        page = list_events(db, camera=rng.choice(CAMERAS), label=label, since=since, until=until, limit=50)
        latencies.append(time.perf_counter() - started)
        assert len(page) <= 50
    db.conn.close()
    return {
        "event_insert_per_s": round(insert_per_s),
        "event_query_p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 3),
        "event_query_p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 3),
        "events_stored": count,
    }


def run(args) -> int:
    media = (args.media or default_media()).resolve()
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="vigia-bench-storage-") as tmp:
        workdir = Path(tmp)
        out.update(event_store(workdir, args.events))
    bitrate = clip_bitrate(media)
    usable = SSD_BYTES * 0.9  # the default watermark keeps 10% free
    out["bitrate_bytes_per_s"] = round(bitrate)
    out["days_of_footage_on_256gb"] = round(usable / (bitrate * 86400), 1)
    out["method"] = ("events through the batched writer, then 300 random guard queries (camera, label or none, "
                     "1/7/30-day window, page of 50); footage days for one camera recording continuously at the "
                     "clip's measured bitrate with 10% of the SSD kept free")
    print(json.dumps(out, indent=2))
    return 0
