"""What a worker reads before it analyses a clip, and the one transaction that writes what it found.

The result row is keyed by job id and inserted first: a job delivered twice (a worker killed after the commit
but before its ack, or a job published twice) finds it there and writes nothing more.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from vigia.central.reanalysis.analysis import ClipAnalysis
from vigia.central.reanalysis.hard_examples import Example
from vigia.central.reanalysis.hard_examples import object_key as hard_object_key
from vigia.central.reanalysis.jobs import Job
from vigia.central.reanalysis.verdicts import CentralEventMatch, EdgeEvent, Verdict
from vigia.scene.layout import CameraLayout

log = logging.getLogger(__name__)

DEFAULT_CLASSES = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]   # the appliance's default
DEFAULT_PRE_ROLL_S = 5.0   # where a clip without its start time is taken to begin, before its event
PATH_POINTS = 64


class JobError(Exception):
    """The job cannot succeed however often it is tried (its event or clip is not what it should be)."""


@dataclass(frozen=True)
class JobContext:
    layout: CameraLayout
    classes: list[str]
    event_started_at: float


async def already_done(conn: psycopg.AsyncConnection, job_id: str) -> bool:
    cursor = await conn.execute("SELECT 1 FROM reanalysis_results WHERE job_id = %s", [job_id])
    return await cursor.fetchone() is not None


async def context(conn: psycopg.AsyncConnection, job: Job) -> JobContext:
    """The camera's layout as the device last sent it (none sent: no rules, one event per object) and the event."""
    cursor = await conn.execute("SELECT extract(epoch FROM started_at) FROM events WHERE device_id = %s"
                                " AND event_id = %s", [job.device_id, job.event_id])
    row = await cursor.fetchone()
    if row is None:
        raise JobError(f"device {job.device_id} has no event {job.event_id} at central")
    cursor = await conn.execute("SELECT body FROM device_records WHERE device_id = %s AND kind = 'camera_layout'"
                                " AND key = %s", [job.device_id, job.camera])
    record = await cursor.fetchone()
    body = record[0] if record else {}
    try:
        layout = CameraLayout.model_validate({"name": job.camera, **{k: body.get(k, []) for k in ("zones", "lines", "rules")}})
    except ValidationError as exc:
        log.warning("camera %s of %s: its layout does not validate here (%s); analysed without rules",
                    job.camera, job.device_id, exc.errors()[0]["msg"])
        layout = CameraLayout(name=job.camera)
    return JobContext(layout, body.get("classes") or DEFAULT_CLASSES, float(row[0]))


async def edge_events(conn: psycopg.AsyncConnection, job: Job, start: float, end: float) -> list[EdgeEvent]:
    """The device's events of the job's camera that overlap [start, end] (wall clock)."""
    cursor = await conn.execute(
        """SELECT event_id, rule, label, track_id, extract(epoch FROM started_at), extract(epoch FROM ended_at), path
           FROM events WHERE device_id = %s AND camera = %s AND started_at <= to_timestamp(%s)
             AND (ended_at IS NULL OR ended_at >= to_timestamp(%s))""", [job.device_id, job.camera, end, start])
    return [EdgeEvent(event_id, rule, label, track_id, float(started), None if ended is None else float(ended),
                      [tuple(p) for p in path])
            for event_id, rule, label, track_id, started, ended, path in await cursor.fetchall()]


def _epoch(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.timezone.utc)


def _decimated(boxes: list, frame_size: tuple[int, int]) -> list[list[float]]:
    step = max(1, len(boxes) // PATH_POINTS)
    width, height = frame_size
    return [[round(t, 3), round((b[0] + b[2]) / 2 / width, 4), round(b[3] / height, 4)] for t, b in boxes[::step]]


async def store(conn: psycopg.AsyncConnection, job: Job, analysis: ClipAnalysis, clip_start: float, model: str,
                worker: str, verdicts: list[Verdict], matches: list[CentralEventMatch],
                examples: list[Example] = ()) -> bool:
    """Write the job's result, verdicts, tracks and events, and mark it done, in one transaction.
    False when the job's result was there already (nothing written)."""
    width, height = analysis.frame_size
    async with conn.transaction():
        cursor = await conn.execute(
            """INSERT INTO reanalysis_results (job_id, device_id, camera, clip_start, frames, duration_s, model,
                                               detector_share, cpu_s, worker)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (job_id) DO NOTHING RETURNING job_id""",
            [job.job_id, job.device_id, job.camera, _epoch(clip_start), analysis.frames, analysis.duration, model,
             analysis.detector_s / analysis.total_s if analysis.total_s else 0.0, analysis.total_s, worker])
        if await cursor.fetchone() is None:
            return False
        async with conn.cursor() as cur:
            if analysis.tracks:
                await cur.executemany(
                    "INSERT INTO reanalysis_tracks (job_id, track, label, first_seen, last_seen, max_score, best_t,"
                    " best_box, path) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [(job.job_id, t.id, t.label, t.first_seen, t.last_seen, t.max_score, t.best_t,
                      Jsonb([round(t.best_box[0] / width, 4), round(t.best_box[1] / height, 4),
                             round(t.best_box[2] / width, 4), round(t.best_box[3] / height, 4)]),
                      Jsonb(_decimated(t.boxes, analysis.frame_size))) for t in analysis.tracks])
            if verdicts:
                await cur.executemany(
                    "INSERT INTO reanalysis_verdicts (job_id, device_id, event_id, camera, rule, edge_label, verdict,"
                    " central_label, central_track, agreement, started_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
                    " %s, %s)",
                    [(job.job_id, job.device_id, v.event_id, job.camera, v.rule, v.edge_label, v.verdict,
                      v.central_label, v.central_track, v.agreement, _epoch(v.started_at)) for v in verdicts])
            if matches:
                await cur.executemany(
                    "INSERT INTO reanalysis_events (job_id, device_id, camera, rule, label, track, start, \"end\","
                    " started_at, max_score, box, missed, matched_event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                    " %s, %s, %s, %s, %s)",
                    [(job.job_id, job.device_id, job.camera, e.rule, e.label, e.track_id, e.start, e.end,
                      _epoch(e.started_at), e.max_score, Jsonb([round(v, 4) for v in e.box]), m.missed,
                      m.matched_event_id) for m in matches for e in [analysis.events[m.index]]])
            if examples:
                await cur.executemany(
                    "INSERT INTO hard_examples (job_id, device_id, camera, taken_at, reason, key, width, height, labels)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [(job.job_id, job.device_id, job.camera, _epoch(clip_start + x.t), x.reason,
                      hard_object_key(job.device_id, job.camera, job.job_id, x.t), x.width, x.height, Jsonb(x.labels))
                     for x in examples])
        await conn.execute("UPDATE reanalysis_jobs SET state = 'done', finished_at = now(), error = NULL,"
                           " attempts = attempts + 1 WHERE job_id = %s", [job.job_id])
    return True

