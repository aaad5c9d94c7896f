"""`vigia bench reanalysis --json`: a backlog of re-analysis jobs through real RabbitMQ, PostgreSQL and an S3
protocol server, with `vigia central worker` processes: one worker with one intra-op thread, one with two, then
two with one thread each, one of them SIGKILLed halfway (and started again, as its supervisor would). Per core,
which is better on this machine: one worker using its cores through ONNX Runtime's threads, or one worker a core.

The footage: the media cut into clips (remuxed at keyframes, each tagged with its start time as an appliance's
clips are). The edge's view of each clip is the appliance's own gated pipeline (`vigia analyze`, one event per
object); those events are the device's at central, each clip uploaded as the clip of its first events (`--jobs`
of them in all, spread over the clips, so two workers have a backlog to share, not three big jobs).
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import boto3
import psycopg
from psycopg_pool import AsyncConnectionPool

from vigia.app.bench.common import default_media, default_model, open_default_detector
from vigia.app.devstack import free_port, rabbitmq_node, temporary_database
from vigia.appliance.analyze import analyze
from vigia.appliance.config import Camera
from vigia.appliance.outbox import Pending, event_record
from vigia.central.ingest.batches import Ingest, prepare_connection
from vigia.central.ingest.enrolment import DeviceIdentity, enrol_device
from vigia.central.ingest.media import RECORD_OBJECT
from vigia.central.migrations import migrate
from vigia.central.reanalysis.analysis import MIN_TRACK_S
from vigia.central.reanalysis.jobs import clip_arrived, request
from vigia.scene.events import Event
from vigia.sync.protocol import MediaRequest, decode_batch, encode_batch, object_key

DEVICE, CAMERA, SERIAL = "bench-device", "demo", 0xBE7C
KEPT = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
S3_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "vigia-bench"
START_TAG = "vigia_start"  # as vigia.appliance.recording.clips writes it


@dataclass
class Clip:
    path: Path
    start: float       # wall clock of its first frame
    events: list[Event]
    edge_tracks: int   # tracks of at least MIN_TRACK_S the appliance's pipeline reports on it
    jobs: int = 1      # its first events that get a job of their own (each over this clip)

    @property
    def job_events(self) -> list[Event]:
        return self.events[:self.jobs]


def cut_clips(media: Path, folder: Path, count: int, seconds: float, wall: float) -> list[tuple[Path, float]]:
    """Up to `count` clips of about `seconds` each (cut at keyframes, no re-encoding), tagged with their start."""
    clips: list[tuple[Path, float]] = []
    with av.open(str(media)) as source:
        stream = source.streams.video[0]
        out = None
        first = None
        for packet in source.demux(stream):
            if packet.dts is None:
                continue
            t = float(packet.pts * stream.time_base) if packet.pts is not None else 0.0
            if packet.is_keyframe and (out is None or t - first >= seconds):
                if out is not None:
                    out[0].close()
                    if len(clips) == count:
                        return clips
                path = folder / f"clip-{len(clips):03d}.mp4"
                container = av.open(str(path), "w", format="mp4", container_options={"movflags": "+faststart+use_metadata_tags"})
                container.metadata[START_TAG] = f"{wall + t:.6f}"
                target = container.add_stream_from_template(stream)
                out, first = (container, target, packet.dts), t
                clips.append((path, wall + t))
            if out is None:
                continue
            packet.dts -= out[2]
            packet.pts = None if packet.pts is None else packet.pts - out[2]
            packet.stream = out[1]
            out[0].mux(packet)
        if out is not None:
            out[0].close()
    return clips


def edge_view(path: Path, start: float, detector) -> tuple[list[Event], int]:
    """The appliance's events on the clip (its wall clock from `start`) and its tracks of at least MIN_TRACK_S."""
    camera = Camera(name=CAMERA, url=str(path), realtime=False)
    result = analyze(path, camera, detector, KEPT, skip_nonreference=True)
    events = {}
    for change in result.events:
        event = change.event
        events[event.id] = event
    fixed = []
    for event in events.values():
        event.started_at = start + event.start
        event.ended_at = None if event.end is None else start + event.end
        fixed.append(event)
    return fixed, sum(t.last_seen - t.first_seen >= MIN_TRACK_S for t in result.tracks)


async def seed(dsn: str, clips: list[Clip], s3, bucket: str) -> None:
    """The device enrolled, its events ingested (a batch as the device sends it), each clip in the bucket."""
    async with AsyncConnectionPool(dsn, min_size=1, max_size=2, configure=prepare_connection, open=False) as pool, \
            pool.connection() as conn:
        await conn.set_autocommit(True)
        await migrate(conn)
        await enrol_device(conn, DEVICE, SERIAL, DeviceIdentity(DEVICE, DEVICE))
        records = [event_record(e.to_row()) for clip in clips for e in clip.events]
        pending = [Pending(i + 1, "event", r.key, json.dumps(r.body)) for i, r in enumerate(records)]
        batch = decode_batch(encode_batch(DEVICE, pending), "application/json", "gzip")
        await Ingest(pool).apply(DEVICE, SERIAL, batch)
        for clip in clips:
            data = clip.path.read_bytes()
            for event in clip.job_events:
                media = MediaRequest(kind="clip", event_id=event.id, size=len(data),
                                     sha256=hashlib.sha256(data).hexdigest())
                key = object_key(DEVICE, media)
                s3.put_object(Bucket=bucket, Key=key, Body=data)
                async with conn.transaction():
                    await conn.execute(RECORD_OBJECT, [DEVICE, key, "clip", media.event_id, media.size, media.sha256])
                    await clip_arrived(conn, DEVICE, media.event_id, key)


