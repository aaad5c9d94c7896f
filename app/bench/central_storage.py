"""`vigia bench central-storage --json`: what one device costs central's storage in a month, PostgreSQL and S3.

A reduced month (`--days` days of a device with `--cameras` cameras) of what an appliance sends goes through
central's own ingest (vigia.central.ingest.batches.Ingest: batches encoded and decoded as on the wire, into a
PostgreSQL database of its own), one kind after the other, and the growth of every table's
pg_total_relation_size (heap, TOAST, indexes; events' monthly partitions included) is measured after each:
events, track summaries, hourly metrics roll-ups, camera health changes, then the media_objects rows central
records for each event's thumbnail and each clip a rule uploads. The S3 side is the objects' bytes (S3 stores
an object as its bytes): thumbnails are JPEGs rendered from the demo clip's frames as the appliance renders them
(vigia.appliance.snapshots.render), a clip's size is the demo clip's video bitrate times its length (pre-roll,
the event, post-roll: the appliance remuxes the camera's packets, it does not re-encode). Per event, per camera-day
and per device-month (30 days) are extrapolated from it; the mix (events, tracks, clips per camera-day) is
given on the command line so that an operator can run it with their own."""
from __future__ import annotations

import asyncio
import json
import time

import av
import numpy as np
import psycopg
from psycopg_pool import AsyncConnectionPool

from vigia.app.bench.common import default_media
from vigia.app.bench.storage import clip_bitrate
from vigia.app.devstack import temporary_database
from vigia.appliance.config import Record
from vigia.appliance.outbox import Pending, camera_health_record, event_record
from vigia.appliance.rollups import MAX_PATH_POINTS, ROLLUP_COUNTERS
from vigia.appliance.snapshots import render
from vigia.central.ingest.batches import Ingest, prepare_connection
from vigia.central.ingest.enrolment import DeviceIdentity, enrol_device
from vigia.central.ingest.media import RECORD_OBJECT
from vigia.central.migrations import migrate
from vigia.scene.events import Event, new_event_id
from vigia.sync.protocol import MediaRequest, decode_batch, encode_batch, object_key

DEVICE, SERIAL = "storage-bench", 0x5707
START = 1_780_272_000.0   # 2026-06-01, UTC: the whole reduced month in one monthly partition
BATCH = 1000              # records per batch (the uploader's default)
DAY = 86400.0
MONTH_DAYS = 30
LABELS = ["person"] * 6 + ["car", "truck", "bicycle"]
SIZES_SQL = """SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind = 'r'"""


def _path(rng, points: int, seconds: float) -> list[list[float]]:
    x, y = rng.uniform(0.05, 0.9, 2)
    dx, dy = rng.uniform(-0.4, 0.4, 2) / points
    return [[round(seconds * i / (points - 1), 3), round(float(x + dx * i), 4), round(float(y + dy * i), 4)]
            for i in range(points)]


def make_events(cameras: int, days: int, per_camera_day: int, rng) -> list[Event]:
    """The device's events over the reduced month: every camera, each day, at random times; 2-30 s long."""
    events = []
    for camera in range(cameras):
        starts = START + np.sort(rng.uniform(0, days * DAY, days * per_camera_day))
        for i, started_at in enumerate(starts.tolist()):
            seconds = float(rng.uniform(2, 30))
            x, y = rng.uniform(0, 0.8, 2).tolist()
            event_id = new_event_id(started_at)
            events.append(Event(
                id=event_id, camera=f"cam{camera + 1}", rule="entry", kind="enter", zone="door",
                label=LABELS[i % len(LABELS)], track_id=i + 1, start=started_at - START, started_at=started_at,
                max_score=round(float(rng.uniform(0.3, 1.0)), 3), box=(x, y, x + 0.1, y + 0.2), alert=i % 20 == 0,
                end=started_at - START + seconds, ended_at=started_at + seconds,
                snapshot=f"snapshots/cam{camera + 1}/{time.strftime('%Y-%m-%d', time.gmtime(started_at))}/{event_id}.jpg",
                path=_path(rng, MAX_PATH_POINTS, seconds)))
    return events


