"""`vigia bench storage --json`: what recording, encryption, clips and the event store cost.

Recording is measured against decoding the same packets in the same run: both read the demo
clip's packets from memory, so disk reads of the source do not count on either side.
"""
from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from vigia.app.bench.common import clip_info, default_media
from vigia.appliance.storage import EventWriter, connect, list_events
from vigia.scene.events import Event, new_event_id

SSD_BYTES = 256e9
CAMERAS = [f"cam{i}" for i in range(16)]
LABELS = ["person"] * 6 + ["car", "truck", "bicycle", "motorcycle", "bus"]


def clip_bitrate(media: Path) -> float:
    """Bytes per second of the clip's video stream (packets only, no container overhead)."""
    with av.open(str(media)) as container:
        stream = container.streams.video[0]
        rate = float(stream.guessed_rate or stream.average_rate or 25)
        sizes = [packet.size for packet in container.demux(stream) if packet.size]
    return sum(sizes) / (len(sizes) / rate)


def _demux(media: Path, loops: int, on_packet=None, decode: bool = False) -> float:
    """Thread CPU seconds to demux the clip `loops` times, optionally decoding and/or recording each packet.

    Packets carry a wall time that advances with the stream, as a live camera's would.
    """
    cpu = 0.0
    wall = time.time() - loops * 20.0
    for _ in range(loops):
        with av.open(str(media)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"
            rate = float(stream.guessed_rate or stream.average_rate or 25)
            start = time.thread_time()
            for packet in container.demux(stream):
                if decode:
                    packet.decode()
                if on_packet is not None and packet.size:
                    wall += 1 / rate
                    on_packet(packet, stream, wall)
            cpu += time.thread_time() - start
    return cpu


def recording(media: Path, workdir: Path, loops: int = 6) -> dict:
    """CPU of remuxing the camera's packets into segments, plain and encrypted, against decoding them."""
    from vigia.appliance.config import Record
    from vigia.appliance.encryption import load_or_create_key, open_media
    from vigia.appliance.recording.clips import assemble_clip
    from vigia.appliance.recording.recorder import SegmentRecorder

    frames, seconds = clip_info(media)
    stream_seconds = loops * seconds
    key = load_or_create_key(workdir / "keys" / "media.key")
    costs = {}
    for name, recorder_key in (("plain", None), ("encrypted", key)):
        data_dir = workdir / name
        recorder = SegmentRecorder("bench", Record(mode="continuous"), data_dir, data_dir / "vigia.db", recorder_key)
        costs[name] = _demux(media, loops, recorder.on_packet)
        recorder.close()
    demux = min(_demux(media, loops) for _ in range(2))
    decode = _demux(media, loops, decode=True)

    db = connect(workdir / "encrypted" / "vigia.db")
    first = db.execute("select min(start) from recordings").fetchone()[0]
    timings = []
    for i in range(5):
        started = time.perf_counter()
        assemble_clip(db, workdir / "encrypted", key, "bench", first + 5, first + 35, workdir / f"clip{i}.mp4")
        timings.append(time.perf_counter() - started)
    with open_media(workdir / "clip0.mp4", key) as media, av.open(media) as clip:
        stream = clip.streams.video[0]
        stamps = [p.dts for p in clip.demux(stream) if p.dts is not None]
        clip_seconds = float((max(stamps) - min(stamps)) * stream.time_base)
    db.conn.close()
    record = max(0.0, costs["plain"] - demux) / stream_seconds
    return {
        "record_cpu_per_stream_second": round(record, 5),
        "decode_only_cpu_per_stream_second": round(decode / stream_seconds, 4),
        "record_vs_decode_ratio": round(record / (decode / stream_seconds), 4),
        "encrypt_cpu_per_stream_second": round(max(0.0, costs["encrypted"] - costs["plain"]) / stream_seconds, 5),
        "clip_assembly_ms": round(float(np.median(timings)) * 1000, 1),
        "clip_seconds": round(clip_seconds, 2),
        "recorded_stream_seconds": round(stream_seconds, 1),
    }


def sample_event(i: int, rng: random.Random, t0: float) -> Event:
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
    writer = EventWriter(workdir / "events.db").start()
    events = [sample_event(i, rng, t0) for i in range(count)]
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
        out.update(recording(media, workdir))
        out.update(event_store(workdir, args.events))
    bitrate = clip_bitrate(media)
    usable = SSD_BYTES * 0.9  # the default watermark keeps 10% free
    out["bitrate_bytes_per_s"] = round(bitrate)
    out["days_of_footage_on_256gb"] = round(usable / (bitrate * 86400), 1)
    out["method"] = ("recording: the clip's packets demuxed 6 times and remuxed into continuous segments, thread CPU "
                     "minus demux alone, against demux+decode of the same packets; clip: median of 5 assemblies of a "
                     "30 s window from encrypted segments (the clip starts at the keyframe before the window); events "
                     "through the batched writer, then 300 random guard queries (camera, label or none, 1/7/30-day "
                     "window, page of 50); footage days for one camera recording continuously at the clip's measured "
                     "bitrate with 10% of the SSD kept free")
    print(json.dumps(out, indent=2))
    return 0