async def request_all(dsn: str, clips: list[Clip]) -> list[str]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        jobs = []
        for clip in clips:
            for event in clip.job_events:
                jobs += await request(conn, "bench", DEVICE, event_id=event.id)  # the workers find the clip
        return jobs


def spread_jobs(clips: list[Clip], jobs: int) -> None:
    """`jobs` jobs over the clips, one event of each clip in turn (at most as many as a clip has events)."""
    for clip in clips:
        clip.jobs = 0
    while sum(c.jobs for c in clips) < jobs and any(c.jobs < len(c.events) for c in clips):
        for clip in clips:
            if clip.jobs < len(clip.events) and sum(c.jobs for c in clips) < jobs:
                clip.jobs += 1


def start_worker(dsn: str, endpoint: str, broker: str, model: Path, log: Path, threads: int = 1) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vigia.app.cli.main", "central", "worker", "--database", dsn, "--bucket", BUCKET,
         "--s3-endpoint", endpoint, "--broker", broker, "--model", str(model), "--threads", str(threads)],
        env={**os.environ, **S3_ENV}, stdout=subprocess.DEVNULL, stderr=log.open("ab"))


def busy(log: Path, jobs: list[str]) -> bool:
    """Whether the worker logging to `log` is in the middle of one of `jobs`."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if "vigia.central.reanalysis.worker: job" in line]
    return bool(lines) and "analysing" in lines[-1] and any(job in lines[-1] for job in jobs)


def wait_done(dsn: str, jobs: list[str], timeout: float, on_progress=None) -> float:
    """Seconds until every job is done (TimeoutError after `timeout`)."""
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            done = conn.execute("SELECT count(*) FROM reanalysis_jobs WHERE job_id = ANY(%s::uuid[]) AND state = 'done'",
                                [jobs]).fetchone()[0]
            if on_progress is not None:
                on_progress(done)
            if done == len(jobs):
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{done} of {len(jobs)} jobs done after {timeout} s")
            time.sleep(0.5)


def run(args) -> int:
    media = (args.media or default_media()).resolve()
    model = (args.model or default_model()).resolve()
    os.environ.update(S3_ENV)
    from moto.server import ThreadedMotoServer

    with tempfile.TemporaryDirectory(prefix="vigia-bench-reanalysis-") as folder_name, \
            temporary_database() as dsn, rabbitmq_node(Path(folder_name) / "rabbitmq") as rabbit:
        folder = Path(folder_name)
        port = free_port()
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        moto.start()
        try:
            endpoint = f"http://127.0.0.1:{port}"
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            wall = time.time() - 3600
            detector = open_default_detector(model)
            try:
                clips = []
                for path, start in cut_clips(media, folder, args.jobs, args.clip_seconds, wall):
                    events, tracks = edge_view(path, start, detector)
                    if events:
                        clips.append(Clip(path, start, events, tracks))
            finally:
                detector.close()
            spread_jobs(clips, args.jobs)
            asyncio.run(seed(dsn, clips, s3, BUCKET))
            logs = [folder / f"worker-{i}.log" for i in range(5)]

            first = asyncio.run(request_all(dsn, clips))
            one_s = run_one(dsn, first, start_worker(dsn, endpoint, rabbit.url, model, logs[0]), args.timeout)
            threaded = asyncio.run(request_all(dsn, clips))
            threaded_s = run_one(dsn, threaded, start_worker(dsn, endpoint, rabbit.url, model, logs[4], threads=2),
                                 args.timeout)

            second = asyncio.run(request_all(dsn, clips))
            workers = [start_worker(dsn, endpoint, rabbit.url, model, logs[i]) for i in (1, 2)]
            killed = []

            def kill_halfway(done: int) -> None:
                """Once half the jobs are done, the first worker dies in the middle of its next one."""
                if not killed and done >= len(second) // 2 and busy(logs[1], second):
                    workers[0].kill()
                    workers[0].wait()
                    killed.append(done)
                    workers.append(start_worker(dsn, endpoint, rabbit.url, model, logs[3]))

            try:
                two_s = wait_done(dsn, second, args.timeout, kill_halfway)
            finally:
                for w in workers:
                    if w.poll() is None:
                        w.terminate()
                        w.wait(30)
            print(json.dumps(summary(dsn, clips, Runs(first, threaded, second, one_s, threaded_s, two_s), killed, logs),
                             indent=2))
        finally:
            moto.stop()
    return 0


def run_one(dsn: str, jobs: list[str], worker: subprocess.Popen, timeout: float) -> float:
    """Seconds one worker takes to do `jobs`."""
    try:
        return wait_done(dsn, jobs, timeout)
    finally:
        worker.terminate()
        worker.wait(30)


@dataclass
class Runs:
    """The jobs of each run and its seconds: one worker x 1 thread, one worker x 2 threads, two workers x 1."""
    first: list[str]
    threaded: list[str]
    second: list[str]
    one_s: float
    threaded_s: float
    two_s: float


def redelivered(logs: list[Path], jobs: list[str]) -> int:
    """Jobs a worker started more than once (the killed worker's, taken up by another)."""
    text = "".join(log.read_text(errors="replace") for log in logs)
    return sum(text.count(f"job {job}: analysing") > 1 for job in jobs)


def summary(dsn: str, clips: list[Clip], runs: Runs, killed: list[int], logs: list[Path]) -> dict:
    first, second, one_s, two_s = runs.first, runs.second, runs.one_s, runs.two_s
    with psycopg.connect(dsn, autocommit=True) as conn:
        def one(sql, params=()):
            return conn.execute(sql, params).fetchone()

        jobs = first + runs.threaded + second
        lost = one("SELECT count(*) FROM reanalysis_jobs WHERE job_id = ANY(%s::uuid[]) AND state <> 'done'", [jobs])[0]
        results = one("SELECT count(*), count(DISTINCT job_id) FROM reanalysis_results WHERE job_id = ANY(%s::uuid[])",
                      [jobs])
        frames_1 = one("SELECT sum(frames) FROM reanalysis_results WHERE job_id = ANY(%s::uuid[])", [first])[0]
        frames_2 = one("SELECT sum(frames) FROM reanalysis_results WHERE job_id = ANY(%s::uuid[])", [second])[0]
        frames_t = one("SELECT sum(frames) FROM reanalysis_results WHERE job_id = ANY(%s::uuid[])", [runs.threaded])[0]
        share = one("SELECT sum(detector_share * cpu_s) / sum(cpu_s) FROM reanalysis_results WHERE job_id = ANY(%s::uuid[])",
                    [first])[0]
        # the media's findings once: the first run's job over each clip's first event
        per_clip = [row[0] for row in conn.execute(
            "SELECT job_id FROM reanalysis_jobs WHERE job_id = ANY(%s::uuid[]) AND event_id = ANY(%s)",
            [first, [c.events[0].id for c in clips if c.jobs]]).fetchall()]
        central_tracks = one("SELECT count(*) FROM reanalysis_tracks WHERE job_id = ANY(%s::uuid[])"
                             " AND last_seen - first_seen >= %s", [per_clip, MIN_TRACK_S])[0]
        verdicts = dict(conn.execute("SELECT verdict, count(*) FROM reanalysis_verdicts WHERE job_id = ANY(%s::uuid[])"
                                     " GROUP BY verdict", [per_clip]).fetchall())
        missed = one("SELECT count(*) FROM reanalysis_events WHERE job_id = ANY(%s::uuid[]) AND missed", [per_clip])[0]
    judged = sum(verdicts.values())
    return {
        "jobs": len(jobs), "lost": lost, "duplicated": results[0] - results[1],
        "redelivered_after_kill": redelivered([log for log in logs if log.exists()], second),
        "threads_per_worker": 1,
        "frames_per_s_1_worker": round(frames_1 / one_s, 2),
        "frames_per_s_1_worker_2_threads": round(frames_t / runs.threaded_s, 2),
        "frames_per_s_2_workers": round(frames_2 / two_s, 2),
        "jobs_per_s_1_worker": round(len(first) / one_s, 4),
        "scaling_2_workers": round((frames_2 / two_s) / (frames_1 / one_s), 3),
        "killed_after_jobs_done": killed[0] if killed else None,
        "detector_share": round(share, 3),
        "clips": len(clips), "jobs_per_run": len(first), "run_frames": frames_1,
        "edge_tracks": sum(c.edge_tracks for c in clips if c.jobs), "central_tracks": central_tracks,
        "edge_events": sum(len(c.events) for c in clips), "verdicts": verdicts,
        "confirmed_ratio": round(verdicts.get("confirmed", 0) / judged, 3) if judged else None,
        "missed_by_edge": missed,
        "method": "clips remuxed from the media at keyframes; edge = the appliance's gated pipeline on each clip "
                  "(one event per object); central = every frame, whole frame + tiles at the model's input size, "
                  "each mirrored too, weighted box fusion, tracker; tracks count from 1 s; each clip is the clip of "
                  "several of its events, a job each; runs: 1 worker x 1 intra-op thread, 1 worker x 2 threads, "
                  "2 workers x 1 thread with one SIGKILLed once half the jobs are done and started again",
    }