def make_tracks(cameras: int, days: int, per_camera_day: int, rng) -> list[tuple[str, str, dict]]:
    """Track summaries as vigia.appliance.rollups.TrackSummaries puts them: (kind, key, body)."""
    records = []
    for camera in range(cameras):
        name = f"cam{camera + 1}"
        for i, first in enumerate(np.sort(rng.uniform(START, START + days * DAY, days * per_camera_day)).tolist()):
            seconds = float(rng.uniform(1, 60))
            records.append(("track", f"{name}:{i + 1}:{first:.3f}", {
                "camera": name, "track_id": i + 1, "label": LABELS[i % len(LABELS)], "first_seen_at": round(first, 3),
                "last_seen_at": round(first + seconds, 3), "seconds": round(seconds, 3),
                "max_score": round(float(rng.uniform(0.3, 1.0)), 4), "hits": int(seconds * 8),
                "path": _path(rng, MAX_PATH_POINTS, seconds)}))
    return records


def make_rollups(cameras: int, days: int, rng) -> list[tuple[str, str, dict]]:
    """Hourly metrics roll-ups as vigia.appliance.rollups.MetricsRollups puts them."""
    records = []
    for hour in range(days * 24):
        end = START + (hour + 1) * 3600
        records.append(("metrics", f"{end:.3f}", {
            "version": "0.1.0", "model": "yolox_nano", "period_start": round(end - 3600, 3), "period_end": round(end, 3),
            "uptime_s": round(end - START, 3), "backlog": int(rng.integers(0, 50)), "disk_free_bytes": 180_000_000_000,
            "disk_total_bytes": 256_000_000_000, "cameras": {f"cam{c + 1}": {
                name: int(rng.integers(0, 90_000)) for name in ROLLUP_COUNTERS} for c in range(cameras)}}))
    return records


def make_health(cameras: int, days: int, per_camera_day: int) -> list[tuple[str, str, dict]]:
    """Camera health changes (reconnecting, online...): central keeps the latest per camera (an upsert)."""
    records = []
    for step in range(days * per_camera_day):
        for camera in range(cameras):
            record = camera_health_record(f"cam{camera + 1}", "online" if step % 2 else "reconnecting",
                                          START + step * DAY / per_camera_day, None if step % 2 else "timeout")
            records.append((record.kind, record.key, record.body))
    return records


def thumbnails(media, count: int) -> list[bytes]:
    """`count` event snapshots rendered from frames spread over the clip, a person-sized box on each."""
    with av.open(str(media)) as container:
        total = sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)
    wanted = set(np.linspace(0, total - 1, count).astype(int).tolist())
    with av.open(str(media)) as container:
        picked = [frame for i, frame in enumerate(container.decode(container.streams.video[0])) if i in wanted]
    out = []
    for i, frame in enumerate(picked):
        x, y = (0.1 + 0.7 * ((i * 37) % 10) / 10) * frame.width, (0.2 + 0.5 * ((i * 53) % 10) / 10) * frame.height
        out.append(render(frame, (x, y, x + frame.width / 12, y + frame.height / 4), f"person {0.5 + (i % 5) / 10:.2f}"))
    return out


