"""Central re-analysis against real parts: RabbitMQ (a node of the test's own, so it can be restarted),
PostgreSQL, an S3 protocol server, `vigia central worker` processes, clips of the demo camera with the
appliance's own events on them."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import aio_pika
import numpy as np
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from psycopg_pool import AsyncConnectionPool
from support.waiting import wait_for

from tests.support.s3 import moto_s3
from vigia.app.bench.common import open_default_detector
from vigia.app.bench.reanalysis import BUCKET, DEVICE, S3_ENV, Clip, cut_clips, edge_view, seed
from vigia.app.devstack import free_port, rabbitmq_node, temporary_database
from vigia.appliance.outbox import Pending, event_record
from vigia.central.ingest.batches import Ingest, prepare_connection
from vigia.central.ingest.enrolment import DeviceIdentity, enrol_device
from vigia.central.ingest.media import RECORD_OBJECT
from vigia.central.migrations import migrate
from vigia.central.reanalysis import broker, jobs
from vigia.central.reanalysis.analysis import ClipAnalysis, analyse_clip
from vigia.central.reanalysis.policy import Policy, choose
from vigia.central.reanalysis.results import DEFAULT_CLASSES
from vigia.central.reanalysis.views import ViewSettings, fuse
from vigia.inference.onnx_backend import OnnxDetector
from vigia.inference.pool import PooledDetector
from vigia.inference.tiles import View, in_frame, regions
from vigia.inference.types import Detections
from vigia.scene.events import Event, new_event_id
from vigia.scene.layout import CameraLayout
from vigia.sync.protocol import decode_batch, encode_batch

T0 = 1_780_000_000.0


# -- the pieces, alone ------------------------------------------------------------------------------------------

def test_tiles_at_the_model_size_cover_the_frame_after_the_whole_frame():
    found = regions((1280, 720), (416, 416))
    assert found[0] == (0, 0, 1280, 720)
    tiles = found[1:]
    assert {(x2 - x1, y2 - y1) for x1, y1, x2, y2 in tiles} == {(416, 416)}
    covered = np.zeros((720, 1280), bool)
    for x1, y1, x2, y2 in tiles:
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    assert regions((416, 416), (416, 416)) == [(0, 0, 416, 416)], "a small frame is its own tile"


def test_mirrored_boxes_come_back_to_the_frame_and_cut_boxes_are_dropped():
    view = View((400, 100, 816, 516), flipped=True)
    # In the mirrored crop a box at x 10..50 is at x 366..406 of the crop, 766..806 of the frame.
    found = Detections(np.array([[10, 20, 50, 80], [0, 30, 40, 90]], np.float32), np.array([0.9, 0.8], np.float32),
                       np.array([0, 0], np.int32))
    back = in_frame(view, found, (1280, 720))
    assert back.boxes.tolist() == [[766.0, 120.0, 806.0, 180.0]], "the second touched the tile's inner right edge"


def test_views_of_one_object_fuse_into_one_box():
    box = Detections(np.array([[100, 100, 200, 300]], np.float32), np.array([0.9], np.float32), np.array([0], np.int32))
    near = Detections(np.array([[104, 98, 204, 302]], np.float32), np.array([0.6], np.float32), np.array([0], np.int32))
    other = Detections(np.array([[600, 100, 700, 300]], np.float32), np.array([0.7], np.float32), np.array([2], np.int32))
    fused = fuse([box, near, other], (1280, 720), ViewSettings())
    assert len(fused) == 2 and sorted(fused.class_ids.tolist()) == [0, 2]
    person = fused.boxes[fused.class_ids == 0][0]
    assert 100 < person[0] < 104 and fused.scores[fused.class_ids == 0][0] == pytest.approx(0.9, abs=1e-3)


KEPT = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]
WHOLE_FRAME = ViewSettings(tiles=False)   # the whole frame and its mirror: two views a frame


def same_tracks(batched: ClipAnalysis, alone: ClipAnalysis) -> None:
    """The same tracks, lives and boxes (to a hundredth of a pixel: a batch's arithmetic may differ in the last bits)."""
    assert batched.frames == alone.frames
    assert [(t.label, t.first_seen, t.last_seen) for t in batched.tracks] == \
        [(t.label, t.first_seen, t.last_seen) for t in alone.tracks]
    for b, a in zip(batched.tracks, alone.tracks):
        assert np.allclose([box for _, box in b.boxes], [box for _, box in a.boxes], atol=0.01)


@pytest.mark.timeout(600)
def test_frames_of_several_clips_batched_on_the_cpu_find_the_same_boxes_as_one_at_a_time(demo_clip, default_model,
                                                                                          tmp_path):
    """The GPU path, run on the CPU execution provider: the model's batch made dynamic, two clips analysed at once,
    their views in shared runs of up to 8 images through one session."""
    clips = [path for path, _ in cut_clips(demo_clip, tmp_path, 2, 2.0, T0)]
    alone = OnnxDetector(default_model, batching=False)
    batching = OnnxDetector(default_model, batching=True, max_batch=8)
    assert batching.providers[0] == "CPUExecutionProvider" and batching.max_batch == 8 and alone.max_batch == 1
    sizes: list[int] = []
    pooled = PooledDetector(batching, 8, lambda images, wall, cpu: sizes.append(images))
    try:
        with ThreadPoolExecutor(len(clips)) as threads:
            batched = list(threads.map(lambda clip: analyse_clip(clip, pooled, CameraLayout(name="demo"), KEPT,
                                                                 WHOLE_FRAME), clips))
        one_at_a_time = [analyse_clip(clip, alone, CameraLayout(name="demo"), KEPT, WHOLE_FRAME) for clip in clips]
    finally:
        pooled.close()
    assert max(sizes) > 2, "a run took the views of both clips' frames (a frame alone has two)"
    assert all(a.tracks for a in one_at_a_time), "people in every clip of the demo"
    for b, a in zip(batched, one_at_a_time):
        same_tracks(b, a)


def test_a_worker_refuses_a_thread_or_batch_count_under_one():
    for flag in ("--threads", "--batch", "--concurrent-jobs", "--local-workers"):
        done = subprocess.run([sys.executable, "-m", "vigia.app.cli.main", "central", "worker", "--bucket", "b", flag, "0"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and f"argument {flag}: '0' is not a whole number of at least 1" in done.stderr


def event(started_at: float, *, alert: bool = False, score: float = 0.9, ended: bool = True, camera: str = "demo") -> Event:
    return Event(id=new_event_id(started_at), camera=camera, rule="object", kind="present", zone=None, label="person",
                 track_id=3, start=1.0, started_at=started_at, max_score=score, box=(0.1, 0.2, 0.3, 0.6), alert=alert,
                 end=2.0 if ended else None, ended_at=started_at + 1.0 if ended else None, path=[(0.0, 0.2, 0.6)])


def test_the_policy_takes_every_alert_the_unsure_and_a_stable_sample():
    from vigia.sync.protocol import EventBody

    def body(e: Event) -> EventBody:
        return decode_batch(encode_batch("d", [Pending(1, "event", e.id, json.dumps(event_record(e.to_row()).body))]),
                            "application/json", "gzip").records[0].body

    policy = Policy(sample=0.05, score_below=0.5)
    assert choose(policy, body(event(T0, alert=True))).reason == "alert"
    assert choose(policy, body(event(T0 + 1, score=0.4))).reason == "low_score"
    assert choose(Policy(alerts=False, sample=0.0, score_below=None), body(event(T0 + 2, alert=True))) is None
    ids = [new_event_id(T0 + i * 0.37) for i in range(20000)]
    from vigia.central.reanalysis.policy import _share

    share = sum(_share(i) < 0.05 for i in ids) / len(ids)
    assert 0.04 < share < 0.06
    assert [_share(i) for i in ids[:50]] == [_share(i) for i in ids[:50]], "the same events everywhere"


# -- PostgreSQL ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dsn():
    with temporary_database() as dsn:
        yield dsn


def on_db(dsn: str, work, policy: Policy | None = None):
    async def main():
        async with AsyncConnectionPool(dsn, min_size=1, max_size=2, configure=prepare_connection, open=False) as pool, \
                pool.connection() as conn:
            await conn.set_autocommit(True)
            await migrate(conn)
            return await work(Ingest(pool, reanalysis=policy), conn)
    return asyncio.run(main())


def batch(device: str, events: list[Event], first_seq: int = 1):
    pending = [Pending(first_seq + i, "event", e.id, json.dumps(event_record(e.to_row()).body)) for i, e in enumerate(events)]
    return decode_batch(encode_batch(device, pending), "application/json", "gzip")


def rows(dsn: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def test_the_policy_makes_jobs_in_the_batch_transaction_once_per_event(dsn):
    alert, calm = event(T0, alert=True, ended=False), event(T0 + 5)

    async def work(ingest, conn):
        await enrol_device(conn, "dev-p", 0x1, DeviceIdentity("dev-p", "dev-p"))
        await ingest.apply("dev-p", 0x1, batch("dev-p", [alert, calm]))
        alert.end, alert.ended_at = 3.0, T0 + 3   # the alert's closed version, in a later batch
        await ingest.apply("dev-p", 0x1, batch("dev-p", [alert], first_seq=3))

    on_db(dsn, work, Policy(sample=0.0, score_below=None))
    assert rows(dsn, "SELECT event_id, reason, priority, state FROM reanalysis_jobs WHERE device_id = 'dev-p'") == [
        (alert.id, "alert", "alert", "waiting_clip")]


def test_dispatch_asks_the_device_for_the_clip_and_publishes_when_it_arrives(dsn):
    ended, ongoing = event(T0 + 100), event(T0 + 200, ended=False)
    published = []

    async def publish(job):
        published.append(job)

    async def work(ingest, conn):
        await enrol_device(conn, "dev-d", 0x2, DeviceIdentity("dev-d", "dev-d"))
        await ingest.apply("dev-d", 0x2, batch("dev-d", [ended, ongoing]))
        await jobs.request(conn, "test", "dev-d", event_id=ended.id)
        await jobs.request(conn, "test", "dev-d", event_id=ongoing.id)
        first = await jobs.dispatch(conn, publish)
        again = await jobs.dispatch(conn, publish)   # asked once, not at every pass
        key = f"devices/dev-d/clips/{ended.id}.mp4"
        async with conn.transaction():
            await conn.execute(RECORD_OBJECT, ["dev-d", key, "clip", ended.id, 10, "0" * 64])
            await jobs.clip_arrived(conn, "dev-d", ended.id, key)
        third = await jobs.dispatch(conn, publish)
        return first, again, third

    first, again, third = on_db(dsn, work)
    assert first[1] == 0 and again == (0, 0) and third == (0, 1), "asked once; published once the clip is in"
    assert rows(dsn, "SELECT kind, body->>'event_id', created_by FROM device_commands WHERE device_id = 'dev-d'") == [
        ("upload_clip", ended.id, "reanalysis")]
    assert [(j.event_id, j.clip_key) for j in published] == [(ended.id, f"devices/dev-d/clips/{ended.id}.mp4")]
    assert rows(dsn, "SELECT event_id, state FROM reanalysis_jobs WHERE device_id = 'dev-d' ORDER BY created_at") == [
        (ended.id, "queued"), (ongoing.id, "waiting_clip")]


# -- workers, queues and faults -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fleet(tmp_path_factory, demo_clip, default_model):
    """A migrated database, a bucket, a RabbitMQ node, and three 2-second clips of the demo camera with the
    appliance's events on them (ingested as the device's)."""
    folder = tmp_path_factory.mktemp("reanalysis")
    with temporary_database() as db, moto_s3() as endpoint, rabbitmq_node(folder / "rabbitmq") as rabbit, \
            pytest.MonkeyPatch.context() as env:
        for name, value in S3_ENV.items():
            env.setenv(name, value)
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        detector = open_default_detector(default_model)
        try:
            clips = [Clip(path, start, *edge_view(path, start, detector))
                     for path, start in cut_clips(demo_clip, folder, 3, 2.0, T0)]
        finally:
            detector.close()
        assert all(c.events for c in clips), "the appliance sees people in every clip of the demo"
        asyncio.run(seed(db, clips, s3, BUCKET))
        yield Fleet(db, endpoint, rabbit, s3, clips, folder, default_model)


class Fleet:
    def __init__(self, dsn, endpoint, rabbit, s3, clips, folder, model):
        self.dsn, self.endpoint, self.rabbit, self.s3, self.clips, self.folder, self.model = \
            dsn, endpoint, rabbit, s3, clips, folder, model
        self.log = folder / "workers.log"

    def worker(self, *extra: str, dsn: str | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "vigia.app.cli.main", "central", "worker", "--database", dsn or self.dsn,
             "--bucket", BUCKET, "--s3-endpoint", self.endpoint, "--broker", self.rabbit.url, "--model", str(self.model),
             *extra], env={**os.environ, **S3_ENV}, stdout=subprocess.DEVNULL, stderr=self.log.open("ab"))

    def request(self, event_id: str) -> str:
        async def work():
            async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                return await jobs.request(conn, "test", DEVICE, event_id=event_id)
        (job_id,) = asyncio.run(work())
        return job_id

    def job(self, job_id: str) -> tuple:
        return rows(self.dsn, "SELECT state, error, attempts FROM reanalysis_jobs WHERE job_id = %s", [job_id])[0]

    def finished(self, job_id: str) -> bool:
        return self.job(job_id)[0] in ("done", "failed")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextlib.contextmanager
def running(process: subprocess.Popen):
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


FAST = ("--no-tiles", "--no-flip")   # the fault tests need the queue's behaviour, not central's full analysis


@pytest.mark.timeout(900)  # the full analysis, on a loaded 2-core machine
def test_a_worker_reanalyses_a_clip_and_speaks_of_the_edge_events(fleet):
    clip = fleet.clips[0]
    job_id = fleet.request(clip.events[0].id)
    with running(fleet.worker()):
        assert wait_for(lambda: fleet.finished(job_id), 600), fleet.log_text()[-3000:]
    assert fleet.job(job_id)[0] == "done", fleet.log_text()[-3000:]
    (frames, share), = rows(fleet.dsn, "SELECT frames, detector_share FROM reanalysis_results WHERE job_id = %s", [job_id])
    assert frames >= 40 and 0 < share <= 1
    verdicts = dict(rows(fleet.dsn, "SELECT event_id, verdict FROM reanalysis_verdicts WHERE job_id = %s", [job_id]))
    assert clip.events[0].id in verdicts, "the job's own event is judged"
    assert set(verdicts) <= {e.id for e in clip.events}
    assert "confirmed" in verdicts.values(), verdicts
    tracks = rows(fleet.dsn, "SELECT count(*) FROM reanalysis_tracks WHERE job_id = %s AND last_seen - first_seen >= 1",
                  [job_id])[0][0]
    assert tracks >= clip.edge_tracks, "central, looking at every frame and tile, finds at least what the edge found"


def test_hard_examples_are_kept_with_their_source_and_exported_as_a_coco_dataset(fleet, tmp_path):
    from vigia.central.reanalysis import datasets

    examples = rows(fleet.dsn, "SELECT id, key, device_id, camera, reason, labels, width, height FROM hard_examples")
    assert examples, "the first job kept frames (central is unsure of some detections on every demo clip)"
    for _, key, device, camera, reason, labels, width, height in examples:
        assert (device, camera, (width, height)) == (DEVICE, "demo", (1280, 720))
        assert reason in ("not_confirmed", "label_differs", "missed", "low_confidence")
        body = fleet.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body[:2] == b"\xff\xd8", "a JPEG"
        assert all(0 <= v <= 1 for label in labels for v in label["box"])
    rejected, fixed = examples[0][0], examples[-1][0]

    async def work():
        async with await psycopg.AsyncConnection.connect(fleet.dsn, autocommit=True) as conn:
            first = await datasets.create(conn, "hard", "test")
            await datasets.review(conn, fixed, "fixed", "test", [{"label": "car", "box": [0.1, 0.1, 0.2, 0.3]}])
            if rejected != fixed:
                await datasets.review(conn, rejected, "rejected", "test")
            second = await datasets.create(conn, "hard", "test")
            exported = await datasets.export_coco(conn, fleet.s3, BUCKET, "hard", second[0], tmp_path / "coco")
            with pytest.raises(ValueError, match="no dataset hard@9"):
                await datasets.export_coco(conn, fleet.s3, BUCKET, "hard", 9, tmp_path / "none")
            return first, second, exported

    first, second, exported = asyncio.run(work())
    assert first == (1, len(examples)) and second == (2, len(examples) - (rejected != fixed))
    coco = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    assert len(coco["images"]) == exported["images"] == second[1]
    assert all((tmp_path / "coco" / image["file_name"]).stat().st_size > 0 for image in coco["images"])
    car = next(c["id"] for c in coco["categories"] if c["name"] == "car")
    fixed_boxes = [a for a in coco["annotations"] if a["image_id"] == fixed]
    assert [(a["category_id"], a["bbox"]) for a in fixed_boxes] == [(car, [128.0, 72.0, 128.0, 144.0])], \
        "reviewed labels win over central's"


@pytest.mark.timeout(900)  # the full analysis, on a loaded 2-core machine
def test_a_worker_killed_mid_job_leaves_it_to_another_and_the_result_is_written_once(fleet):
    job_id = fleet.request(fleet.clips[1].events[0].id)
    first = fleet.worker()   # the full analysis: long enough to be killed in the middle
    with running(first):
        assert wait_for(lambda: f"job {job_id}: analysing" in fleet.log_text(), 120), fleet.log_text()[-3000:]
        first.kill()
        first.wait()
    assert fleet.job(job_id)[0] == "queued", "killed before it committed anything"
    with running(fleet.worker(*FAST)):
        assert wait_for(lambda: fleet.finished(job_id), 300), fleet.log_text()[-3000:]
    assert fleet.job(job_id)[0] == "done"
    assert rows(fleet.dsn, "SELECT count(*) FROM reanalysis_results WHERE job_id = %s", [job_id]) == [(1,)]


def dead_letters(url: str) -> list[tuple[dict, dict]]:
    async def get():
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.get_queue(broker.DEAD)
            found = []
            while (message := await queue.get(fail=False)) is not None:
                found.append((json.loads(message.body), dict(message.headers)))
                await message.ack()
            return found
    return asyncio.run(get())


def plant_clip(fleet, event_id: str, data: bytes | None) -> None:
    """A clip for `event_id` recorded at central; `data` None: recorded but not in the bucket."""
    key = f"devices/{DEVICE}/clips/{event_id}.mp4"
    if data is not None:
        fleet.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    with psycopg.connect(fleet.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO events SELECT device_id, %s, seq + 1000, camera, rule, kind, zone, label, track_id,"
                     " start, \"end\", started_at, ended_at, max_score, box, alert, snapshot, path, attributes"
                     " FROM events WHERE device_id = %s LIMIT 1", [event_id, DEVICE])
        conn.execute(RECORD_OBJECT, [DEVICE, key, "clip", event_id, len(data or b""), "0" * 64])


def test_a_corrupt_clip_and_a_missing_object_are_dead_lettered_with_their_errors(fleet):
    corrupt, missing = new_event_id(T0 + 1), new_event_id(T0 + 2)
    plant_clip(fleet, corrupt, b"\x00\x00\x00\x18ftypmp42 this is not a video" * 50)
    plant_clip(fleet, missing, None)
    corrupt_job, missing_job = fleet.request(corrupt), fleet.request(missing)
    with running(fleet.worker(*FAST)):
        assert wait_for(lambda: fleet.finished(corrupt_job) and fleet.finished(missing_job), 180), fleet.log_text()[-3000:]
    state, error, _ = fleet.job(corrupt_job)
    assert state == "failed" and error.startswith("cannot read the clip: ") and "Invalid data" in error, error
    state, error, _ = fleet.job(missing_job)
    assert (state, error) == ("failed", f"the clip devices/{DEVICE}/clips/{missing}.mp4 is not in the bucket {BUCKET}")
    letters = {body["job_id"]: headers for body, headers in dead_letters(fleet.rabbit.url)}
    assert set(letters) == {corrupt_job, missing_job}
    assert "not in the bucket" in letters[missing_job][broker.ERROR_HEADER]


def test_a_worker_reports_its_jobs_and_the_queues_on_its_metrics_port(fleet):
    """`--metrics-port`: the jobs it handled by outcome, and every queue's depth read from RabbitMQ at scrape time."""
    port = free_port()

    def scrape() -> dict:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
                text = reply.read().decode()
        except OSError:
            return {}   # not listening yet
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    with running(fleet.worker(*FAST, "--metrics-port", str(port))):
        queues_declared = ("vigia_reanalysis_queue_messages", (("queue", broker.DEAD),))
        assert wait_for(lambda: queues_declared in scrape(), 120), fleet.log_text()[-3000:]
        dead_letters(fleet.rabbit.url)   # what earlier tests left
        corrupt = new_event_id(T0 + 3)
        plant_clip(fleet, corrupt, b"not a video at all" * 100)
        job_id = fleet.request(corrupt)
        assert wait_for(lambda: fleet.finished(job_id), 180), fleet.log_text()[-3000:]
        exposed = scrape()
    assert exposed[("vigia_reanalysis_worker_jobs_total", (("outcome", "dead"),))] == 1
    assert ("vigia_reanalysis_worker_jobs_total", (("outcome", "done"),)) not in exposed
    depths = {labels[0][1]: value for (name, labels), value in exposed.items() if name == "vigia_reanalysis_queue_messages"}
    assert depths == {broker.queue_name("alert"): 0, broker.queue_name("normal"): 0, broker.retry_name("alert"): 0,
                      broker.retry_name("normal"): 0, broker.DEAD: 1}


class Cuttable:
    """A TCP proxy to PostgreSQL that the test can cut (connections dropped, new ones refused) and mend."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self.open = True
        self._sockets: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self._server.accept()
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open = False
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self._sockets.clear()

    def mend(self) -> None:
        self.open = True


@pytest.mark.timeout(900)  # the full analysis, on a loaded 2-core machine
def test_postgresql_unreachable_jobs_wait_and_are_retried_none_lost(fleet):
    proxy = Cuttable(("127.0.0.1", 5432))
    dsn = psycopg.conninfo.make_conninfo(fleet.dsn, host="127.0.0.1", port=proxy.port)
    job_id = fleet.request(fleet.clips[2].events[0].id)
    with running(fleet.worker(dsn=dsn)):   # full analysis: PostgreSQL goes while it works
        assert wait_for(lambda: f"job {job_id}: analysing" in fleet.log_text(), 120), fleet.log_text()[-3000:]
        proxy.cut()
        assert wait_for(lambda: f"job {job_id}: " in fleet.log_text().split(f"job {job_id}: analysing")[-1]
                        and "(attempt 1)" in fleet.log_text().split(f"job {job_id}: analysing")[-1], 600), \
            fleet.log_text()[-3000:]
        proxy.mend()
        assert wait_for(lambda: fleet.finished(job_id), 600), fleet.log_text()[-3000:]
    state, _, attempts = fleet.job(job_id)
    assert state == "done" and attempts == 1, "retried through the retry queue, then done once"
    assert rows(fleet.dsn, "SELECT count(*) FROM reanalysis_results WHERE job_id = %s", [job_id]) == [(1,)]


@pytest.mark.timeout(900)
def test_rabbitmq_restarted_under_load_loses_no_job(fleet):
    job_ids = [fleet.request(c.events[0].id) for c in fleet.clips]
    with running(fleet.worker(*FAST)):
        assert wait_for(lambda: any(f"job {j}: analysing" in fleet.log_text() for j in job_ids), 120), \
            fleet.log_text()[-3000:]
        fleet.rabbit.stop()
        waiting = [j for j in job_ids if fleet.job(j)[0] != "done"]
        fleet.rabbit.start()
        assert waiting, "the broker went while jobs were still to do"
        assert wait_for(lambda: all(fleet.finished(j) for j in job_ids), 600), fleet.log_text()[-3000:]
    assert [fleet.job(j)[0] for j in job_ids] == ["done"] * 3
    assert rows(fleet.dsn, "SELECT count(*) FROM reanalysis_results WHERE job_id = ANY(%s::uuid[])", [job_ids]) == [(3,)]


@pytest.mark.timeout(900)
def test_a_batching_worker_takes_several_jobs_at_once_and_finds_what_one_at_a_time_finds(fleet):
    """`--batch 8 --concurrent-jobs 2` on the CPU execution provider: two jobs prefetched and analysed together,
    their frames' views in shared detector runs (the GPU path), each result as a lone analysis of its clip."""
    port = free_port()

    def batch_sizes() -> dict[float, float]:
        """The worker's batch histogram, `le` bound: runs; empty before it listens."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
                text = reply.read().decode()
        except OSError:
            return {}
        return {float(s.labels["le"]): s.value for family in text_string_to_metric_families(text)
                for s in family.samples if s.name == "vigia_reanalysis_detector_batch_images_bucket"}

    clips = fleet.clips[:2]
    job_ids = [fleet.request(c.events[0].id) for c in clips]
    with running(fleet.worker("--no-tiles", "--batch", "8", "--concurrent-jobs", "2", "--metrics-port", str(port))):
        assert wait_for(lambda: all(fleet.finished(j) for j in job_ids), 600), fleet.log_text()[-3000:]
        runs = batch_sizes()
    assert [fleet.job(j)[0] for j in job_ids] == ["done", "done"]
    assert runs[2.0] < runs[float("inf")], f"runs of more than one frame's two views, from both jobs: {runs}"
    alone = OnnxDetector(fleet.model, batching=False)
    for clip, job_id in zip(clips, job_ids):
        expected = analyse_clip(clip.path, alone, CameraLayout(name="demo"), DEFAULT_CLASSES, WHOLE_FRAME)
        stored = rows(fleet.dsn, "SELECT label, first_seen, last_seen, best_box FROM reanalysis_tracks"
                                 " WHERE job_id = %s ORDER BY track", [job_id])
        assert expected.tracks and [label for label, *_ in stored] == [t.label for t in expected.tracks]
        assert np.allclose([(first, last) for _, first, last, _ in stored],
                           [(t.first_seen, t.last_seen) for t in expected.tracks], atol=1e-3)
        width, height = expected.frame_size   # stored as shares of the frame, to 4 decimals
        assert np.allclose([box for *_, box in stored],
                           [np.divide(t.best_box, (width, height, width, height)) for t in expected.tracks], atol=2e-4)