class Central:
    """Central's ingest on a database of its own, and the size of its tables."""

    def __init__(self, dsn: str):
        self.dsn, self.seq = dsn, 0

    async def setup(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            await migrate(conn)
            await enrol_device(conn, DEVICE, SERIAL, DeviceIdentity(DEVICE, DEVICE))

    async def send(self, records: list[tuple[str, str, str]]) -> None:
        """(kind, key, body JSON) records in batches of BATCH, as the uploader numbers and sends them."""
        async with AsyncConnectionPool(self.dsn, min_size=1, max_size=1, configure=prepare_connection,
                                       open=False) as pool:
            ingest = Ingest(pool)
            for first in range(0, len(records), BATCH):
                pending = []
                for kind, key, body in records[first:first + BATCH]:
                    self.seq += 1
                    pending.append(Pending(self.seq, kind, key, body))
                await ingest.apply(DEVICE, SERIAL, decode_batch(encode_batch(DEVICE, pending), "application/json", "gzip"))

    def sizes(self) -> dict[str, int]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("VACUUM")  # the upserts' dead rows as autovacuum would leave them: reusable space
            return {name: size for name, size in conn.execute(SIZES_SQL).fetchall()}

    def record_objects(self, objects: list[tuple[str, str, int]]) -> None:
        """media_objects rows for (kind, event_id, size), as central records an upload it checked."""
        with psycopg.connect(self.dsn) as conn:
            for kind, event_id, size in objects:
                request = MediaRequest(kind=kind, event_id=event_id, size=size, sha256=f"{size:064x}")
                conn.execute(RECORD_OBJECT, [DEVICE, object_key(DEVICE, request), kind, event_id, size, request.sha256])


def _json_records(records: list[tuple[str, str, dict]]) -> list[tuple[str, str, str]]:
    return [(kind, key, json.dumps(body)) for kind, key, body in records]


def run(args) -> int:
    rng = np.random.default_rng(7)
    media = args.media or default_media()
    camera_days = args.cameras * args.days
    events = make_events(args.cameras, args.days, args.events, rng)
    phases = {
        "events": [(r.kind, r.key, json.dumps(r.body)) for r in (event_record(e.to_row()) for e in events)],
        "track_summaries": _json_records(make_tracks(args.cameras, args.days, args.tracks, rng)),
        "metrics_rollups": _json_records(make_rollups(args.cameras, args.days, rng)),
        "camera_health": _json_records(make_health(args.cameras, args.days, args.health_changes)),
    }
    jpegs = thumbnails(media, args.thumbnail_samples)
    record = Record()
    bitrate = clip_bitrate(media)
    clipped = events[::max(1, len(events) // max(1, args.clips * camera_days))][:args.clips * camera_days]  # spread out
    objects = ([("thumbnail", e.id, len(jpegs[i % len(jpegs)])) for i, e in enumerate(events)]
               + [("clip", e.id, round(bitrate * (record.pre_roll + e.ended_at - e.started_at + record.post_roll)))
                  for e in clipped])
    pg: dict[str, int] = {}
    with temporary_database() as dsn:
        central = Central(dsn)
        asyncio.run(central.setup())
        before = central.sizes()
        began = time.perf_counter()
        for phase, records in phases.items():
            asyncio.run(central.send(records))
            after = central.sizes()
            pg[phase] = sum(after.values()) - sum(before.values())
            before = after
        central.record_objects(objects)
        after = central.sizes()
        pg["media_objects"] = sum(after.values()) - sum(before.values())
        ingest_s = time.perf_counter() - began
    thumbnail_bytes = sum(size for kind, _, size in objects if kind == "thumbnail")
    clip_bytes = sum(size for kind, _, size in objects if kind == "clip")
    pg_total, s3_total = sum(pg.values()), thumbnail_bytes + clip_bytes
    month = MONTH_DAYS / args.days
    result = {
        "cameras": args.cameras, "days": args.days, "camera_days": camera_days,
        "per_camera_day": {"events": args.events, "track_summaries": args.tracks, "clips": args.clips,
                           "camera_health_changes": args.health_changes},
        "records": {phase: len(records) for phase, records in phases.items()}, "media_objects": len(objects),
        "pg_bytes": pg, "pg_bytes_total": pg_total,
        "pg_bytes_per_event": round(pg["events"] / len(events)),
        "pg_bytes_per_track_summary": round(pg["track_summaries"] / max(1, len(phases["track_summaries"]))),
        "pg_bytes_per_metrics_rollup": round(pg["metrics_rollups"] / max(1, len(phases["metrics_rollups"]))),
        "pg_bytes_per_media_object": round(pg["media_objects"] / len(objects)),
        "pg_bytes_per_event_all_in": round(pg_total / len(events)),
        "s3_bytes_per_thumbnail": round(thumbnail_bytes / len(events)),
        "s3_bytes_per_clip": round(clip_bytes / max(1, len(clipped))), "clip_bitrate_bytes_per_s": round(bitrate),
        "s3_bytes_per_event_all_in": round(s3_total / len(events)),
        "pg_bytes_per_camera_day": round(pg_total / camera_days), "s3_bytes_per_camera_day": round(s3_total / camera_days),
        "pg_bytes_per_device_month": round(pg_total * month), "s3_bytes_per_device_month": round(s3_total * month),
        "ingest_seconds": round(ingest_s, 1), "media": str(media),
    }
    print(json.dumps(result))
    return 0
